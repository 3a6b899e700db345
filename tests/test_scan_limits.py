"""Abuse limits on scanning: failed voucher checks and card scans lock the actor on that
device for a while (and the actor or the client address everywhere past a higher ceiling),
without revealing anything about the codes tried meanwhile."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.state import AppState
from scanner import codes
from tests.scanner_support import ScannerShop, open_scanner_shop
from tests.support import GraphQLClient, ManualClock, SignedIn

MAX_FAILURES = 10  # the default scan_max_failures
MAX_SHARED_FAILURES = 100  # the default scan_max_shared_failures
WINDOW_SECONDS = 60
LOCKOUT_SECONDS = 300

CARD_SCAN = """
mutation($input: MemberCardScanInput!) { memberCardScan(input: $input) {
  member { firstName pointsBalance } errors { code message retryAfterSeconds } } }"""


@pytest.fixture
async def shop(gql: GraphQLClient) -> ScannerShop:
    shop = await open_scanner_shop(gql)
    await gql.member(email="ann@example.com", name="Ann Martin")
    return shop


@pytest.fixture
async def cashier(shop: ScannerShop) -> SignedIn:
    return await shop.staff("sam@example.com", "PARIS-01")


@pytest.fixture
async def genuine(shop: ScannerShop) -> dict[str, Any]:
    return await shop.issue("ann@example.com")


def unknown_code() -> str:
    """A well-formed code (right check symbol) that no voucher has, 1 in 2^65 aside."""
    return codes.display(codes.new_code())


def mistyped_code() -> str:
    """A code whose check symbol is wrong: refused before any lookup."""
    code = codes.new_code()
    wrong = next(s for s in codes.ALPHABET if s != code[-1])
    return codes.display(code[:-1] + wrong)


async def fail_checks(shop: ScannerShop, token: str, count: int, *,
                      device: str | None = None) -> list[str]:
    """`count` failed checks, half unknown codes and half typos; their reason codes."""
    reasons = []
    for n in range(count):
        code = unknown_code() if n % 2 == 0 else mistyped_code()
        reference: dict[str, Any] = {"code": code}
        if device is not None:
            reference["deviceId"] = device
        answer = await shop.check(token, **reference)
        assert answer["errors"] == [], answer
        reasons.append(answer["reason"]["code"])
    return reasons


def assert_locked(answer: dict[str, Any]) -> None:
    """Rate-limited and nothing revealed about the voucher."""
    assert [e["code"] for e in answer["errors"]] == ["RATE_LIMITED"], answer
    retry_after = answer["errors"][0]["retryAfterSeconds"]
    assert 0 < retry_after <= LOCKOUT_SECONDS
    assert answer.get("voucher") is None
    assert answer.get("reason") is None
    assert answer.get("redeemable", False) is False


async def test_eleventh_attempt_after_ten_failed_checks_is_rate_limited_even_for_a_genuine_code(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any]
) -> None:
    reasons = await fail_checks(shop, cashier.access_token, MAX_FAILURES)

    check = await shop.check(cashier.access_token, code=genuine["code"])
    redeem = await shop.redeem(cashier.access_token, code=genuine["code"])

    assert reasons == ["NOT_FOUND", "INVALID_CODE"] * (MAX_FAILURES // 2)
    assert_locked(check)
    assert_locked(redeem)
    member = await shop.gql.sign_in("ann@example.com")
    assert [v["status"] for v in await shop.my_vouchers(member["accessToken"])] == ["ACTIVE"]


async def test_nine_failed_checks_do_not_lock(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any]
) -> None:
    await fail_checks(shop, cashier.access_token, MAX_FAILURES - 1)

    check = await shop.check(cashier.access_token, code=genuine["code"])

    assert check["errors"] == []
    assert check["redeemable"] is True


async def test_failures_spread_over_aliases_of_one_request_trip_the_limit(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any]
) -> None:
    fields = [f'c{n}: voucherCheck(input: {{code: "{unknown_code()}"}}) {{ '
              "redeemable reason { code } errors { code retryAfterSeconds } }"
              for n in range(12)]
    body = await shop.gql.data("mutation { " + " ".join(fields) + " }",
                               token=cashier.access_token)

    answers = [body[f"c{n}"] for n in range(12)]
    assert [a["reason"]["code"] for a in answers[:MAX_FAILURES]] == ["NOT_FOUND"] * MAX_FAILURES
    for answer in answers[MAX_FAILURES:]:
        assert_locked(answer)
    assert_locked(await shop.check(cashier.access_token, code=genuine["code"]))


async def test_concurrent_failed_checks_get_no_more_answers_than_the_limit(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    attempts = 3 * MAX_FAILURES

    answers = await asyncio.gather(*(
        shop.check(cashier.access_token, code=unknown_code()) for _ in range(attempts)
    ))

    answered = [a for a in answers if a["errors"] == []]
    limited = [a for a in answers if a["errors"] != []]
    assert {a["reason"]["code"] for a in answered} == {"NOT_FOUND"}
    assert len(answered) <= MAX_FAILURES, f"{len(answered)} guesses answered"
    assert len(limited) == attempts - len(answered)
    for answer in limited:
        assert_locked(answer)


async def test_a_locked_account_still_scans_on_another_device_and_so_does_a_colleague(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any]
) -> None:
    colleague = await shop.staff("lea@example.com", "PARIS-01")
    await fail_checks(shop, cashier.access_token, MAX_FAILURES, device="till-1")

    same_device = await shop.check(cashier.access_token, code=genuine["code"],
                                   deviceId="till-1")
    own_other_device = await shop.check(cashier.access_token, code=genuine["code"],
                                        deviceId="till-2")
    colleague_same_till = await shop.check(colleague.access_token, code=genuine["code"],
                                           deviceId="till-1")
    colleague_redeem = await shop.redeem(colleague.access_token, code=genuine["code"],
                                         deviceId="till-2")

    assert_locked(same_device)
    assert own_other_device["redeemable"] is True
    assert colleague_same_till["redeemable"] is True
    assert colleague_redeem["errors"] == []
    assert colleague_redeem["voucher"]["status"] == "REDEEMED"


REDEEM_ONLINE = """
mutation($input: VoucherRedeemInput!) { voucherRedeem(input: $input) {
  discount voucher { status } errors { code retryAfterSeconds } } }"""


async def test_one_customers_typos_do_not_stop_a_web_shops_other_checkouts(
    shop: ScannerShop,
) -> None:
    key = (await shop.gql.data(
        """mutation { apiKeyCreate(input: {name: "Web shop", scopes: [ORDERS_WRITE]}) {
             secret } }""", token=shop.admin.access_token))["apiKeyCreate"]["secret"]
    genuine = await shop.issue("ann@example.com", channels=["ONLINE"])

    async def redeem(code: str, checkout: str, n: int) -> dict[str, Any]:
        data = await shop.gql.data(REDEEM_ONLINE, {"input": {
            "code": code, "deviceId": checkout, "orderReference": f"WEB-{n}",
            "orderTotal": 4200, "idempotencyKey": f"web-{n}"}}, token=key)
        payload: dict[str, Any] = data["voucherRedeem"]
        return payload

    typos = [await redeem(mistyped_code(), "checkout-a", n) for n in range(MAX_FAILURES)]
    locked = await redeem(genuine["code"], "checkout-a", 100)
    other_checkout = await redeem(genuine["code"], "checkout-b", 101)

    assert [t["errors"][0]["code"] for t in typos] == ["INVALID_CODE"] * MAX_FAILURES
    assert [e["code"] for e in locked["errors"]] == ["RATE_LIMITED"]
    assert other_checkout["errors"] == []
    assert other_checkout["discount"] == 500
    assert other_checkout["voucher"]["status"] == "REDEEMED"


@pytest.fixture
async def elsewhere(app: Starlette, state: AppState) -> AsyncIterator[GraphQLClient]:
    """The same server seen from another client address."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.42", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as http:
        yield GraphQLClient(http, state)


async def test_a_guess_spread_over_devices_trips_the_actor_and_address_ceilings(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any], elsewhere: GraphQLClient
) -> None:
    colleague = await shop.staff("lea@example.com", "PARIS-01")
    second = await shop.staff("max@example.com", "PARIS-01")
    # One failure per device: no device reaches its own ceiling.
    reasons = [
        (await shop.check(cashier.access_token, code=unknown_code(), deviceId=f"phone-{n}"))
        ["reason"]["code"]
        for n in range(MAX_SHARED_FAILURES)
    ]

    async def check_elsewhere(token: str, device: str) -> dict[str, Any]:
        data = await elsewhere.data(
            """mutation($input: VoucherCheckInput!) { voucherCheck(input: $input) {
                 redeemable errors { code } } }""",
            {"input": {"code": genuine["code"], "deviceId": device}}, token=token)
        payload: dict[str, Any] = data["voucherCheck"]
        return payload

    fresh_device = await shop.check(cashier.access_token, code=genuine["code"],
                                    deviceId="phone-new")
    from_another_address = await check_elsewhere(cashier.access_token, "phone-far")
    colleague_same_address = await shop.check(colleague.access_token, code=genuine["code"],
                                              deviceId="till-1")
    second_elsewhere = await check_elsewhere(second.access_token, "till-9")

    assert reasons == ["NOT_FOUND"] * MAX_SHARED_FAILURES
    assert_locked(fresh_device)
    # The actor is locked wherever it is; the address is locked whoever uses it.
    assert [e["code"] for e in from_another_address["errors"]] == ["RATE_LIMITED"]
    assert_locked(colleague_same_address)
    assert second_elsewhere == {"redeemable": True, "errors": []}


async def test_genuine_redeemed_voucher_checked_again_and_again_does_not_lock(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any]
) -> None:
    assert (await shop.redeem(cashier.access_token, code=genuine["code"]))["errors"] == []
    other = await shop.issue("ann@example.com", title="Another")

    reasons = [
        (await shop.check(cashier.access_token, code=genuine["code"]))["reason"]["code"]
        for _ in range(3 * MAX_FAILURES)
    ]
    refused = await shop.redeem(cashier.access_token, code=genuine["code"])
    fine = await shop.check(cashier.access_token, code=other["code"])

    assert reasons == ["ALREADY_REDEEMED"] * (3 * MAX_FAILURES)
    assert [e["code"] for e in refused["errors"]] == ["ALREADY_REDEEMED"]
    assert fine["redeemable"] is True


async def test_scanning_works_again_after_the_lockout(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any], clock: ManualClock
) -> None:
    await fail_checks(shop, cashier.access_token, MAX_FAILURES)
    assert_locked(await shop.check(cashier.access_token, code=genuine["code"]))
    clock.advance(seconds=LOCKOUT_SECONDS - 10)
    still_locked = await shop.check(cashier.access_token, code=genuine["code"])
    clock.advance(seconds=10 + WINDOW_SECONDS + 1)

    check = await shop.check(cashier.access_token, code=genuine["code"])
    one_more_typo = await shop.check(cashier.access_token, code=mistyped_code())
    redeem = await shop.redeem(cashier.access_token, code=genuine["code"])

    assert_locked(still_locked)
    assert still_locked["errors"][0]["retryAfterSeconds"] <= 10
    assert check["errors"] == []
    assert check["redeemable"] is True
    assert one_more_typo["reason"]["code"] == "INVALID_CODE"
    assert redeem["errors"] == []


async def test_failed_redeem_attempts_count_like_failed_checks(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any]
) -> None:
    codes_tried = []
    for n in range(MAX_FAILURES):
        answer = await shop.redeem(cashier.access_token,
                                   code=unknown_code() if n % 2 else mistyped_code())
        codes_tried.append(answer["errors"][0]["code"])

    locked = await shop.redeem(cashier.access_token, code=genuine["code"])

    assert codes_tried == ["INVALID_CODE", "NOT_FOUND"] * (MAX_FAILURES // 2)
    assert_locked(locked)


async def test_bogus_member_card_scans_count_towards_the_lock(
    shop: ScannerShop, cashier: SignedIn, genuine: dict[str, Any]
) -> None:
    answers = []
    for n in range(MAX_FAILURES):
        bogus = "KZC" + codes.new_code()[:13] + "ABC" + f"{n:08d}" if n % 2 else f"junk-{n}"
        data = await shop.gql.data(CARD_SCAN, {"input": {"token": bogus}},
                                   token=cashier.access_token)
        answers.append(data["memberCardScan"])

    card_locked = (await shop.gql.data(CARD_SCAN, {"input": {"token": "KZC" + "0" * 24}},
                                       token=cashier.access_token))["memberCardScan"]
    voucher_locked = await shop.check(cashier.access_token, code=genuine["code"])

    assert [a["errors"][0]["code"] for a in answers] == ["INVALID_CARD_TOKEN"] * MAX_FAILURES
    assert all(a["member"] is None for a in answers)
    assert_locked(card_locked)
    assert card_locked["member"] is None
    assert_locked(voucher_locked)


async def test_failed_checks_are_in_the_audit_trail(
    shop: ScannerShop, cashier: SignedIn
) -> None:
    await fail_checks(shop, cashier.access_token, 2, device="till-9")

    services = shop.gql.state.services
    await services.scanning.audit.flush()
    records = await services.store.collection("audit_log").find(
        {"operation": "voucherCheck"}).to_list()

    assert sorted((r["operation"], r["outcome"], r["actor"]["device_id"]) for r in records) == [
        ("voucherCheck", "INVALID_CODE", "till-9"), ("voucherCheck", "NOT_FOUND", "till-9")]
    assert all(r["target"] is None for r in records)
