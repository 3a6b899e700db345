"""Settings come from KIZUNA_* variables; every bad value is reported, clearly, at once."""

from pathlib import Path

import pytest

from api.settings import Environment, Settings, SettingsError


def test_defaults_suit_local_development() -> None:
    settings = Settings.from_env({})
    assert settings.env is Environment.DEVELOPMENT
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.mongodb_uri is None  # the embedded database
    assert settings.data_dir == Path(".kizuna")


def test_values_are_read_and_converted() -> None:
    settings = Settings.from_env(
        {"KIZUNA_PORT": "9000", "KIZUNA_ENV": "TEST", "KIZUNA_GRAPHQL_MAX_DEPTH": "7",
         "KIZUNA_MONGODB_URI": "mongodb://db:27017/?replicaSet=rs0"}
    )
    assert settings.port == 9000
    assert settings.env is Environment.TEST
    assert settings.graphql.max_depth == 7
    assert settings.mongodb_uri == "mongodb://db:27017/?replicaSet=rs0"


def test_every_bad_value_is_reported_with_its_variable_name() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {"KIZUNA_PORT": "eighty", "KIZUNA_ENV": "staging", "KIZUNA_GRAPHQL_MAX_DEPTH": "0",
             "KIZUNA_MONGODB_URI": "postgres://user:secret@db"}
        )
    problems = caught.value.problems
    assert len(problems) == 4
    assert any(p.startswith("KIZUNA_PORT='eighty': expected a whole number") for p in problems)
    assert any("KIZUNA_ENV" in p and "development, test, production" in p for p in problems)
    assert any("KIZUNA_GRAPHQL_MAX_DEPTH=0: expected a number from 2" in p for p in problems)
    uri_problem = next(p for p in problems if p.startswith("KIZUNA_MONGODB_URI"))
    assert "secret" not in uri_problem  # credentials in a URI are never echoed


def test_production_requires_a_real_database_and_a_configured_signing_key() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"KIZUNA_ENV": "production"})
    names = {p.split(":")[0] for p in caught.value.problems}
    assert names == {"KIZUNA_JWT_SIGNING_KEY", "KIZUNA_MONGODB_URI"}


def test_argon2_cost_cannot_be_set_below_a_safe_floor() -> None:
    with pytest.raises(SettingsError, match="KIZUNA_PASSWORD_MEMORY_KIB"):
        Settings.from_env({"KIZUNA_PASSWORD_MEMORY_KIB": "1024"})
