"""The persisted-operation settings: defaults (APQ on, allow-list off, administrators and
GraphiQL exempt), values read, and bad values reported with the variable's name."""

import pytest

from api.settings import Settings, SettingsError, TrustedDocuments, TrustedExemption


def test_defaults_register_queries_and_trust_everything() -> None:
    persisted = Settings.from_env({}).persisted
    assert persisted.trusted_documents is TrustedDocuments.OFF
    assert persisted.exempt == {TrustedExemption.ADMIN, TrustedExemption.GRAPHIQL}
    assert persisted.apq is True
    assert (persisted.apq_max_operations, persisted.apq_max_per_client,
            persisted.apq_retention_days, persisted.public_cache_seconds) == (10_000, 200, 30, 0)


def test_values_are_read() -> None:
    persisted = Settings.from_env({
        "KIZUNA_TRUSTED_DOCUMENTS": "Allow-List", "KIZUNA_TRUSTED_DOCUMENTS_EXEMPT": "none",
        "KIZUNA_APQ": "off", "KIZUNA_APQ_MAX_OPERATIONS": "0",
        "KIZUNA_PUBLIC_CACHE_SECONDS": "60",
    }).persisted
    assert persisted.trusted_documents is TrustedDocuments.ALLOW_LIST
    assert persisted.exempt == frozenset()
    assert (persisted.apq, persisted.apq_max_operations, persisted.public_cache_seconds) == (
        False, 0, 60)


def test_bad_values_are_reported_by_name() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"KIZUNA_TRUSTED_DOCUMENTS": "strict",
                           "KIZUNA_TRUSTED_DOCUMENTS_EXEMPT": "admin,staff",
                           "KIZUNA_APQ_MAX_PER_CLIENT": "0"})
    problems = caught.value.problems
    assert len(problems) == 3
    assert any(p.startswith("KIZUNA_TRUSTED_DOCUMENTS='strict'") and "allow-list" in p
               for p in problems)
    assert any(p.startswith("KIZUNA_TRUSTED_DOCUMENTS_EXEMPT=") and "admin, graphiql" in p
               for p in problems)
    assert any(p.startswith("KIZUNA_APQ_MAX_PER_CLIENT=0") for p in problems)
