"""Checking and redeeming vouchers at the till and online, voiding a redemption by mistake."""

import asyncio
import base64
import json
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scanner.audit import ScanAction
from tests.scanner_support import (
    VOUCHER_VOID,
    ScannerShop,
    fresh_token,
    open_scanner_shop,
)
from tests.support import GraphQLClient, ManualClock, SignedIn

MAX_CONCURRENT = 200
TILLS = 8

REDEEM_ONLINE = """
mutation($input: VoucherRedeemInput!) { voucherRedeem(input: $input) {
  replayed discount
  voucher { id status redemption { channel orderReference orderTotal discount store { code } } }
  errors { code message field } } }"""


def raw_id(global_id: str) -> str:
    """The database id inside a Relay global id."""
    return base64.b64decode(global_id).decode().split(":", 1)[1]


@pytest.fixture
async def shop(gql: GraphQLClient) -> ScannerShop:
    shop = await open_scanner_shop(gql)
    await gql.member(email="ann@example.com", name="Ann Martin")
    return shop


@pytest.fixture
async def cashier(shop: ScannerShop) -> SignedIn:
    return await shop.staff("sam@example.com", "PARIS-01")


async def payload_of(shop: ScannerShop, email: str = "ann@example.com") -> str:
    """The QR payload of the member's newest active voucher, as their app shows it."""
    token = await fresh_token(shop.gql, email)
    mine = await shop.my_vouchers(token, "ACTIVE")
    payload: str = mine[0]["qr"]["payload"]
    return payload


async def voucher_documents(shop: ScannerShop) -> list[dict[str, Any]]:
    """Every stored voucher as it is now, to show that nothing changed."""
    cursor = shop.gql.state.services.store.collection("vouchers").find({}).sort("_id", 1)
    documents: list[dict[str, Any]] = await cursor.to_list()
    return documents


async def audit_records(shop: ScannerShop) -> list[dict[str, Any]]:
    services = shop.gql.state.services
    await services.scanning.audit.flush()
    cursor = services.store.collection("audit_log").find(
        {"operation": {"$in": [action.value for action in ScanAction]}}).sort("at", 1)
    records: list[dict[str, Any]] = await cursor.to_list()
    return records


async def api_key(shop: ScannerShop, scopes: str = "[ORDERS_WRITE]") -> str:
    data = await shop.gql.data(
        f"""mutation {{ apiKeyCreate(input: {{name: "Web shop", scopes: {scopes}}}) {{
              secret errors {{ code }} }} }}""",
        token=shop.admin.access_token,
    )
    secret: str = data["apiKeyCreate"]["secret"]
    return secret


# Checking ------------------------------------------------------------------------------


async def test_the_till_greets_the_holder_with_their_tier(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    await shop.issue("ann@example.com")
    created = await shop.gql.data(
        """mutation { tierCreate(input: {name: "Gold", threshold: 500}) { tier { id } } }""",
        token=shop.admin.access_token,
    )
    data = await shop.gql.data(
        """mutation($input: MemberTierSetInput!) { memberTierSet(input: $input) {
             errors { code } } }""",
        {"input": {"member": {"email": "ann@example.com"}, "reason": "VIP",
                   "tierId": created["tierCreate"]["tier"]["id"]}},
        token=shop.admin.access_token,
    )
    assert data["memberTierSet"]["errors"] == []

    check = await shop.check(cashier.access_token, payload=await payload_of(shop))

    assert check["voucher"]["member"] == {"firstName": "Ann", "tier": "Gold"}


async def test_check_by_payload_shows_what_the_voucher_gives_and_that_it_is_redeemable(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com", title="€5 off your next visit",
                              minOrderTotal=2000)

    check = await shop.check(cashier.access_token, payload=await payload_of(shop))

    assert check["errors"] == []
    assert check["redeemable"] is True
    assert check["reason"] is None
    voucher = check["voucher"]
    assert voucher["id"] == issued["id"]
    assert voucher["code"] == issued["code"]
    assert voucher["status"] == "ACTIVE"
    assert voucher["title"] == "€5 off your next visit"
    assert (voucher["kind"], voucher["amountOff"], voucher["currency"]) == (
        "AMOUNT_OFF", 500, "EUR")
    assert voucher["minOrderTotal"] == 2000
    assert voucher["member"] == {"firstName": "Ann", "tier": None}
    assert voucher["redemption"] is None


async def test_check_by_typed_code_ignores_case_spaces_and_dashes(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    typed = " ".join(issued["code"].replace("-", "").lower())  # "7 h 3 k 9 q …"

    check = await shop.check(cashier.access_token, code=typed)

    assert check["errors"] == []
    assert check["redeemable"] is True
    assert check["voucher"]["id"] == issued["id"]
    assert check["voucher"]["member"]["firstName"] == "Ann"


async def test_check_needs_exactly_one_of_payload_and_code(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")

    both = await shop.check(cashier.access_token, code=issued["code"],
                            payload=await payload_of(shop))
    neither = await shop.check(cashier.access_token)

    for answer in (both, neither):
        assert answer["voucher"] is None
        assert [e["code"] for e in answer["errors"]] == ["INVALID_INPUT"]


async def test_check_changes_nothing_but_leaves_an_audit_record(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    before = await voucher_documents(shop)

    check = await shop.check(cashier.access_token, code=issued["code"], deviceId="till-1")

    assert check["redeemable"] is True
    assert await voucher_documents(shop) == before
    records = await audit_records(shop)
    assert len(records) == 1
    record = records[0]
    assert (record["operation"], record["outcome"]) == ("voucherCheck", "OK")
    assert record["target"] == {"type": "Voucher", "id": raw_id(issued["id"])}
    assert record["actor"]["store_id"] == raw_id(shop.store_ids["PARIS-01"])
    assert record["actor"]["device_id"] == "till-1"
    assert record["actor"]["role"] == "STAFF"
    assert record["member_id"] == before[0]["member_id"]
    assert record["changes"] == []


async def test_check_from_another_store_of_a_voucher_redeemed_in_paris_names_paris(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    assert (await shop.redeem(cashier.access_token, code=issued["code"],
                              order_reference="R-PARIS"))["errors"] == []
    lyon = await shop.staff("lea@example.com", "LYON-01")

    check = await shop.check(lyon.access_token, code=issued["code"])

    assert check["redeemable"] is False
    assert check["reason"]["code"] == "ALREADY_REDEEMED"
    assert "Paris Opéra" in check["reason"]["message"]
    assert check["voucher"]["redemption"]["store"] == {"name": "Paris Opéra",
                                                       "code": "PARIS-01"}


# Redeeming -----------------------------------------------------------------------------


async def test_redeem_marks_the_voucher_redeemed_with_store_order_and_discount(
    shop: ScannerShop, cashier: SignedIn, clock: ManualClock
) -> None:
    issued = await shop.issue("ann@example.com")

    redeemed = await shop.redeem(cashier.access_token, payload=await payload_of(shop),
                                 order_reference="R-2026-0001", order_total=4200)

    assert redeemed["errors"] == []
    assert redeemed["replayed"] is False
    assert redeemed["discount"] == 500
    voucher = redeemed["voucher"]
    assert voucher["id"] == issued["id"]
    assert voucher["status"] == "REDEEMED"
    assert voucher["member"] == {"firstName": "Ann"}
    redemption = voucher["redemption"]
    assert datetime.fromisoformat(redemption["redeemedAt"]) == clock()
    assert redemption["orderReference"] == "R-2026-0001"
    assert redemption["orderTotal"] == 4200
    assert redemption["discount"] == 500
    assert redemption["store"] == {"name": "Paris Opéra", "code": "PARIS-01"}
    member_token = await fresh_token(shop.gql, "ann@example.com")
    mine = await shop.my_vouchers(member_token)
    assert [(v["status"], v["qr"]) for v in mine] == [("REDEEMED", None)]


@pytest.mark.parametrize(
    ("benefit", "order_total", "discount"),
    [
        ({"kind": "AMOUNT_OFF", "amountOff": 500}, 4200, 500),
        ({"kind": "AMOUNT_OFF", "amountOff": 500}, 300, 300),
        ({"kind": "PERCENT_OFF", "amountOff": None, "percentOff": 10}, 4250, 425),
        ({"kind": "FREE_SHIPPING", "amountOff": None}, 4200, None),
    ],
    ids=["amount-under-total", "amount-capped-at-total", "percent", "free-shipping"],
)
async def test_discount_follows_the_benefit_and_the_order_total(
    shop: ScannerShop, cashier: SignedIn, benefit: dict[str, Any], order_total: int,
    discount: int | None,
) -> None:
    issued = await shop.issue("ann@example.com", **benefit)

    redeemed = await shop.redeem(cashier.access_token, code=issued["code"],
                                 order_total=order_total)

    assert redeemed["errors"] == []
    assert redeemed["discount"] == discount
    assert redeemed["voucher"]["redemption"]["discount"] == discount


async def test_redeem_replay_with_the_same_key_and_order_returns_the_first_redemption(
    shop: ScannerShop, cashier: SignedIn, clock: ManualClock
) -> None:
    issued = await shop.issue("ann@example.com")
    payload = await payload_of(shop)
    first = await shop.redeem(cashier.access_token, code=issued["code"],
                              order_reference="R-1", order_total=4200, key="checkout-1")
    after_first = await voucher_documents(shop)
    clock.advance(seconds=20)

    # The till retries with the scanned QR rather than the typed code: the same checkout.
    again = await shop.redeem(cashier.access_token, payload=payload,
                              order_reference="R-1", order_total=4200, key="checkout-1")

    assert first["replayed"] is False
    assert again["errors"] == []
    assert again["replayed"] is True
    assert again["discount"] == first["discount"] == 500
    assert again["voucher"]["redemption"] == first["voucher"]["redemption"]
    assert await voucher_documents(shop) == after_first


async def test_same_redeem_key_with_a_different_order_is_an_idempotency_conflict(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    await shop.redeem(cashier.access_token, code=issued["code"], order_reference="R-1",
                      order_total=4200, key="checkout-1")
    after_first = await voucher_documents(shop)

    conflict = await shop.redeem(cashier.access_token, code=issued["code"],
                                 order_reference="R-2", order_total=4200, key="checkout-1")

    assert [(e["code"], e["field"]) for e in conflict["errors"]] == [
        ("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])]
    assert conflict["replayed"] is False
    assert conflict["discount"] is None
    assert await voucher_documents(shop) == after_first


async def test_second_redemption_of_same_voucher_is_rejected(
    shop: ScannerShop, cashier: SignedIn, clock: ManualClock
) -> None:
    issued = await shop.issue("ann@example.com")
    first = await shop.redeem(cashier.access_token, code=issued["code"], order_reference="R-1",
                              key="checkout-1")
    redeemed_at = clock()
    after_first = await voucher_documents(shop)
    clock.advance(minutes=5)

    second = await shop.redeem(cashier.access_token, code=issued["code"],
                               order_reference="R-2", key="checkout-2")

    assert first["errors"] == []
    assert [e["code"] for e in second["errors"]] == ["ALREADY_REDEEMED"]
    message = second["errors"][0]["message"]
    assert "Paris Opéra" in message
    # In the programme's zone (UTC by default), which the message names.
    assert (f"on {redeemed_at:%a} {redeemed_at.day} {redeemed_at:%b %Y}, {redeemed_at:%H:%M} "
            f"(UTC) at Paris Opéra") in message
    assert second["discount"] is None
    redemption = second["voucher"]["redemption"]
    assert datetime.fromisoformat(redemption["redeemedAt"]) == redeemed_at
    assert redemption["orderReference"] == "R-1"
    assert redemption["store"]["code"] == "PARIS-01"
    assert await voucher_documents(shop) == after_first


async def test_concurrent_redemptions_of_one_voucher_have_exactly_one_winner(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    # Several cashiers on their own tills: scans by one account and device may be queued in
    # the process, scans by different ones race each other in the database.
    tills = [cashier] + [
        await shop.staff(f"cashier{n}@example.com", "PARIS-01") for n in range(1, TILLS)
    ]

    answers = await asyncio.gather(*(
        shop.redeem(tills[n % TILLS].access_token, code=issued["code"],
                    order_reference=f"R-{n}", key=f"till-{n}", deviceId=f"till-{n % TILLS}")
        for n in range(MAX_CONCURRENT)
    ))

    winners = [a for a in answers if a["errors"] == []]
    losers = [a for a in answers if a["errors"] != []]
    assert len(winners) == 1, [a["errors"] for a in answers[:3]]
    assert len(losers) == MAX_CONCURRENT - 1
    assert {e["code"] for a in losers for e in a["errors"]} == {"ALREADY_REDEEMED"}
    assert all(a["replayed"] is False for a in answers)
    winner = winners[0]["voucher"]["redemption"]
    assert all(a["voucher"]["redemption"] == winner for a in losers)
    stored = (await voucher_documents(shop))[0]
    assert stored["status"] == "REDEEMED"
    assert stored["redemption"]["order_reference"] == winner["orderReference"]
    assert stored["voided_redemptions"] == []


async def test_expired_voucher_is_refused_and_left_unchanged(
    shop: ScannerShop, clock: ManualClock
) -> None:
    issued = await shop.issue("ann@example.com", validDays=1)
    payload = await payload_of(shop)
    before = await voucher_documents(shop)
    await shop.staff("sam@example.com", "PARIS-01")
    clock.advance(days=1, seconds=1)
    cashier = await fresh_token(shop.gql, "sam@example.com")

    check = await shop.check(cashier, payload=payload)
    redeemed = await shop.redeem(cashier, code=issued["code"])

    assert check["redeemable"] is False
    assert check["reason"]["code"] == "EXPIRED"
    assert check["voucher"]["status"] == "EXPIRED"
    assert [e["code"] for e in redeemed["errors"]] == ["EXPIRED"]
    assert redeemed["voucher"]["status"] == "EXPIRED"
    assert await voucher_documents(shop) == before


async def test_voucher_for_lyon_is_refused_by_paris_staff_and_accepted_in_lyon(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com", storeIds=[shop.store_ids["LYON-01"]])
    lyon = await shop.staff("lea@example.com", "LYON-01")

    check = await shop.check(cashier.access_token, code=issued["code"])
    refused = await shop.redeem(cashier.access_token, code=issued["code"])
    accepted = await shop.redeem(lyon.access_token, code=issued["code"])

    assert (check["redeemable"], check["reason"]["code"]) == (False, "WRONG_STORE")
    assert [e["code"] for e in refused["errors"]] == ["WRONG_STORE"]
    assert accepted["errors"] == []
    assert accepted["voucher"]["redemption"]["store"]["code"] == "LYON-01"


async def test_online_only_voucher_is_refused_in_store(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com", channels=["ONLINE"])
    before = await voucher_documents(shop)

    check = await shop.check(cashier.access_token, code=issued["code"])
    refused = await shop.redeem(cashier.access_token, code=issued["code"])

    assert (check["redeemable"], check["reason"]["code"]) == (False, "WRONG_CHANNEL")
    assert [e["code"] for e in refused["errors"]] == ["WRONG_CHANNEL"]
    assert await voucher_documents(shop) == before


async def test_order_below_the_minimum_total_is_refused_and_voucher_stays_active(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com", minOrderTotal=5000)

    refused = await shop.redeem(cashier.access_token, code=issued["code"], order_total=4000)
    accepted = await shop.redeem(cashier.access_token, code=issued["code"], order_total=5000)

    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("ORDER_TOTAL_TOO_LOW", ["input", "orderTotal"])]
    assert refused["voucher"]["status"] == "ACTIVE"
    assert accepted["errors"] == []
    assert accepted["discount"] == 500


async def test_redeem_with_a_bad_order_is_refused_before_anything_changes(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    before = await voucher_documents(shop)

    blank = await shop.redeem(cashier.access_token, code=issued["code"], order_reference="  ")
    negative = await shop.redeem(cashier.access_token, code=issued["code"], order_total=-1)

    assert [e["field"] for e in blank["errors"]] == [["input", "orderReference"]]
    assert [e["field"] for e in negative["errors"]] == [["input", "orderTotal"]]
    assert await voucher_documents(shop) == before


# Forged and damaged payloads -------------------------------------------------------------


def _flip_signature_char(token: str) -> str:
    head, claims, signature = token.split(".")
    middle = len(signature) // 2  # not the last symbol: its low bits are padding
    replacement = "A" if signature[middle] != "A" else "B"
    return f"{head}.{claims}.{signature[:middle]}{replacement}{signature[middle + 1:]}"


def _resigned(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                      headers={"typ": None})


def _unsigned(token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"{header.decode()}.{body.decode()}."


@pytest.mark.parametrize(
    "forge",
    ["empty", "abc", "truncated", "flipped-signature", "resigned-with-another-key",
     "alg-none", "access-token", "oversized"],
)
async def test_forged_or_damaged_payload_is_an_invalid_signature_and_changes_nothing(
    shop: ScannerShop, cashier: SignedIn, forge: str
) -> None:
    await shop.issue("ann@example.com")
    real = await payload_of(shop)
    forged = {
        "empty": "",
        "abc": "abc",
        "truncated": real[: len(real) - 10],
        "flipped-signature": _flip_signature_char(real),
        "resigned-with-another-key": _resigned(real),
        "alg-none": _unsigned(real),
        "access-token": cashier.access_token,
        "oversized": real + "." + "A" * 600,
    }[forge]
    assert forged != real
    before = await voucher_documents(shop)

    check = await shop.check(cashier.access_token, payload=forged)
    redeemed = await shop.redeem(cashier.access_token, payload=forged)

    assert check["redeemable"] is False
    assert check["voucher"] is None
    assert check["reason"]["code"] == "INVALID_SIGNATURE"
    assert check["errors"] == []
    assert [e["code"] for e in redeemed["errors"]] == ["INVALID_SIGNATURE"]
    assert redeemed["voucher"] is None
    assert await voucher_documents(shop) == before
    # The genuine payload still works afterwards.
    assert (await shop.redeem(cashier.access_token, payload=real))["errors"] == []


# Who may scan --------------------------------------------------------------------------


@pytest.mark.parametrize("mutation", ["voucherCheck", "voucherRedeem"])
async def test_members_cannot_check_or_redeem_vouchers(
    shop: ScannerShop, mutation: str
) -> None:
    issued = await shop.issue("ann@example.com")
    member = await fresh_token(shop.gql, "ann@example.com")
    order = ', orderReference: "R-1", orderTotal: 4200, idempotencyKey: "k-1"'
    arguments = f'code: "{issued["code"]}"' + (order if mutation == "voucherRedeem" else "")
    before = await voucher_documents(shop)

    body = await shop.gql.execute(
        f"mutation {{ {mutation}(input: {{{arguments}}}) {{ errors {{ code }} }} }}",
        token=member,
    )

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert await voucher_documents(shop) == before


async def test_api_key_without_orders_write_cannot_redeem(shop: ScannerShop) -> None:
    issued = await shop.issue("ann@example.com")
    key = await api_key(shop, "[ACTIONS_WRITE]")

    body = await shop.gql.execute(REDEEM_ONLINE, {"input": {
        "code": issued["code"], "orderReference": "WEB-1", "orderTotal": 4200,
        "idempotencyKey": "web-1"}}, token=key)

    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


# Online redemption by a shop system ---------------------------------------------------------


async def test_shop_system_redeems_online_without_a_store(shop: ScannerShop) -> None:
    issued = await shop.issue("ann@example.com")
    key = await api_key(shop)
    order = {"payload": await payload_of(shop), "orderReference": "WEB-1", "orderTotal": 4200,
             "idempotencyKey": "web-checkout-1"}

    redeemed = (await shop.gql.data(REDEEM_ONLINE, {"input": order}, token=key))["voucherRedeem"]
    replay = (await shop.gql.data(REDEEM_ONLINE, {"input": order}, token=key))["voucherRedeem"]

    assert redeemed["errors"] == []
    assert redeemed["discount"] == 500
    assert redeemed["voucher"]["id"] == issued["id"]
    assert redeemed["voucher"]["redemption"] == {
        "channel": "ONLINE", "orderReference": "WEB-1", "orderTotal": 4200, "discount": 500,
        "store": None}
    assert replay["replayed"] is True
    assert replay["voucher"]["redemption"] == redeemed["voucher"]["redemption"]


async def test_voucher_redeemed_online_is_reported_as_redeemed_online_at_the_till(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    key = await api_key(shop)
    await shop.gql.data(REDEEM_ONLINE, {"input": {
        "code": issued["code"], "orderReference": "WEB-1", "orderTotal": 4200,
        "idempotencyKey": "web-1"}}, token=key)

    refused = await shop.redeem(cashier.access_token, code=issued["code"])

    assert [e["code"] for e in refused["errors"]] == ["ALREADY_REDEEMED"]
    assert "online" in refused["errors"][0]["message"]


async def test_store_only_voucher_is_refused_online(shop: ScannerShop) -> None:
    issued = await shop.issue("ann@example.com", channels=["STORE"])
    key = await api_key(shop)
    before = await voucher_documents(shop)

    refused = (await shop.gql.data(REDEEM_ONLINE, {"input": {
        "code": issued["code"], "orderReference": "WEB-1", "orderTotal": 4200,
        "idempotencyKey": "web-1"}}, token=key))["voucherRedeem"]

    assert [e["code"] for e in refused["errors"]] == ["WRONG_CHANNEL"]
    assert refused["voucher"]["status"] == "ACTIVE"
    assert await voucher_documents(shop) == before


# Voiding a redemption -----------------------------------------------------------------------


async def void(shop: ScannerShop, token: str, voucher_id: str,
               reason: str = "Cashier scanned the wrong voucher") -> dict[str, Any]:
    data = await shop.gql.data(
        VOUCHER_VOID, {"input": {"voucherId": voucher_id, "reason": reason}}, token=token
    )
    payload: dict[str, Any] = data["voucherRedemptionVoid"]
    return payload


async def test_manager_voids_a_redemption_and_the_voucher_can_be_redeemed_again(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    manager = await shop.staff("max@example.com", "PARIS-01", manager=True)
    issued = await shop.issue("ann@example.com")
    await shop.redeem(cashier.access_token, code=issued["code"], order_reference="R-1",
                      key="checkout-1")

    voided = await void(shop, manager.access_token, issued["id"])
    again = await shop.redeem(cashier.access_token, code=issued["code"],
                              order_reference="R-2", key="checkout-2")

    assert voided["errors"] == []
    assert voided["voucher"] == {"id": issued["id"], "status": "ACTIVE", "redemption": None}
    assert again["errors"] == []
    assert again["voucher"]["redemption"]["orderReference"] == "R-2"
    stored = (await voucher_documents(shop))[0]
    assert [v["order_reference"] for v in stored["voided_redemptions"]] == ["R-1"]
    assert stored["voided_redemptions"][0]["reason"] == "Cashier scanned the wrong voucher"


async def test_retry_of_a_voided_redemption_is_refused(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    manager = await shop.staff("max@example.com", "PARIS-01", manager=True)
    issued = await shop.issue("ann@example.com")
    await shop.redeem(cashier.access_token, code=issued["code"], order_reference="R-1",
                      key="checkout-1")
    await void(shop, manager.access_token, issued["id"])
    after_void = await voucher_documents(shop)

    retry = await shop.redeem(cashier.access_token, code=issued["code"],
                              order_reference="R-1", key="checkout-1")

    assert [e["code"] for e in retry["errors"]] == ["REDEMPTION_VOIDED"]
    assert retry["voucher"]["status"] == "ACTIVE"
    assert await voucher_documents(shop) == after_void


async def test_staff_who_is_not_a_manager_cannot_void(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    issued = await shop.issue("ann@example.com")
    await shop.redeem(cashier.access_token, code=issued["code"])
    before = await voucher_documents(shop)

    attempt = await void(shop, cashier.access_token, issued["id"])

    assert [e["code"] for e in attempt["errors"]] == ["MANAGER_REQUIRED"]
    assert await voucher_documents(shop) == before


async def test_manager_of_another_store_cannot_void(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    lyon_manager = await shop.staff("lea@example.com", "LYON-01", manager=True)
    issued = await shop.issue("ann@example.com")
    await shop.redeem(cashier.access_token, code=issued["code"])
    before = await voucher_documents(shop)

    attempt = await void(shop, lyon_manager.access_token, issued["id"])

    assert [e["code"] for e in attempt["errors"]] == ["NOT_FOUND"]
    assert await voucher_documents(shop) == before


async def test_void_of_an_unredeemed_voucher_says_not_redeemed(
    shop: ScannerShop
) -> None:
    manager = await shop.staff("max@example.com", "PARIS-01", manager=True)
    issued = await shop.issue("ann@example.com")

    attempt = await void(shop, manager.access_token, issued["id"])

    assert [e["code"] for e in attempt["errors"]] == ["NOT_REDEEMED"]


async def test_redemption_cannot_be_voided_after_the_void_window(
    shop: ScannerShop, cashier: SignedIn, clock: ManualClock
) -> None:
    await shop.staff("max@example.com", "PARIS-01", manager=True)
    issued = await shop.issue("ann@example.com")
    await shop.redeem(cashier.access_token, code=issued["code"])
    before = await voucher_documents(shop)
    clock.advance(hours=2, seconds=1)
    manager = await fresh_token(shop.gql, "max@example.com")

    attempt = await void(shop, manager, issued["id"])

    assert [e["code"] for e in attempt["errors"]] == ["VOID_WINDOW_CLOSED"]
    assert await voucher_documents(shop) == before


async def test_redemption_can_still_be_voided_just_inside_the_window(
    shop: ScannerShop, cashier: SignedIn, clock: ManualClock
) -> None:
    await shop.staff("max@example.com", "PARIS-01", manager=True)
    issued = await shop.issue("ann@example.com")
    await shop.redeem(cashier.access_token, code=issued["code"])
    clock.advance(hours=1, minutes=59)
    manager = await fresh_token(shop.gql, "max@example.com")

    voided = await void(shop, manager, issued["id"])

    assert voided["errors"] == []
    assert voided["voucher"]["status"] == "ACTIVE"


async def test_void_of_an_online_redemption_is_not_a_store_managers_business(
    shop: ScannerShop
) -> None:
    manager = await shop.staff("max@example.com", "PARIS-01", manager=True)
    issued = await shop.issue("ann@example.com")
    await shop.gql.data(REDEEM_ONLINE, {"input": {
        "code": issued["code"], "orderReference": "WEB-1", "orderTotal": 4200,
        "idempotencyKey": "web-1"}}, token=await api_key(shop))

    attempt = await void(shop, manager.access_token, issued["id"])

    assert [e["code"] for e in attempt["errors"]] == ["NOT_FOUND"]
    assert (await voucher_documents(shop))[0]["status"] == "REDEEMED"


async def test_audit_trail_records_check_redeem_refusal_and_void(
    shop: ScannerShop, cashier: SignedIn, clock: ManualClock
) -> None:
    manager = await shop.staff("max@example.com", "PARIS-01", manager=True)
    issued = await shop.issue("ann@example.com")
    await shop.check(cashier.access_token, code=issued["code"])
    clock.advance(seconds=1)
    await shop.redeem(cashier.access_token, code=issued["code"])
    clock.advance(seconds=1)
    await shop.redeem(cashier.access_token, code=issued["code"])
    clock.advance(seconds=1)
    await void(shop, manager.access_token, issued["id"])

    records = await audit_records(shop)

    assert [(r["operation"], r["outcome"]) for r in records] == [
        ("voucherCheck", "OK"), ("voucherRedeem", "OK"), ("voucherRedeem", "ALREADY_REDEEMED"),
        ("voucherRedemptionVoid", "OK")]
    assert {r["target"]["id"] for r in records} == {raw_id(issued["id"])}
    assert [c["field"] for c in records[1]["changes"]] == ["status"]
    assert (records[1]["changes"][0]["before"], records[1]["changes"][0]["after"]) == (
        "ACTIVE", "REDEEMED")
    assert records[-1]["at"] - records[0]["at"] == timedelta(seconds=3)


@pytest.mark.parametrize("voucher_id", ["not-an-id", "U3RvcmU6bm9wZQ=="],
                         ids=["garbage", "store-id"])
async def test_void_with_an_id_that_is_not_a_voucher_is_a_typed_error(
    shop: ScannerShop, voucher_id: str
) -> None:
    manager = await shop.staff("max@example.com", "PARIS-01", manager=True)

    body = await shop.gql.execute(
        VOUCHER_VOID, {"input": {"voucherId": voucher_id, "reason": "Mistake"}},
        token=manager.access_token,
    )

    assert "errors" not in body, body
    errors = body["data"]["voucherRedemptionVoid"]["errors"]
    assert [e["field"] for e in errors] == [["input", "voucherId"]]


@pytest.mark.parametrize("device", ["", "d" * 101], ids=["empty", "too-long"])
async def test_unusable_device_id_is_a_typed_error(
    shop: ScannerShop, cashier: SignedIn, device: str
) -> None:
    issued = await shop.issue("ann@example.com")

    check = await shop.check(cashier.access_token, code=issued["code"], deviceId=device)

    assert check["voucher"] is None
    assert [(e["code"], e["field"]) for e in check["errors"]] == [
        ("INVALID_INPUT", ["input", "deviceId"])]
