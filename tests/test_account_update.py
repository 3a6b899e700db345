"""A member changes their profile, email and password: end to end over HTTP, with the
events the shop's systems get, and refusals that write nothing."""

import asyncio
from datetime import date
from typing import Any

from auth.collections import ACCOUNT_CODES, ACCOUNTS
from auth.member_search import MEMBER_WORDS
from tests.account_support import (
    EMAIL_CHANGE,
    EMAIL_CONFIRM,
    PASSWORD_CHANGE,
    events_of,
    last_code,
    refresh,
    still_signed_in,
)
from tests.support import DEFAULT_PASSWORD, GraphQLClient, ManualClock, SignedIn

UPDATE = """mutation($input: AccountUpdateInput!) { accountUpdate(input: $input) {
  member { name birthday } errors { code field } } }"""
SEARCH = "query($q: String) { members(query: $q) { edges { node { email } } } }"
NEW_PASSWORD = "another long passphrase 4"


async def _update(gql: GraphQLClient, member: SignedIn, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(UPDATE, {"input": changes},
                                              token=member.access_token))["accountUpdate"]
    return payload


async def _found(gql: GraphQLClient, admin: SignedIn, typed: str) -> list[str]:
    data = await gql.data(SEARCH, {"q": typed}, token=admin.access_token)
    return [edge["node"]["email"] for edge in data["members"]["edges"]]


async def _signed_in_again(gql: GraphQLClient, email: str = "ann@example.com") -> SignedIn:
    """A fresh sign-in (after the test moved the clock past the access token's life)."""
    tokens = await gql.sign_in(email)
    return SignedIn(tokens["accessToken"], tokens["refreshToken"])


async def _account(gql: GraphQLClient, email: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await gql.state.services.store.collection(ACCOUNTS).find_one(
        {"email": email})
    return doc


async def test_a_new_name_is_what_the_administrators_search_finds(gql: GraphQLClient) -> None:
    ann = await gql.member(name="Ann Smith")
    admin = await gql.admin()

    updated = await _update(gql, ann, name="  Ann   Jones-Baker ")

    assert updated == {"member": {"name": "Ann Jones-Baker", "birthday": None}, "errors": []}
    assert await _found(gql, admin, "jones") == ["ann@example.com"]
    assert await _found(gql, admin, "baker") == ["ann@example.com"]
    assert await _found(gql, admin, "smith") == []
    [event] = await events_of(gql, "member.updated")
    assert event["data"]["changed"] == ["name"]
    assert event["data"]["member"]["name"] == "Ann Jones-Baker"


async def test_a_birthday_change_keeps_the_anti_gaming_rules(
    gql: GraphQLClient, clock: ManualClock,
) -> None:
    ann = await gql.member()
    await _update(gql, ann, birthday="1990-05-17")
    first = await _account(gql, "ann@example.com")
    clock.advance(days=3)

    year_only = await _update(gql, await _signed_in_again(gql), birthday="1991-05-17")
    after_year = await _account(gql, "ann@example.com")
    clock.advance(days=3)
    await _update(gql, await _signed_in_again(gql), birthday="1991-06-01", name="Ann")
    after_day = await _account(gql, "ann@example.com")

    assert year_only["member"]["birthday"] == "1991-05-17"
    assert first is not None and after_year is not None and after_day is not None
    # Correcting the year is not a new birthday; a new day and month is (30 days' notice).
    assert after_year["birthday_set_at"] == first["birthday_set_at"]
    assert after_day["birthday_set_at"] == clock.now
    assert [e["data"]["changed"] for e in await events_of(gql, "member.updated")] == [
        ["birthday"]] * 3


async def test_bad_profile_input_reports_every_problem_and_writes_nothing(
    gql: GraphQLClient,
) -> None:
    ann = await gql.member(name="Ann Smith")
    before = await _account(gql, "ann@example.com")
    words = await gql.state.services.store.collection(MEMBER_WORDS).count_documents({})

    bad = await _update(gql, ann, name="   ", birthday="2999-01-01")
    empty = await _update(gql, ann)

    assert {(e["code"], tuple(e["field"])) for e in bad["errors"]} == {
        ("INVALID_INPUT", ("input", "name")), ("INVALID_INPUT", ("input", "birthday"))}
    assert bad["member"] is None
    assert [e["code"] for e in empty["errors"]] == ["INVALID_INPUT"]
    assert await _account(gql, "ann@example.com") == before
    assert await gql.state.services.store.collection(MEMBER_WORDS).count_documents({}) == words
    assert await events_of(gql, "member.updated") == []


async def test_only_a_signed_in_member_updates_a_profile(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    variables = {"input": {"name": "Mallory"}}

    anonymous = await gql.execute(UPDATE, variables)
    as_admin = await gql.execute(UPDATE, variables, token=admin.access_token)

    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert as_admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def _change_email(gql: GraphQLClient, member: SignedIn, new_email: str,
                        password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(EMAIL_CHANGE, {"input": {
        "newEmail": new_email, "currentPassword": password}},
        token=member.access_token))["accountEmailChange"]
    return payload


async def _confirm(gql: GraphQLClient, member: SignedIn, code: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(EMAIL_CONFIRM, {"input": {"code": code}},
                                              token=member.access_token))[
        "accountEmailChangeConfirm"]
    return payload


async def test_an_email_change_is_confirmed_by_a_code_sent_to_the_new_address(
    gql: GraphQLClient, clock: ManualClock,
) -> None:
    ann = await gql.member()

    asked = await _change_email(gql, ann, "Ann.New@Example.com")
    [requested] = await events_of(gql, "member.email_change_requested")
    confirmed = await _confirm(gql, ann, requested["data"]["code"])

    assert asked["errors"] == [] and asked["codeExpiresAt"] is not None
    assert requested["data"]["new_email"] == "ann.new@example.com"
    assert requested["data"]["member"]["email"] == "ann@example.com"
    assert confirmed == {"member": {"email": "ann.new@example.com"}, "errors": []}
    [changed] = await events_of(gql, "member.email_changed")
    # The shop's messaging tells the old address.
    assert changed["data"]["previous_email"] == "ann@example.com"
    assert changed["data"]["member"]["email"] == "ann.new@example.com"
    assert (await gql.sign_in("ann.new@example.com"))["errors"] == []
    assert (await gql.sign_in("ann@example.com"))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await events_of(gql, "member.email_change_requested"))[0]["data"]["code"] is None
    again = await _confirm(gql, ann, requested["data"]["code"])
    assert [e["code"] for e in again["errors"]] == ["CODE_USED"]


async def test_an_email_change_needs_the_right_password_and_writes_nothing_without(
    gql: GraphQLClient,
) -> None:
    ann = await gql.member()

    wrong = await _change_email(gql, ann, "ann.new@example.com", password="not my password")
    malformed = await _change_email(gql, ann, "ann.new@")
    same = await _change_email(gql, ann, "ANN@example.com")

    assert wrong["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert wrong["errors"][0]["field"] == ["input", "currentPassword"]
    assert malformed["errors"][0]["code"] == "INVALID_EMAIL"
    assert same["errors"][0]["code"] == "INVALID_INPUT"
    assert await gql.state.services.store.collection(ACCOUNT_CODES).count_documents({}) == 0
    assert await events_of(gql, "member.email_change_requested") == []


async def test_a_taken_email_is_refused_after_the_password_and_probing_is_limited(
    gql: GraphQLClient,
) -> None:
    ann = await gql.member()
    await gql.register(email="bob@example.com", name="Bob")

    taken = [await _change_email(gql, ann, "bob@example.com") for _ in range(6)]

    assert [t["errors"][0]["code"] for t in taken] == ["EMAIL_TAKEN"] * 5 + ["RATE_LIMITED"]
    assert await events_of(gql, "member.email_change_requested") == []


async def test_a_wrong_or_expired_email_code_changes_nothing(
    gql: GraphQLClient, clock: ManualClock,
) -> None:
    ann = await gql.member()
    await _change_email(gql, ann, "ann.new@example.com")
    code = await last_code(gql, "member.email_change_requested")

    wrong = await _confirm(gql, ann, "22222222")
    clock.advance(minutes=20)
    expired = await _confirm(gql, await _signed_in_again(gql), code)

    assert [e["code"] for e in wrong["errors"]] == ["WRONG_CODE"]
    assert [e["code"] for e in expired["errors"]] == ["CODE_EXPIRED"]
    assert await _account(gql, "ann@example.com") is not None
    assert await events_of(gql, "member.email_changed") == []


async def test_another_member_cannot_use_a_members_email_code(gql: GraphQLClient) -> None:
    ann = await gql.member()
    bob = await gql.member(email="bob@example.com", name="Bob")
    await _change_email(gql, ann, "ann.new@example.com")
    code = await last_code(gql, "member.email_change_requested")

    stolen = await _confirm(gql, bob, code)

    assert [e["code"] for e in stolen["errors"]] == ["WRONG_CODE"]
    assert await _account(gql, "bob@example.com") is not None
    assert (await _confirm(gql, ann, code))["errors"] == []


async def _change_password(gql: GraphQLClient, member: SignedIn, current: str,
                           new: str = NEW_PASSWORD) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(PASSWORD_CHANGE, {"input": {
        "currentPassword": current, "newPassword": new}},
        token=member.access_token))["accountPasswordChange"]
    return payload


async def test_a_password_change_ends_every_other_sign_in(gql: GraphQLClient) -> None:
    phone = await gql.member()
    tokens = await gql.sign_in("ann@example.com")
    laptop = SignedIn(tokens["accessToken"], tokens["refreshToken"])

    changed = await _change_password(gql, phone, DEFAULT_PASSWORD)

    assert changed == {"changed": True, "sessionsEnded": 1, "errors": []}
    assert await still_signed_in(gql, phone)
    assert (await refresh(gql, phone))["errors"] == []
    assert not await still_signed_in(gql, laptop)
    assert (await refresh(gql, laptop))["errors"] == [{"code": "INVALID_TOKEN"}]
    assert (await gql.sign_in("ann@example.com", NEW_PASSWORD))["errors"] == []
    [event] = await events_of(gql, "member.password_changed")
    assert event["data"]["reason"] == "changed"
    assert "password" not in str(event["data"]["member"])


async def test_a_wrong_current_or_weak_new_password_changes_nothing(gql: GraphQLClient) -> None:
    phone = await gql.member()
    tokens = await gql.sign_in("ann@example.com")
    laptop = SignedIn(tokens["accessToken"], tokens["refreshToken"])
    before = await _account(gql, "ann@example.com")

    wrong = await _change_password(gql, phone, "not my password at all")
    weak = await _change_password(gql, phone, DEFAULT_PASSWORD, new="short")

    assert wrong["errors"] == [{"code": "INVALID_CREDENTIALS",
                                "field": ["input", "currentPassword"]}]
    assert weak["errors"] == [{"code": "WEAK_PASSWORD", "field": ["input", "newPassword"]}]
    assert await _account(gql, "ann@example.com") == before
    assert await still_signed_in(gql, laptop)
    assert await events_of(gql, "member.password_changed") == []


async def test_guessing_the_current_password_is_limited_like_sign_in(gql: GraphQLClient) -> None:
    ann = await gql.member()

    answers = [await _change_password(gql, ann, f"guess number {i}") for i in range(6)]

    assert [a["errors"][0]["code"] for a in answers] == [
        "INVALID_CREDENTIALS"] * 5 + ["RATE_LIMITED"]


async def test_a_birthday_set_through_the_older_mutation_still_works(
    gql: GraphQLClient,
) -> None:
    ann = await gql.member()
    data = await gql.data("""mutation { accountBirthdaySet(input: {birthday: "1990-05-17"}) {
        member { birthday } errors { code } } }""", token=ann.access_token)
    assert data["accountBirthdaySet"]["member"]["birthday"] == str(date(1990, 5, 17))


async def test_concurrent_confirmations_of_an_email_code_change_it_once(
    gql: GraphQLClient,
) -> None:
    ann = await gql.member()
    await _change_email(gql, ann, "ann.new@example.com")
    code = await last_code(gql, "member.email_change_requested")

    # Fewer than the tries a code allows (5): every try counts, the right ones too.
    results = await asyncio.gather(*(_confirm(gql, ann, code) for _ in range(4)))

    assert [r["member"] for r in results].count({"email": "ann.new@example.com"}) == 1
    assert {e["code"] for r in results for e in r["errors"]} == {"CODE_USED"}
    assert len(await events_of(gql, "member.email_changed")) == 1
