"""Erasure (GDPR Art. 17): `accountDelete` by the member and `memberErase` by an
administrator leave no personal data anywhere in the database, keep the accounting
(`verify` clean), cancel open vouchers, end every sign-in, tell the shop's systems, and
can be finished after an interruption."""

import asyncio
from typing import Any

import pytest
from strawberry.relay import to_base64

from auth.erasure import RESUME_AFTER, erase_member, finish_pending_erasures
from events.audit import Audit
from events.personal_data import Erasure, PersonalData
from loyalty.members.privacy import FORFEIT_REASON
from store import Store
from tests.account_support import reset_request
from tests.privacy_support import (
    ACCOUNT_DELETE,
    EMAIL,
    MEMBER_ERASE,
    NAME,
    Subject,
    needles,
    personal_data_found,
    plain_member,
    rich_member,
)
from tests.support import DEFAULT_PASSWORD, GraphQLClient, ManualClock
from tests.test_account_update import UPDATE
from tests.transfer_support import open_gift_shop

pytestmark = pytest.mark.asyncio


async def _erase(subject: Subject, reason: str = "Request #4711 by letter") -> dict[str, Any]:
    data = await subject.gql.data(
        MEMBER_ERASE, {"input": {"memberId": subject.global_id, "reason": reason}},
        token=subject.shop.admin.access_token)
    payload: dict[str, Any] = data["memberErase"]
    return payload


async def _delete(subject: Subject, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    data = await subject.gql.data(ACCOUNT_DELETE, {"input": {"password": password}},
                                  token=subject.member.access_token)
    payload: dict[str, Any] = data["accountDelete"]
    return payload


async def _snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection but the sign-in attempt counters (a wrong
    password counts there by design)."""
    # The webhook job unmarks new events as it dispatches them, whatever the test does.
    return {name: await store.collection(name).find({}, {"webhooks": 0}).sort(
                "_id", 1).to_list(None)
            for name in sorted(await store.db.list_collection_names())
            if name != "auth_attempts"}


async def test_an_administrator_erases_a_member_and_no_personal_data_is_left_anywhere(
    gql: GraphQLClient,
) -> None:
    subject = await rich_member(gql)
    assert await personal_data_found(subject.store, needles(subject))  # the search works

    payload = await _erase(subject, reason=f"Request from {subject.email} by letter")

    assert payload["errors"] == [], payload
    member = payload["member"]
    assert member["email"] == f"erased:{subject.member_id}" and member["name"] == ""
    assert member["referralCode"] == ""  # none drawn again
    assert member["erasedAt"] == payload["erasedAt"]
    assert member["points"]["balance"] == 0
    assert await personal_data_found(subject.store, needles(subject)) == []
    assert await subject.shop.violations() == []
    record = await subject.store.collection("audit_log").find_one({"operation": "memberErase"})
    assert record is not None
    assert record["actor"]["id"] == subject.shop.admin.account_id
    assert record["target"] == {"type": "Member", "id": subject.member_id}
    changes = {c["field"]: c for c in record["changes"]}
    assert changes["erasure_reason"]["after"] == "Request from [erased] by letter"
    assert changes["email"] == {"field": "email", "before": None, "after": None,
                                "redacted": True}


async def test_erasure_keeps_the_accounting_and_cancels_open_vouchers(
    gql: GraphQLClient,
) -> None:
    subject = await rich_member(gql)
    store = subject.store
    assert (await _erase(subject))["errors"] == []

    vouchers = await store.collection("vouchers").find(
        {"member_id": subject.member_id}).to_list(None)
    assert sorted(v["status"] for v in vouchers) == ["CANCELLED", "REDEEMED"]
    assert all(v["holder_first_name"] == "" for v in vouchers)
    reward = await store.collection("rewards").find_one({})
    assert reward is not None and reward["redeemed"] == 0  # the unit came back
    ledger = await store.collection("ledger").find(
        {"member_id": subject.member_id}).sort("_id", 1).to_list(None)
    assert [e["kind"] for e in ledger[-2:]] == ["REVERSAL", "ADJUST"]
    assert ledger[-1]["reason"] == FORFEIT_REASON
    assert sum(e["points"] for e in ledger) == 0
    assert len(await store.collection("orders").find(
        {"member_id": subject.member_id}).to_list(None)) == 2
    answers = await store.collection("survey_responses").find(
        {"member_id": subject.member_id}).to_list(None)
    assert [(a["score"], a["comment"]) for a in answers] == [(9, None)]
    adjustment = next(e for e in ledger if e["kind"] == "ADJUST" and e["points"] > 0)
    assert adjustment["reason"] == "Goodwill for [erased] after the late parcel"
    assert await subject.shop.violations() == []
    # The member id no longer earns: a shop system that still has it is refused.
    order = {**subject.shop.order(subject.email, 1_000, order_id="Q-late"),
             "member": {"id": subject.global_id}}
    late = await subject.shop.record(order)
    assert [e["code"] for e in late["errors"]] == ["UNKNOWN_MEMBER"]


async def test_the_shop_is_told_with_the_member_id_and_the_time_only(gql: GraphQLClient) -> None:
    subject = await plain_member(gql)
    erased_at = (await _erase(subject))["erasedAt"]

    events = await subject.store.collection("events").find(
        {"type": "member.erased"}).to_list(None)
    assert len(events) == 1
    event = events[0]
    assert event["member_id"] == subject.member_id
    assert event["subject"] == {"kind": "member", "id": subject.member_id}
    assert event["data"]["member"] == {"id": subject.member_id}
    assert set(event["data"]) == {"member", "erased_at"}
    assert event["data"]["erased_at"].isoformat().startswith(erased_at[:19])
    registered = await subject.store.collection("events").find_one(
        {"type": "member.registered", "member_id": subject.member_id})
    assert registered is not None
    assert registered["data"]["member"]["email"] is None
    assert registered["data"]["member"]["name"] is None


async def test_a_member_deletes_their_own_account_with_their_password(
    gql: GraphQLClient,
) -> None:
    subject = await rich_member(gql)

    payload = await _delete(subject)

    assert payload["deleted"] is True and payload["errors"] == []
    assert await personal_data_found(subject.store, needles(subject)) == []
    assert await subject.shop.violations() == []
    record = await subject.store.collection("audit_log").find_one(
        {"operation": "accountDelete"})
    assert record is not None and record["actor"]["role"] == "MEMBER"
    assert record["actor"]["client_address"] == "[erased]"
    # Every sign-in ended, and the password is gone.
    response = await gql.post("{ me { id } }", token=subject.member.access_token)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    refreshed = await gql.data(
        "mutation($t: String!) { tokenRefresh(input: {refreshToken: $t}) { errors { code } } }",
        {"t": subject.member.refresh_token})
    assert refreshed["tokenRefresh"]["errors"][0]["code"] == "INVALID_TOKEN"
    signed_in = await gql.sign_in(subject.email)
    assert signed_in["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert await subject.store.collection("refresh_tokens").count_documents(
        {"account_id": subject.member_id}) == 0


async def test_a_wrong_password_is_refused_and_nothing_is_erased(gql: GraphQLClient) -> None:
    subject = await plain_member(gql)
    before = await _snapshot(subject.store)

    payload = await _delete(subject, password="not my password at all")

    assert payload["deleted"] is False
    assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]
    assert await _snapshot(subject.store) == before


async def test_a_reason_too_short_or_a_foreign_id_is_refused_and_nothing_is_erased(
    gql: GraphQLClient,
) -> None:
    subject = await plain_member(gql)
    before = await _snapshot(subject.store)
    admin = subject.shop.admin.access_token

    short = await _erase(subject, reason="no")
    foreign = await gql.data(MEMBER_ERASE, {"input": {
        "memberId": to_base64("Store", subject.member_id), "reason": "Request 1"}}, token=admin)
    unknown = await gql.data(MEMBER_ERASE, {"input": {
        "memberId": to_base64("Member", "0" * 24), "reason": "Request 1"}}, token=admin)

    assert [e["code"] for e in short["errors"]] == ["INVALID_INPUT"]
    assert [e["code"] for e in foreign["memberErase"]["errors"]] == ["NOT_FOUND"]
    assert [e["code"] for e in unknown["memberErase"]["errors"]] == ["NOT_FOUND"]
    assert await _snapshot(subject.store) == before


async def test_erasing_an_erased_member_again_is_already_erased(gql: GraphQLClient) -> None:
    subject = await plain_member(gql)
    assert (await _erase(subject))["errors"] == []

    again = await _erase(subject)

    assert [e["code"] for e in again["errors"]] == ["ALREADY_ERASED"]
    assert await subject.store.collection("events").count_documents(
        {"type": "member.erased"}) == 1


async def _staff(subject: Subject) -> str:
    admin = subject.shop.admin.access_token
    data = await subject.gql.data(
        """mutation { storeCreate(input: {code: "S-1", name: "S", timezone: "UTC"}) {
             store { id } } }""", token=admin)
    created = await subject.gql.data(
        """mutation($input: StaffCreateInput!) { staffCreate(input: $input) {
             errors { code } } }""",
        {"input": {"email": "till@privacy-test.example", "password": DEFAULT_PASSWORD,
                   "name": "Tilly Till", "store": data["storeCreate"]["store"]["id"]}},
        token=admin)
    assert created["staffCreate"]["errors"] == []
    token: str = (await subject.gql.sign_in("till@privacy-test.example"))["accessToken"]
    return token


async def test_only_the_member_or_an_administrator_can_erase(gql: GraphQLClient) -> None:
    subject = await plain_member(gql)
    other = await gql.member(email="other@privacy-test.example", name="Otto Other")
    staff = await _staff(subject)
    variables = {"input": {"memberId": subject.global_id, "reason": "Request 1"}}
    denied = {
        "another member": (MEMBER_ERASE, other.access_token),
        "staff": (MEMBER_ERASE, staff),
        "an API key": (MEMBER_ERASE, subject.shop.api_key),
        "nobody": (MEMBER_ERASE, None),
    }
    for who, (mutation, token) in denied.items():
        body = await gql.execute(mutation, variables, token=token)
        assert body["data"] is None, who
        assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "UNAUTHENTICATED"}, who
    delete = {"input": {"password": DEFAULT_PASSWORD}}
    for who, token in {"an administrator": subject.shop.admin.access_token,
                       "staff": staff, "nobody": None}.items():
        body = await gql.execute(ACCOUNT_DELETE, delete, token=token)
        assert body["data"] is None, who
    account = await subject.store.collection("accounts").find_one({"_id": subject.member_id})
    assert account is not None and account["email"] == subject.email
    assert "erasure" not in account


async def test_concurrent_erasures_erase_once(gql: GraphQLClient) -> None:
    subject = await rich_member(gql)

    results = await asyncio.gather(_erase(subject), _erase(subject), _delete(subject))

    codes = sorted(e["code"] for r in results for e in r["errors"])
    assert len([r for r in results if not r["errors"]]) == 1
    assert codes == ["ALREADY_ERASED", "ALREADY_ERASED"]
    assert await subject.store.collection("events").count_documents(
        {"type": "member.erased"}) == 1
    assert await personal_data_found(subject.store, needles(subject)) == []
    assert await subject.shop.violations() == []


class _Crash(Exception):
    pass


async def _crash(store: Store, erasure: Erasure) -> None:
    raise _Crash


async def _interrupted(subject: Subject) -> tuple[PersonalData, ...]:
    """An erasure that stops halfway (after the vouchers and the balance, before the
    records); returns the real declarations."""
    services = subject.gql.state.services
    declared = services.data_rights.personal_data
    crashing = (*declared, PersonalData(section="crash", collection="none", erase=_crash))
    admin = Audit(principal_id=subject.shop.admin.account_id or "", role="ADMIN",
                  client_address="203.0.113.7", request_id="r-1")
    with pytest.raises(_Crash):
        await erase_member(services.store, crashing, member_id=subject.member_id,
                           clock=services.clock, actor=admin, operation="memberErase",
                           reason="Request 9")
    return declared


async def test_an_interrupted_erasure_is_finished_by_asking_again(gql: GraphQLClient) -> None:
    subject = await plain_member(gql)
    await _interrupted(subject)
    account = await subject.store.collection("accounts").find_one({"_id": subject.member_id})
    assert account is not None and account["password_hash"] is None
    assert account.get("erased_at") is None
    assert (await gql.sign_in(subject.email))["errors"][0]["code"] == "INVALID_CREDENTIALS"

    payload = await _erase(subject)

    assert payload["errors"] == [], payload
    assert await personal_data_found(subject.store, needles(subject)) == []
    assert await subject.shop.violations() == []
    record = await subject.store.collection("audit_log").find_one({"operation": "memberErase"})
    assert record is not None  # the first request's reason and actor are kept
    assert {"field": "erasure_reason", "before": None, "after": "Request 9",
            "redacted": False} in record["changes"]


async def test_the_background_job_finishes_an_erasure_a_crash_interrupted(
    gql: GraphQLClient, clock: ManualClock,
) -> None:
    subject = await plain_member(gql)
    declared = await _interrupted(subject)
    store, services = subject.store, subject.gql.state.services

    assert await finish_pending_erasures(store, declared, clock=services.clock) == 0  # young
    clock.advance(seconds=RESUME_AFTER.total_seconds() + 1)
    assert await finish_pending_erasures(store, declared, clock=services.clock) == 1

    assert await personal_data_found(store, needles(subject)) == []
    assert await store.collection("events").count_documents({"type": "member.erased"}) == 1
    assert await finish_pending_erasures(store, declared, clock=services.clock) == 0


async def test_an_erasure_costs_the_same_round_trips_whatever_the_history(
    gql: GraphQLClient,
) -> None:
    short = await plain_member(gql)
    long = await plain_member(gql, email="lotte.longhistory@privacy-test.example",
                              name="Lotte Longhistory", shop=short.shop)
    for number in range(8):
        order = long.shop.order(long.email, 1_000 + number, order_id=f"LH-{number}")
        assert (await long.shop.record(order))["errors"] == []
    costs = []
    for subject in (short, long):
        before = subject.store.commands.total
        assert (await _erase(subject))["errors"] == []
        costs.append(subject.store.commands.total - before)

    assert costs[0] == costs[1]


async def test_gifts_keep_their_points_but_the_other_side_forgets_the_erased_member(
    gql: GraphQLClient,
) -> None:
    """A gift's two entries and two events live under both members: erasing one scrubs
    the other's side too (their name and the message), the points stay where they went."""
    gifts = await open_gift_shop(gql)
    sender = await gifts.member(EMAIL, NAME, points=1_000)
    friend = await gifts.member("bea.friend@privacy-test.example", "Bea Friend",
                                points=500)
    sent_note, received_note = "Coffee is on Quillon Zebraskova", "Merci pour le café"
    assert (await gifts.gift(sender, 300, email="bea.friend@privacy-test.example",
                             message=sent_note))["errors"] == []
    # A name the member no longer has, and counters kept by their email, are found too.
    renamed = await gql.data(UPDATE, {"input": {"name": "Quincy Zorro"}},
                             token=sender.access_token)
    assert renamed["accountUpdate"]["errors"] == []
    assert (await reset_request(gql, EMAIL))["accepted"] is True
    assert (await gifts.gift(friend, 200, email=EMAIL, message=received_note))["errors"] == []
    store = gql.state.services.store
    assert await personal_data_found(store, [EMAIL, NAME, sent_note])  # the search works

    deleted = await gql.data(ACCOUNT_DELETE, {"input": {"password": DEFAULT_PASSWORD}},
                             token=sender.access_token)

    assert deleted["accountDelete"]["errors"] == []
    assert await personal_data_found(
        store, [EMAIL, NAME, *NAME.split(), "Quincy Zorro", sent_note, received_note]) == []
    balance, history = await gifts.history(friend)
    assert balance == 500 + 300 - 200
    assert [entry["gift"]["memberName"] for entry in history[:2]] == ["a former member"] * 2
    assert await gifts.violations() == []


async def test_nothing_new_reaches_a_member_whose_erasure_has_begun(gql: GraphQLClient) -> None:
    """Between the erasure's first step and its last, the member's sign-ins are over and
    shop systems find no such member: no points arrive that would outlive the erasure."""
    subject = await plain_member(gql)  # one order earned before
    await _interrupted(subject)

    recorded = await subject.shop.record(subject.shop.order(subject.email, 2_000))
    me = (await gql.post("{ me { id } }", token=subject.member.access_token)).json()

    assert [e["code"] for e in recorded["errors"]] == ["UNKNOWN_MEMBER"]
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await subject.store.collection("ledger").count_documents(
        {"member_id": subject.member_id, "kind": "EARN"}) == 1
