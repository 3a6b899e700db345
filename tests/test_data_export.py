"""The member's data export (GDPR Art. 15 and 20): everything held about them in the
documented format, at once for a short history and through a signed, expiring download link
for a long one; nobody else's data, and nobody else can fetch it."""

import json
from typing import Any

import pytest

from tests.account_support import last_code, reset_request
from tests.ledger_support import PER_EURO, open_shop
from tests.privacy_support import (
    BIRTHDAY,
    EXPORT,
    rich_member,
)
from tests.support import TEST_CLIENT_ADDRESS, GraphQLClient, SignedIn

pytestmark = pytest.mark.asyncio

SECTIONS = {"account", "sign_ins", "points", "referrals_made", "ledger_entries", "lots",
            "orders", "survey_answers", "gifts", "vouchers", "member_card", "events",
            "audit_records", "consents", "draw_entries", "badges",
            "leaderboard_name", "leaderboard_scores",
            "challenges"}


async def _export(gql: GraphQLClient, member: SignedIn) -> dict[str, Any]:
    data = await gql.data(EXPORT, token=member.access_token)
    export: dict[str, Any] = data["myDataExport"]
    return export


def _texts(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def test_a_member_gets_everything_held_about_them_and_nothing_secret_or_of_others(
    gql: GraphQLClient,
) -> None:
    subject = await rich_member(gql)

    export = await _export(gql, subject.member)

    assert export["format"] == "kizuna.member-data" and export["version"] == 1
    assert export["member_id"] == subject.member_id
    sections = export["sections"]
    assert set(sections) == SECTIONS
    account = sections["account"][0]
    assert (account["email"], account["name"], account["birthday"]) == (
        subject.email, subject.name, BIRTHDAY)
    assert account["marketing_consent"] is True
    points = sections["points"][0]
    assert points["points"] == sum(e["points"] for e in sections["ledger_entries"])
    assert points["referred_by"]["code"] and points["referral_code"]
    assert [r["code"] for r in sections["referrals_made"]] == [points["referral_code"]]
    reasons = [e["reason"] for e in sections["ledger_entries"]]
    assert any(r.startswith("Goodwill for") for r in reasons)
    assert any(r.startswith("Reward: Tote bag") for r in reasons)
    orders = {o["id"]: o for o in sections["orders"]}
    assert orders["Q-2"]["refunded_amount"] == 2_000 and orders["Q-1"]["total"] == 12_000
    assert sorted(v["status"] for v in sections["vouchers"]) == ["ACTIVE", "REDEEMED"]
    assert sections["survey_answers"][0]["comment"].startswith("Lovely staff.")
    assert sections["member_card"][0]["id"]
    assert len(sections["sign_ins"]) == 2  # two devices
    assert {"member.registered", "points.earned", "order.refunded", "voucher.redeemed",
            "survey.answered"} <= {e["type"] for e in sections["events"]}
    operations = {r["operation"] for r in sections["audit_records"]}
    assert {"pointsAdjust", "voucherIssue", "voucherRedeem"} <= operations
    assert all(set(r["actor"]) == {"role"} for r in sections["audit_records"])
    assert sections["lots"] and sections["gifts"] == []
    # Nothing secret, and nobody else: not the friends, the staff, the admin, addresses.
    text = _texts(export)
    store = subject.store
    stored = await store.collection("accounts").find_one({"_id": subject.member_id})
    card = await store.collection("member_cards").find_one({"member_id": subject.member_id})
    assert stored is not None and card is not None
    secrets = [stored["password_hash"], card["secret"]]
    secrets += [t["_id"] async for t in store.collection("refresh_tokens").find(
        {"account_id": subject.member_id})]
    secrets += [v["payload_hash"] async for v in store.collection("vouchers").find(
        {"member_id": subject.member_id, "payload_hash": {"$ne": None}})]
    for secret in secrets:
        assert secret not in text
    for others in ("Rita Referrer", "referrer@privacy-test.example", "Fred Friend",
                   "friend@privacy-test.example", "Tilly Till", "Ada Admin"):
        assert others not in text, others
    # The member's own sign-ins say where they signed in from; nothing else names the
    # address every client of this test uses (the staff's and the admin's included).
    assert all(s["client_address"] == TEST_CLIENT_ADDRESS for s in sections["sign_ins"])
    assert TEST_CLIENT_ADDRESS not in _texts({**sections, "sign_ins": []})


async def test_the_export_costs_the_same_round_trips_whatever_the_history(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    store = gql.state.services.store
    costs = []
    for email, orders in (("few@privacy-test.example", 1), ("lots@privacy-test.example", 8)):
        member = await shop.member(email)
        for number in range(orders):
            order = shop.order(email, 1_000 + number, order_id=f"{email[:3]}-{number}")
            assert (await shop.record(order))["errors"] == []
        before = store.commands.total
        export = await _export(gql, member)
        costs.append(store.commands.total - before)
        assert len(export["sections"]["orders"]) == orders
    assert costs[0] == costs[1]


async def test_only_a_signed_in_member_exports_their_data(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    for token, code in ((None, "UNAUTHENTICATED"), (shop.admin.access_token, "FORBIDDEN"),
                        (shop.api_key, "FORBIDDEN")):
        response = await gql.post(EXPORT, token=token)
        body = response.json()
        assert body.get("data") is None, token
        assert body["errors"][0]["extensions"]["code"] == code, token


async def test_an_export_never_carries_a_live_one_time_code(gql: GraphQLClient) -> None:
    """The code is for the inbox it was sent to: an export read with a stolen access token
    must not let its reader reset the password."""
    member = await gql.member("coded.member@privacy-test.example", "Cody Coded")
    assert (await reset_request(gql, "coded.member@privacy-test.example"))["accepted"]
    code = await last_code(gql, "member.password_reset_requested")

    export = await _export(gql, member)

    requested = [e for e in export["sections"]["events"]
                 if e["type"] == "member.password_reset_requested"]
    assert len(requested) == 1 and "code" not in requested[0]["data"]
    assert code not in _texts(export)
