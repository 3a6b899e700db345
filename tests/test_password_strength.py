"""New passwords are judged by zxcvbn (auth/password_strength.py): guessable ones are refused
with WEAK_PASSWORD and a message saying why, and nothing is written; the score needed is a
setting; long and hostile inputs cost little CPU."""

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from auth.password_strength import ESTIMATE_MAX_CHARS, estimate, estimated_length
from store import connect
from tests.account_support import PASSWORD_CHANGE
from tests.support import DEFAULT_PASSWORD, GraphQLClient

EMAIL = "mariko.tanaka@example.com"
NAME = "Mariko Tanaka"
REGISTER = """mutation($input: AccountRegisterInput!) { accountRegister(input: $input) {
  member { id } errors { code message field } } }"""
BASE_URL = "http://kizuna.test"
SCORE_THREE = "summer2026!!"  # zxcvbn: 3, neither more nor less


async def _register(gql: GraphQLClient, password: str) -> dict[str, Any]:
    data = await gql.data(REGISTER, {"input": {"email": EMAIL, "password": password,
                                               "name": NAME}})
    payload: dict[str, Any] = data["accountRegister"]
    return payload


async def _accounts(gql: GraphQLClient) -> int:
    return await gql.state.services.store.collection("accounts").count_documents({})


@pytest.mark.parametrize(("password", "reason"), [
    ("password1234", "This is a very common password."),
    ("iloveyou2026", "This is similar to a commonly used password."),
    ("1qaz2wsx3edc", "This is a very common password."),  # a keyboard walk, down the columns
    ("qwertyuiop[]", "Straight rows of keys are easy to guess."),
    ("asdfghjkl;123", "Straight rows of keys are easy to guess."),
    ("mariko.tanaka1", "Add another word or two."),  # the email's name
    ("Tanaka1984!", "Add another word or two."),  # the member's surname and a year
    ("kizuna123456", "Add another word or two."),  # the service's own name
])
async def test_a_guessable_password_is_refused_with_the_reason_and_nothing_is_written(
    gql: GraphQLClient, password: str, reason: str,
) -> None:
    payload = await _register(gql, password)

    assert payload["member"] is None
    [error] = payload["errors"]
    assert error["code"] == "WEAK_PASSWORD"
    assert error["field"] == ["input", "password"]
    assert error["message"].startswith("This password is too easy to guess. ")
    assert reason in error["message"]
    assert await _accounts(gql) == 0


@pytest.mark.parametrize("password", [
    "lime green ledger",
    "velvet anchor piano",
    "Blue42Sky!x",
    "V8#qk2!Lm@9z{Rt",  # a password manager's, full of l33t characters
    "correct horse battery staple " * 4,  # 116 characters: zxcvbn alone refuses over 72
])
async def test_a_strong_password_is_accepted_and_signs_in(
    gql: GraphQLClient, password: str
) -> None:
    payload = await _register(gql, password)

    assert payload["errors"] == []
    tokens = await gql.sign_in(EMAIL, password)
    assert tokens["errors"] == []


async def test_the_length_limits_still_apply(gql: GraphQLClient) -> None:
    short = await _register(gql, "Zq9!xw")
    long = await _register(gql, "velvet anchor piano " * 7)  # 140 characters

    assert short["errors"][0]["message"] == "Use at least 10 characters for your password."
    assert long["errors"][0]["message"] == "Use at most 128 characters for your password."
    assert await _accounts(gql) == 0


async def test_a_new_password_with_the_members_name_is_refused_and_the_old_one_kept(
    gql: GraphQLClient,
) -> None:
    await gql.register(email=EMAIL, name=NAME)
    tokens = await gql.sign_in(EMAIL)

    changed = (await gql.data(PASSWORD_CHANGE, {"input": {
        "currentPassword": DEFAULT_PASSWORD, "newPassword": "MarikoTanaka1"}},
        token=tokens["accessToken"]))["accountPasswordChange"]

    assert changed["errors"] == [{"code": "WEAK_PASSWORD", "field": ["input", "newPassword"]}]
    assert (await gql.sign_in(EMAIL))["errors"] == []  # the old password still works


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The app with KIZUNA_PASSWORD_MIN_SCORE=4."""
    strict_settings = dataclasses.replace(
        settings, password_min_score=4, database=f"test_{uuid.uuid4().hex[:16]}"
    )
    application = create_app(strict_settings)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                yield GraphQLClient(http, application.state.kizuna)
    finally:
        store = connect(strict_settings.mongodb_uri or "", strict_settings.database)
        try:
            await store.client.drop_database(strict_settings.database)
        finally:
            await store.close()


async def test_the_score_needed_is_a_setting(gql: GraphQLClient, strict: GraphQLClient) -> None:
    assert estimate(SCORE_THREE).score == 3

    refused = await _register(strict, SCORE_THREE)
    accepted = await _register(gql, SCORE_THREE)

    assert [error["code"] for error in refused["errors"]] == ["WEAK_PASSWORD"]
    assert await _accounts(strict) == 0
    assert accepted["errors"] == []
    assert await _accounts(gql) == 1


@pytest.mark.parametrize("password", [
    "!$%(+0123456789<@[{|" * 6,  # every l33t character: zxcvbn alone takes seconds
    "19841985198619871988" * 6,
    "V8#qk2!Lm@9z{Rt|7$5%" * 6,
])
def test_hostile_passwords_cost_little_cpu(password: str) -> None:
    started = time.process_time()
    estimate(password)
    spent = time.process_time() - started

    assert estimated_length(password) <= ESTIMATE_MAX_CHARS
    assert spent < 0.25, spent  # about 0.03 s on one core; zxcvbn alone: over 1 s


def test_prefixes_are_read_for_many_l33t_readings_only() -> None:
    assert estimated_length("correct horse battery staple " * 4) == ESTIMATE_MAX_CHARS
    assert estimated_length("!$%(+0123456789<@[{|" * 6) < 20
    assert estimated_length("lime green ledger") == len("lime green ledger")
