"""Referrals: every member's code, registering with it, and the reward both sides get once
when the new member's first order is recorded."""

import asyncio
from typing import Any

from auth.accounts import find_member
from loyalty.earning.orders import record_order, validate_purchase
from loyalty.ledger.entries import Actor
from loyalty.purchases import Channel, OrderLine
from scanner.gifts import deliver_gifts_now, deliver_pending_gifts
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import DEFAULT_PASSWORD, GraphQLClient, SignedIn

REGISTER = """
mutation($input: AccountRegisterInput!) { accountRegister(input: $input) {
  member { id email } errors { code message field } } }"""

REWARD_SET = """
mutation($input: ReferralRewardSetInput!) { referralRewardSet(input: $input) {
  referralReward { referrer { points voucher { title } } referee { points voucher { title } } }
  errors { code message field } } }"""

HISTORY = "{ me { history(first: 20) { edges { node { kind points reason } } } } }"
VOUCHERS = "{ me { vouchers(first: 10) { edges { node { title status amountOff } } } } }"
POINTS_REWARD = {"referrer": {"points": 500}, "referee": {"points": 200}}


async def _referral_shop(gql: GraphQLClient, reward: dict[str, Any]) -> Shop:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    data = await gql.data(REWARD_SET, {"input": reward}, token=shop.admin.access_token)
    assert data["referralRewardSet"]["errors"] == [], data
    return shop


async def _code(gql: GraphQLClient, member: SignedIn) -> str:
    code: str = (await gql.data("{ me { referralCode } }", token=member.access_token))[
        "me"]["referralCode"]
    return code


async def _register(gql: GraphQLClient, email: str, code: str | None) -> dict[str, Any]:
    data = await gql.data(REGISTER, {"input": {
        "email": email, "password": DEFAULT_PASSWORD, "name": email.split("@")[0].title(),
        "referralCode": code}})
    payload: dict[str, Any] = data["accountRegister"]
    return payload


async def _referred(gql: GraphQLClient, shop: Shop) -> tuple[SignedIn, SignedIn]:
    """Ann, and Bob who joined with Ann's code (typed in lower case with a dash)."""
    ann = await shop.member("ann@example.com")
    code = await _code(gql, ann)
    registered = await _register(gql, "bob@example.com", f"{code[:4].lower()}-{code[4:]}")
    assert registered["errors"] == [], registered
    return ann, await shop.sign_in("bob@example.com")


async def _history(gql: GraphQLClient, member: SignedIn) -> list[dict[str, Any]]:
    data = await gql.data(HISTORY, token=member.access_token)
    return [edge["node"] for edge in data["me"]["history"]["edges"]]


async def _balance(shop: Shop, member: SignedIn) -> int:
    balance: int = (await shop.points(member))["balance"]
    return balance


async def test_every_member_has_one_stable_readable_code_of_their_own(
    gql: GraphQLClient,
) -> None:
    ann = await gql.member("ann@example.com")
    bob = await gql.member("bob@example.com", name="Bob")

    codes = await asyncio.gather(*(_code(gql, ann) for _ in range(5)))

    assert len(set(codes)) == 1
    assert len(codes[0]) == 8 and codes[0].isalnum() and codes[0].upper() == codes[0]
    assert not set(codes[0]) & set("ILOU")
    assert await _code(gql, bob) != codes[0]


async def test_a_referred_members_first_order_rewards_both_sides_once(
    gql: GraphQLClient,
) -> None:
    shop = await _referral_shop(gql, POINTS_REWARD)
    ann, bob = await _referred(gql, shop)

    first = await shop.record(shop.order("bob@example.com", 1_000, order_id="B-1"))
    replay = await shop.record(shop.order("bob@example.com", 1_000, order_id="B-1"))
    second = await shop.record(shop.order("bob@example.com", 1_000, order_id="B-2"))

    assert first["pointsEarned"] == 10 and first["errors"] == []
    assert replay["replayed"] is True
    assert second["pointsEarned"] == 10
    assert await _balance(shop, ann) == 500
    assert await _balance(shop, bob) == 10 + 200 + 10
    assert [(e["kind"], e["points"], e["reason"]) for e in await _history(gql, ann)] == [
        ("EARN", 500, "Referral reward: a friend you invited made their first order")]
    assert ("EARN", 200, "Welcome reward: you joined with a friend's referral code") in [
        (e["kind"], e["points"], e["reason"]) for e in await _history(gql, bob)]
    assert await shop.violations() == []


async def test_concurrent_first_orders_reward_the_referral_once(gql: GraphQLClient) -> None:
    shop = await _referral_shop(gql, POINTS_REWARD)
    ann, bob = await _referred(gql, shop)

    results = await asyncio.gather(*(
        shop.record(shop.order("bob@example.com", 1_000, order_id=f"B-{i}")) for i in range(6)
    ))

    assert all(r["errors"] == [] and r["pointsEarned"] == 10 for r in results)
    assert await _balance(shop, ann) == 500
    assert await _balance(shop, bob) == 6 * 10 + 200
    assert await shop.violations() == []


async def test_an_unknown_referral_code_is_refused_and_creates_nothing(
    gql: GraphQLClient,
) -> None:
    await _referral_shop(gql, POINTS_REWARD)
    await gql.member("ann@example.com")

    unknown = await _register(gql, "bob@example.com", "ZZZZ-ZZZZ")
    malformed = await _register(gql, "bob@example.com", "not a code")
    sign_in = await gql.sign_in("bob@example.com")
    without = await _register(gql, "bob@example.com", "  ")

    for payload in (unknown, malformed):
        assert payload["member"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("UNKNOWN_REFERRAL_CODE", ["input", "referralCode"])]
    assert sign_in["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert without["errors"] == []  # the email was still free; a blank code is no code


async def test_no_referral_loop_or_late_link_can_be_made(gql: GraphQLClient) -> None:
    """A refers B; then A tries to join with B's code (a cycle) and B with their own code
    (self-referral): both are existing accounts, so both are refused and no link forms."""
    shop = await _referral_shop(gql, POINTS_REWARD)
    ann, bob = await _referred(gql, shop)
    bob_code = await _code(gql, bob)

    cycle = await _register(gql, "ann@example.com", bob_code)
    self_referral = await _register(gql, "bob@example.com", bob_code)
    await shop.record(shop.order("ann@example.com", 1_000))  # Ann's first order

    assert cycle["errors"][0]["code"] == "EMAIL_TAKEN"
    assert self_referral["errors"][0]["code"] == "EMAIL_TAKEN"
    assert await _balance(shop, ann) == 10  # no reward: Ann was referred by nobody
    assert await _balance(shop, bob) == 0
    await shop.record(shop.order("bob@example.com", 1_000))
    assert await _balance(shop, ann) == 10 + 500
    assert await _balance(shop, bob) == 10 + 200


VOUCHER_GIFTS = {
    "referrer": {"voucher": {"kind": "AMOUNT_OFF", "amountOff": 500, "currency": "EUR",
                             "validDays": 60, "title": "Thanks for inviting a friend"}},
    "referee": {"voucher": {"kind": "AMOUNT_OFF", "amountOff": 500, "currency": "EUR",
                            "validDays": 60, "title": "Welcome gift"}},
}


async def _gift_vouchers(gql: GraphQLClient, ann: SignedIn, bob: SignedIn) -> None:
    for member, title in ((ann, "Thanks for inviting a friend"), (bob, "Welcome gift")):
        vouchers = (await gql.data(VOUCHERS, token=member.access_token))["me"]["vouchers"]
        assert [e["node"] for e in vouchers["edges"]] == [
            {"title": title, "status": "ACTIVE", "amountOff": 500}]


async def test_referral_vouchers_arrive_with_the_first_order(gql: GraphQLClient) -> None:
    shop = await _referral_shop(gql, VOUCHER_GIFTS)
    ann, bob = await _referred(gql, shop)

    await shop.record(shop.order("bob@example.com", 1_000))
    await shop.record(shop.order("bob@example.com", 2_000))

    await _gift_vouchers(gql, ann, bob)  # without waiting for the gifts job
    store, clock = gql.state.services.store, gql.state.services.clock
    assert await deliver_pending_gifts(store, clock=clock) == 0
    assert await _balance(shop, ann) == 0


async def test_referral_vouchers_are_issued_once_however_the_deliveries_race(
    gql: GraphQLClient,
) -> None:
    shop = await _referral_shop(gql, VOUCHER_GIFTS)
    ann, bob = await _referred(gql, shop)
    store, clock = gql.state.services.store, gql.state.services.clock
    bob_account = await find_member(store, account_id=None, email="bob@example.com")
    assert bob_account is not None
    recorded = await record_order(
        store, member_id=bob_account.id, actor=Actor("ADMIN", "test"), store_id=None,
        clock=clock, audit=None, purchase=validate_purchase(
            order_id="B-1", channel=Channel.ONLINE, total=1_000, currency="EUR",
            occurred_at=clock(), lines=[OrderLine("SKU", None, 1, 1_000)]),
    )

    # The order's own delivery and four runs of the gifts job, all at once.
    runs = await asyncio.gather(
        deliver_gifts_now(store, keys=recorded.gifts_pending, clock=clock),
        *(deliver_pending_gifts(store, clock=clock) for _ in range(4)),
    )

    assert len(recorded.gifts_pending) == 2
    assert sum(runs) == 2
    assert await deliver_pending_gifts(store, clock=clock) == 0
    await _gift_vouchers(gql, ann, bob)


async def test_a_refunded_first_order_keeps_the_referral_reward(gql: GraphQLClient) -> None:
    """The reward pays for bringing in a customer who bought; a refund does not undo that
    (documented in loyalty/engagement/referrals.py)."""
    shop = await _referral_shop(gql, POINTS_REWARD)
    ann, bob = await _referred(gql, shop)
    await shop.record(shop.order("bob@example.com", 1_000, order_id="B-1"))

    refund = await shop.refund("B-1", "RF-1", amount=1_000)
    await shop.record(shop.order("bob@example.com", 1_000, order_id="B-2"))

    assert refund["pointsReversed"] == 10
    assert await _balance(shop, ann) == 500
    assert await _balance(shop, bob) == 200 + 10
    assert await shop.violations() == []


async def test_without_a_reward_set_a_referral_gives_nothing_and_input_is_checked(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    ann, bob = await _referred(gql, shop)
    await shop.record(shop.order("bob@example.com", 1_000))
    bad = await gql.data(REWARD_SET, {"input": {
        "referrer": {"points": 0},
        "referee": {"voucher": {"kind": "PERCENT_OFF", "title": "x", "validDays": 10}}}},
        token=shop.admin.access_token)
    denied = await gql.execute(REWARD_SET, {"input": POINTS_REWARD}, token=ann.access_token)

    assert await _balance(shop, ann) == 0
    assert await _balance(shop, bob) == 10
    assert [(e["code"], e["field"]) for e in bad["referralRewardSet"]["errors"]] == [
        ("INVALID_INPUT", ["input", "referrer", "points"])]
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
