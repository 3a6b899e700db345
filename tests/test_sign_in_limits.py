"""Password guessing is rate-limited per account and per client address."""

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.settings import Settings
from tests.support import (
    DEFAULT_PASSWORD,
    GraphQLClient,
    ManualClock,
    manual_clock_ahead_of_wall_clock,
)

WRONG = "not the password at all"


@pytest.fixture
def clock() -> ManualClock:
    # Attempt counters expire by TTL on the database's wall clock.
    return manual_clock_ahead_of_wall_clock()


def _codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


async def _fail(gql: GraphQLClient, email: str, times: int) -> None:
    for _ in range(times):
        assert _codes(await gql.sign_in(email, WRONG)) == ["INVALID_CREDENTIALS"]


async def test_sixth_attempt_is_rate_limited_even_with_the_right_password(
    gql: GraphQLClient, settings: Settings
) -> None:
    assert settings.login_max_attempts_per_account == 5
    await gql.member()
    await _fail(gql, "ann@example.com", 5)

    blocked = await gql.sign_in("ann@example.com", DEFAULT_PASSWORD)
    assert _codes(blocked) == ["RATE_LIMITED"]
    assert blocked["accessToken"] is None and blocked["refreshToken"] is None
    retry_after = blocked["errors"][0]["retryAfterSeconds"]
    assert 0 < retry_after <= settings.login_window_seconds


async def test_account_limit_ignores_how_the_email_is_written(gql: GraphQLClient) -> None:
    await gql.member()
    for spelling in ("ann@example.com", "ANN@example.com", " Ann@Example.com", "ann@EXAMPLE.COM",
                     "ann@example.com "):
        assert _codes(await gql.sign_in(spelling, WRONG)) == ["INVALID_CREDENTIALS"]
    assert _codes(await gql.sign_in("ann@example.com")) == ["RATE_LIMITED"]


async def test_right_password_works_again_after_the_window(
    gql: GraphQLClient, clock: ManualClock
) -> None:
    await gql.member()
    await _fail(gql, "ann@example.com", 5)
    assert _codes(await gql.sign_in("ann@example.com")) == ["RATE_LIMITED"]

    clock.advance(minutes=15)
    signed_in = await gql.sign_in("ann@example.com")
    assert signed_in["errors"] == []
    me = await gql.data("{ me { email } }", token=signed_in["accessToken"])
    assert me["me"]["email"] == "ann@example.com"


async def test_retry_after_counts_down_to_the_end_of_the_window(
    gql: GraphQLClient, clock: ManualClock
) -> None:
    await gql.member()
    await _fail(gql, "ann@example.com", 5)
    first = (await gql.sign_in("ann@example.com"))["errors"][0]["retryAfterSeconds"]
    clock.advance(minutes=10)
    later = (await gql.sign_in("ann@example.com"))["errors"][0]["retryAfterSeconds"]
    assert later == first - 600
    clock.advance(seconds=later)
    assert (await gql.sign_in("ann@example.com"))["errors"] == []


async def test_limit_on_one_account_leaves_other_accounts_alone(gql: GraphQLClient) -> None:
    await gql.member()
    await gql.register(email="bob@example.com", name="Bob")
    await _fail(gql, "ann@example.com", 5)
    assert _codes(await gql.sign_in("ann@example.com")) == ["RATE_LIMITED"]
    assert (await gql.sign_in("bob@example.com"))["errors"] == []


async def test_successful_sign_ins_do_not_count(gql: GraphQLClient) -> None:
    await gql.member()
    for _ in range(10):
        assert (await gql.sign_in("ann@example.com"))["errors"] == []
    # Neither do they use up room for mistakes: four failures are still allowed.
    await _fail(gql, "ann@example.com", 4)
    assert (await gql.sign_in("ann@example.com"))["errors"] == []


async def test_unknown_email_is_limited_like_a_real_account(gql: GraphQLClient) -> None:
    await _fail(gql, "nobody@example.com", 5)
    assert _codes(await gql.sign_in("nobody@example.com", WRONG)) == ["RATE_LIMITED"]


async def test_concurrent_burst_gets_at_most_five_password_checks(gql: GraphQLClient) -> None:
    await gql.member()
    results = await asyncio.gather(
        *[gql.sign_in("ann@example.com", f"{WRONG} {i}") for i in range(20)]
    )
    codes = Counter(code for result in results for code in _codes(result))
    assert sum(codes.values()) == 20
    assert set(codes) <= {"INVALID_CREDENTIALS", "RATE_LIMITED"}
    assert codes["INVALID_CREDENTIALS"] <= 5
    assert codes["RATE_LIMITED"] >= 15
    assert all(result["accessToken"] is None for result in results)
    # The burst used up the window: the right password must wait too.
    assert _codes(await gql.sign_in("ann@example.com")) == ["RATE_LIMITED"]


class TestPerClientAddress:
    """Failures spread over many emails from one address hit the per-client limit."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, login_max_attempts_per_client=4)

    @pytest.fixture
    async def other_client(self, app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.23", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as client:
            yield client

    async def test_failures_over_many_emails_hit_the_client_limit(
        self, gql: GraphQLClient, clock: ManualClock
    ) -> None:
        await gql.member()
        for i in range(4):
            await _fail(gql, f"guess{i}@example.com", 1)

        blocked = await gql.sign_in("ann@example.com")
        assert _codes(blocked) == ["RATE_LIMITED"]
        assert blocked["errors"][0]["retryAfterSeconds"] > 0
        assert _codes(await gql.sign_in("guess9@example.com", WRONG)) == ["RATE_LIMITED"]

        clock.advance(minutes=15)
        assert (await gql.sign_in("ann@example.com"))["errors"] == []

    async def test_another_client_address_is_not_limited(
        self, gql: GraphQLClient, other_client: httpx.AsyncClient
    ) -> None:
        await gql.member()
        for i in range(4):
            await _fail(gql, f"guess{i}@example.com", 1)
        assert _codes(await gql.sign_in("ann@example.com")) == ["RATE_LIMITED"]

        other = GraphQLClient(other_client, gql.state)
        assert (await other.sign_in("ann@example.com"))["errors"] == []

    async def test_successful_sign_ins_do_not_use_up_the_client_limit(
        self, gql: GraphQLClient
    ) -> None:
        await gql.member()
        for _ in range(8):
            assert (await gql.sign_in("ann@example.com"))["errors"] == []


class TestRegistrationsPerAddress:
    """One address cannot mint accounts at will; other addresses are not affected."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, registrations_per_client=20)

    @pytest.fixture
    async def other_client(self, app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.23", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as client:
            yield client

    async def test_forty_parallel_registrations_from_one_address_create_twenty_accounts(
        self, gql: GraphQLClient, other_client: httpx.AsyncClient, clock: ManualClock
    ) -> None:
        answers = await asyncio.gather(*(
            gql.register(email=f"bot{i}@example.com") for i in range(40)
        ))

        outcomes = Counter(tuple(_codes(answer)) for answer in answers)
        assert outcomes == {(): 20, ("RATE_LIMITED",): 20}
        accounts = gql.state.services.store.collection("accounts")
        assert await accounts.count_documents({}) == 20
        other = GraphQLClient(other_client, gql.state)
        assert (await other.register(email="ann@example.com"))["errors"] == []
        # Refusals count too: a taken email cannot be probed past the limit either.
        assert _codes(await gql.register(email="ann@example.com")) == ["RATE_LIMITED"]

        clock.advance(hours=1)
        assert (await gql.register(email="late@example.com"))["errors"] == []
