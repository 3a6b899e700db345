"""Password reset under the default limits: one client address cannot ask codes for any
number of addresses (the tests of the flow raise this limit)."""

from tests.account_support import events_of, reset_confirm, reset_request
from tests.support import GraphQLClient


async def test_one_client_asks_at_most_twenty_codes_an_hour_whatever_the_addresses(
    gql: GraphQLClient,
) -> None:
    await gql.member()

    answers = [await reset_request(gql, f"someone{i}@example.com") for i in range(20)]
    refused = await reset_request(gql, "ann@example.com")

    assert all(a == {"accepted": True, "errors": []} for a in answers)
    assert [e["code"] for e in refused["errors"]] == ["RATE_LIMITED"]
    assert await events_of(gql, "member.password_reset_requested") == []


async def test_weak_passwords_are_judged_only_within_the_clients_tries(
    gql: GraphQLClient,
) -> None:
    """Judging a password costs zxcvbn's CPU; an anonymous client gets it only as often as
    it may try codes (20 an hour), so weak passwords cannot be sent at will."""
    await gql.member()
    weak = "passwordpassword"

    answers = [await reset_confirm(gql, "ann@example.com", "AAAAAAAA", password=weak)
               for _ in range(20)]
    refused = await reset_confirm(gql, "ann@example.com", "AAAAAAAA", password=weak)

    assert {e["code"] for a in answers for e in a["errors"]} == {"WEAK_PASSWORD"}
    assert [e["code"] for e in refused["errors"]] == ["RATE_LIMITED"]
