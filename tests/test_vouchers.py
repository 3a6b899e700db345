"""Issuing vouchers and what their holders see: voucherIssue, me { vouchers }, node, cancel."""

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.scanner_support import (
    ScannerShop,
    fresh_token,
    open_scanner_shop,
    voucher_cancel,
)
from tests.support import GraphQLClient, ManualClock, SignedIn

GROUPED_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-"
                          r"[0-9A-HJKMNP-TV-Z]{2}$")

VOUCHER_NODE = """
query($id: ID!) { node(id: $id) { id ... on Voucher { code status title } } }"""


@pytest.fixture
async def shop(gql: GraphQLClient) -> ScannerShop:
    return await open_scanner_shop(gql)


@pytest.fixture
async def ann(gql: GraphQLClient) -> SignedIn:
    return await gql.member(email="ann@example.com", name="Ann Martin")


async def test_issued_voucher_shows_in_the_members_list_with_qr_and_grouped_code(
    shop: ScannerShop, ann: SignedIn, clock: ManualClock
) -> None:
    issued = await shop.issue("ann@example.com", title="Welcome gift", amountOff=750,
                              validDays=30)

    assert issued["status"] == "ACTIVE"
    assert issued["kind"] == "AMOUNT_OFF"
    assert issued["amountOff"] == 750
    assert issued["currency"] == "EUR"
    assert GROUPED_CODE.match(issued["code"]), issued["code"]
    assert datetime.fromisoformat(issued["expiresAt"]) == clock() + timedelta(days=30)
    mine = await shop.my_vouchers(ann.access_token)
    assert [v["id"] for v in mine] == [issued["id"]]
    seen = mine[0]
    assert seen["code"] == issued["code"]
    assert seen["title"] == "Welcome gift"
    assert seen["status"] == "ACTIVE"
    assert seen["redemption"] is None
    assert seen["qr"]["payload"].count(".") == 2  # a compact JWS
    assert seen["qr"]["pngUrl"].endswith("/qr.png")
    assert seen["qr"]["svg"].lstrip().startswith("<svg")


async def test_members_list_their_own_vouchers_newest_first_and_nobody_elses(
    shop: ScannerShop, ann: SignedIn, gql: GraphQLClient
) -> None:
    bob = await gql.member(email="bob@example.com", name="Bob")
    first = await shop.issue("ann@example.com", title="First")
    second = await shop.issue("ann@example.com", title="Second")
    bobs = await shop.issue("bob@example.com", title="Bob's")

    assert [v["id"] for v in await shop.my_vouchers(ann.access_token)] == [
        second["id"], first["id"]]
    assert [v["id"] for v in await shop.my_vouchers(bob.access_token)] == [bobs["id"]]


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"amountOff": None}, "INVALID_INPUT", ["input", "amountOff"]),
        ({"kind": "PERCENT_OFF", "amountOff": None, "percentOff": 0}, "INVALID_INPUT",
         ["input", "percentOff"]),
        ({"kind": "PERCENT_OFF", "amountOff": None, "percentOff": 101}, "INVALID_INPUT",
         ["input", "percentOff"]),
        ({"currency": "XYZ"}, "UNKNOWN_CURRENCY", ["input", "currency"]),
        ({"validDays": 0}, "INVALID_INPUT", ["input", "validDays"]),
        ({"kind": "FREE_PRODUCT", "amountOff": None, "currency": None}, "INVALID_INPUT",
         ["input", "productSku"]),
        ({"kind": "FREE_PRODUCT", "amountOff": None, "productSku": "   "}, "INVALID_INPUT",
         ["input", "productSku"]),
        ({"channels": []}, "INVALID_INPUT", ["input", "channels"]),
        ({"title": "x" * 121}, "INVALID_INPUT", ["input", "title"]),
        ({"kind": "FREE_SHIPPING"}, "INVALID_INPUT", ["input", "amountOff"]),
        ({"kind": "FREE_SHIPPING", "amountOff": None, "currency": None, "minOrderTotal": 5000},
         "INVALID_INPUT", ["input", "currency"]),
        ({"minOrderTotal": 0}, "INVALID_INPUT", ["input", "minOrderTotal"]),
    ],
    ids=["amount-off-without-amount", "percent-0", "percent-101", "unknown-currency",
         "zero-days", "free-product-without-sku", "free-product-blank-sku", "no-channel",
         "long-title", "amount-on-free-shipping", "minimum-without-currency",
         "zero-minimum"],
)
async def test_invalid_voucher_is_refused_with_a_typed_error_and_nothing_is_issued(
    shop: ScannerShop, ann: SignedIn, overrides: dict[str, Any], code: str, field: list[str]
) -> None:
    payload = await shop.issue_payload("ann@example.com", **overrides)

    assert payload["voucher"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert await shop.my_vouchers(ann.access_token) == []
    assert await shop.gql.state.services.store.collection("vouchers").count_documents({}) == 0


async def test_several_problems_are_reported_together(
    shop: ScannerShop, ann: SignedIn
) -> None:
    payload = await shop.issue_payload(
        "ann@example.com", kind="PERCENT_OFF", amountOff=500, percentOff=0, title=" "
    )

    fields = sorted(tuple(e["field"]) for e in payload["errors"])
    assert fields == [("input", "amountOff"), ("input", "percentOff"), ("input", "title")]
    assert await shop.my_vouchers(ann.access_token) == []


async def test_voucher_for_an_unknown_member_is_refused(shop: ScannerShop) -> None:
    payload = await shop.issue_payload("nobody@example.com")

    assert payload["voucher"] is None
    assert [e["code"] for e in payload["errors"]] == ["UNKNOWN_MEMBER"]


async def test_valid_free_product_and_percent_vouchers_are_issued(
    shop: ScannerShop, ann: SignedIn
) -> None:
    product = await shop.issue("ann@example.com", kind="FREE_PRODUCT", amountOff=None,
                               currency=None, productSku=" SKU-42 ", title="A free candle")
    percent = await shop.issue("ann@example.com", kind="PERCENT_OFF", amountOff=None,
                               percentOff=100, title="All free")

    assert product["kind"] == "FREE_PRODUCT"
    assert product["amountOff"] is None
    assert percent["kind"] == "PERCENT_OFF"
    assert len(await shop.my_vouchers(ann.access_token)) == 2


async def test_issue_replay_with_the_same_key_returns_the_same_voucher(
    shop: ScannerShop, ann: SignedIn
) -> None:
    first = await shop.issue_payload("ann@example.com", idempotencyKey="gift-2026-ann")
    again = await shop.issue_payload("ann@example.com", idempotencyKey="gift-2026-ann")

    assert first["errors"] == [] and again["errors"] == []
    assert first["replayed"] is False
    assert again["replayed"] is True
    assert again["voucher"]["id"] == first["voucher"]["id"]
    assert again["voucher"]["code"] == first["voucher"]["code"]
    assert len(await shop.my_vouchers(ann.access_token)) == 1


async def test_issue_key_reused_with_other_details_is_an_idempotency_conflict(
    shop: ScannerShop, ann: SignedIn
) -> None:
    await shop.issue("ann@example.com", idempotencyKey="gift-2026-ann", amountOff=500)
    conflict = await shop.issue_payload("ann@example.com", idempotencyKey="gift-2026-ann",
                                        amountOff=1000)

    assert conflict["voucher"] is None
    assert [e["code"] for e in conflict["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    mine = await shop.my_vouchers(ann.access_token)
    assert len(mine) == 1


async def test_issue_replay_still_works_after_the_clock_moved(
    shop: ScannerShop, ann: SignedIn, clock: ManualClock
) -> None:
    first = await shop.issue_payload("ann@example.com", idempotencyKey="retry-later")
    clock.advance(minutes=10)
    again = await shop.issue_payload("ann@example.com", idempotencyKey="retry-later")

    assert again["replayed"] is True
    assert again["voucher"]["id"] == first["voucher"]["id"]
    assert again["voucher"]["expiresAt"] == first["voucher"]["expiresAt"]


@pytest.mark.parametrize("who", ["member", "staff"])
async def test_only_admins_can_issue_vouchers(
    shop: ScannerShop, ann: SignedIn, who: str
) -> None:
    token = ann.access_token
    if who == "staff":
        token = (await shop.staff("sam@example.com", "PARIS-01", manager=True)).access_token
    body = await shop.gql.execute(
        """mutation { voucherIssue(input: {member: {email: "ann@example.com"},
             kind: AMOUNT_OFF, title: "Free money", amountOff: 100000, currency: "EUR",
             validDays: 30}) { voucher { id } errors { code } } }""",
        token=token,
    )

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert await shop.my_vouchers(ann.access_token) == []


async def test_nobody_signed_in_cannot_issue_vouchers(shop: ScannerShop, ann: SignedIn) -> None:
    body = await shop.gql.execute(
        """mutation { voucherIssue(input: {member: {email: "ann@example.com"},
             kind: FREE_SHIPPING, title: "Free", validDays: 3}) { voucher { id } } }""",
    )

    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert await shop.my_vouchers(ann.access_token) == []


async def test_member_sees_own_voucher_by_node_id_but_not_another_members(
    shop: ScannerShop, ann: SignedIn, gql: GraphQLClient
) -> None:
    bob = await gql.member(email="bob@example.com", name="Bob")
    voucher = await shop.issue("ann@example.com", title="Ann's gift")

    own = await gql.data(VOUCHER_NODE, {"id": voucher["id"]}, token=ann.access_token)
    other = await gql.execute(VOUCHER_NODE, {"id": voucher["id"]}, token=bob.access_token)

    assert own["node"] == {"id": voucher["id"], "code": voucher["code"], "status": "ACTIVE",
                           "title": "Ann's gift"}
    assert other["data"]["node"] is None


async def test_holder_cancels_an_active_voucher_and_a_check_then_says_cancelled(
    shop: ScannerShop, ann: SignedIn
) -> None:
    voucher = await shop.issue("ann@example.com")
    staff = await shop.staff("sam@example.com", "PARIS-01")

    cancelled = await voucher_cancel(shop.gql, ann.access_token, voucher["id"])
    check = await shop.check(staff.access_token, code=voucher["code"])

    assert cancelled["errors"] == []
    assert cancelled["voucher"] == {"id": voucher["id"], "status": "CANCELLED"}
    assert check["redeemable"] is False
    assert check["reason"]["code"] == "CANCELLED"
    assert check["voucher"]["status"] == "CANCELLED"
    assert (await shop.my_vouchers(ann.access_token, "CANCELLED"))[0]["qr"] is None


async def test_cancelling_twice_says_cancelled(shop: ScannerShop, ann: SignedIn) -> None:
    voucher = await shop.issue("ann@example.com")
    await voucher_cancel(shop.gql, ann.access_token, voucher["id"])

    again = await voucher_cancel(shop.gql, ann.access_token, voucher["id"])

    assert [e["code"] for e in again["errors"]] == ["CANCELLED"]


async def test_member_cannot_cancel_another_members_voucher(
    shop: ScannerShop, ann: SignedIn, gql: GraphQLClient
) -> None:
    bob = await gql.member(email="bob@example.com", name="Bob")
    voucher = await shop.issue("ann@example.com")

    attempt = await voucher_cancel(gql, bob.access_token, voucher["id"])

    assert attempt["voucher"] is None
    assert [e["code"] for e in attempt["errors"]] == ["NOT_FOUND"]
    assert [v["status"] for v in await shop.my_vouchers(ann.access_token)] == ["ACTIVE"]


async def test_redeemed_voucher_cannot_be_cancelled(shop: ScannerShop, ann: SignedIn) -> None:
    voucher = await shop.issue("ann@example.com")
    staff = await shop.staff("sam@example.com", "PARIS-01")
    assert (await shop.redeem(staff.access_token, code=voucher["code"]))["errors"] == []

    attempt = await voucher_cancel(shop.gql, ann.access_token, voucher["id"])

    assert [e["code"] for e in attempt["errors"]] == ["ALREADY_REDEEMED"]
    assert [v["status"] for v in await shop.my_vouchers(ann.access_token)] == ["REDEEMED"]


async def test_expired_voucher_cannot_be_cancelled(
    shop: ScannerShop, ann: SignedIn, clock: ManualClock
) -> None:
    voucher = await shop.issue("ann@example.com", validDays=1)
    clock.advance(days=1, seconds=1)
    token = await fresh_token(shop.gql, "ann@example.com")

    attempt = await voucher_cancel(shop.gql, token, voucher["id"])

    assert [e["code"] for e in attempt["errors"]] == ["EXPIRED"]


async def test_my_vouchers_filter_by_status_active_redeemed_expired(
    shop: ScannerShop, ann: SignedIn, clock: ManualClock
) -> None:
    short = await shop.issue("ann@example.com", title="Short", validDays=1)
    used = await shop.issue("ann@example.com", title="Used", validDays=30)
    kept = await shop.issue("ann@example.com", title="Kept", validDays=30)
    staff = await shop.staff("sam@example.com", "PARIS-01")
    redeemed = await shop.redeem(staff.access_token, code=used["code"],
                                 order_reference="T-100")
    assert redeemed["errors"] == []

    def ids(vouchers: list[dict[str, Any]]) -> list[str]:
        return [v["id"] for v in vouchers]

    token = ann.access_token
    assert ids(await shop.my_vouchers(token, "ACTIVE")) == [kept["id"], short["id"]]
    assert ids(await shop.my_vouchers(token, "REDEEMED")) == [used["id"]]
    assert await shop.my_vouchers(token, "EXPIRED") == []

    clock.advance(days=1, seconds=1)
    token = await fresh_token(shop.gql, "ann@example.com")

    assert ids(await shop.my_vouchers(token, "ACTIVE")) == [kept["id"]]
    expired = await shop.my_vouchers(token, "EXPIRED")
    assert ids(expired) == [short["id"]]
    assert expired[0]["status"] == "EXPIRED"
    assert expired[0]["qr"] is None
    redeemed_now = await shop.my_vouchers(token, "REDEEMED")
    assert redeemed_now[0]["redemption"] == {"orderReference": "T-100",
                                             "store": {"code": "PARIS-01"}}
    assert ids(await shop.my_vouchers(token)) == [kept["id"], used["id"], short["id"]]


async def test_voucher_restricted_to_a_store_needs_a_store_id(
    shop: ScannerShop, ann: SignedIn
) -> None:
    payload = await shop.issue_payload("ann@example.com", storeIds=[])

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["input", "storeIds"])]


@pytest.mark.parametrize("days", [-1, 1099, 2_000_000_000])
async def test_validity_outside_one_day_to_three_years_is_a_typed_error(
    shop: ScannerShop, ann: SignedIn, days: int
) -> None:
    payload = await shop.issue_payload("ann@example.com", validDays=days)

    assert payload["voucher"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["input", "validDays"])]
    assert await shop.my_vouchers(ann.access_token) == []


async def test_voucher_restricted_to_an_unknown_store_is_refused(
    shop: ScannerShop, ann: SignedIn
) -> None:
    # A well-formed Store id that names no store: the voucher could never be used in-store.
    missing_store = "U3RvcmU6bm9wZQ=="  # base64("Store:nope")

    payload = await shop.issue_payload("ann@example.com", storeIds=[missing_store],
                                       channels=["STORE"])

    assert payload["voucher"] is None
    assert [e["field"] for e in payload["errors"]] == [["input", "storeIds"]]
    assert await shop.my_vouchers(ann.access_token) == []


async def test_cancel_with_another_kind_of_id_is_a_typed_error(
    shop: ScannerShop, ann: SignedIn
) -> None:
    await shop.issue("ann@example.com")
    voucher_id = shop.store_ids["PARIS-01"]

    body = await shop.gql.execute(
        """mutation($input: VoucherCancelInput!) { voucherCancel(input: $input) {
             voucher { id } errors { code field } } }""",
        {"input": {"voucherId": voucher_id}}, token=ann.access_token,
    )

    assert "errors" not in body, body
    errors = body["data"]["voucherCancel"]["errors"]
    assert [e["field"] for e in errors] == [["input", "voucherId"]]
    assert [v["status"] for v in await shop.my_vouchers(ann.access_token)] == ["ACTIVE"]


async def test_staff_cannot_read_a_members_voucher_by_node_id(
    shop: ScannerShop, ann: SignedIn
) -> None:
    voucher = await shop.issue("ann@example.com")
    staff = await shop.staff("sam@example.com", "PARIS-01", manager=True)

    body = await shop.gql.execute(
        "query($id: ID!) { node(id: $id) { id ... on Voucher { code qr { payload } } } }",
        {"id": voucher["id"]}, token=staff.access_token,
    )

    assert body["data"]["node"] is None
