"""Redeeming a reward: one transaction that spends the points through the ledger, takes the
stock and issues the voucher — exactly once under races and retries, all or nothing on
failure — and cancelling its voucher, which gives everything back."""

import asyncio
from typing import Any

import pytest

import scanner.reward_redemption
from loyalty.collections import LEDGER, LOTS, MEMBERS, REWARDS
from loyalty.ledger.expiry import expire_due_lots
from scanner.books import verify
from scanner.collections import VOUCHERS
from tests.reward_support import RewardShop, ladder, open_reward_shop, set_tier
from tests.support import GraphQLClient


@pytest.fixture
async def shop(gql: GraphQLClient) -> RewardShop:
    return await open_reward_shop(gql)


async def _snapshot(shop: RewardShop) -> dict[str, Any]:
    """Everything a redemption writes: ledger, lots, members' totals, rewards, vouchers."""
    store = shop.gql.state.services.store

    async def everything(name: str) -> list[dict[str, Any]]:
        return await store.collection(name).find({}).sort("_id", 1).to_list(None)

    return {name: await everything(name) for name in (LEDGER, LOTS, MEMBERS, REWARDS, VOUCHERS)}


async def test_redeeming_spends_the_points_and_issues_an_active_voucher(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=250)
    reward = await shop.create(title="€5 off", cost=100, voucherValidDays=14,
                               minOrderTotal=2000, channels=["ONLINE"], stock=3)

    redeemed = await shop.redeem(ann, reward["id"])

    assert redeemed["errors"] == []
    assert redeemed["pointsSpent"] == 100
    assert redeemed["balance"] == 150
    assert redeemed["replayed"] is False
    voucher = redeemed["voucher"]
    assert voucher["status"] == "ACTIVE"
    assert (voucher["kind"], voucher["title"], voucher["amountOff"], voucher["currency"]) == (
        "AMOUNT_OFF", "€5 off", 500, "EUR")
    assert (voucher["minOrderTotal"], voucher["channels"]) == (2000, ["ONLINE"])
    assert voucher["expiresAt"][:10] == shop.shop.later(days=14).isoformat()[:10]
    assert await shop.balance(ann) == 150
    assert (await shop.history(ann))[0] == {"kind": "REDEEM", "points": -100,
                                             "reason": "Reward: €5 off"}
    assert await shop.stock(reward["id"]) == {"stock": 3, "redeemed": 1, "remaining": 2,
                                              "issued": 1}
    assert await shop.shop.violations() == []


async def test_points_are_taken_from_the_lots_that_expire_soonest(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=80)  # expires first
    await shop.shop.advance(days=40)
    await shop.give("ann@example.com", 200)
    ann = await shop.shop.sign_in("ann@example.com")
    reward = await shop.create(cost=100)

    await shop.redeem(ann, reward["id"])

    store = shop.gql.state.services.store
    lots = await store.collection(LOTS).find({}).sort("earned_at", 1).to_list(None)
    assert [(lot["earned"], lot["remaining"]) for lot in lots] == [(80, 0), (200, 180)]
    entry = await store.collection(LEDGER).find_one({"kind": "REDEEM"})
    assert entry is not None
    assert [a["points"] for a in entry["lots"]] == [80, 20]
    assert entry["source"]["type"] == "REWARD"


async def test_a_member_pays_the_price_of_their_tier(shop: RewardShop) -> None:
    tiers = await ladder(shop)
    await shop.member("ann@example.com", points=1000)
    await set_tier(shop, "ann@example.com", tiers["Gold"])
    ann = await shop.shop.sign_in("ann@example.com")
    reward = await shop.create(cost=300, tierCosts=[{"tierId": tiers["Silver"], "cost": 200}])

    redeemed = await shop.redeem(ann, reward["id"])

    # Gold has no price of its own: the Silver price below it applies.
    assert redeemed["pointsSpent"] == 200
    assert redeemed["balance"] == 800


async def test_forty_members_race_for_ten_units_and_exactly_ten_win(
    shop: RewardShop,
) -> None:
    members = await shop.members(40, points=500)
    reward = await shop.create(title="Tote bag", kind="FREE_PRODUCT", productSku="TOTE",
                               amountOff=None, currency=None, cost=300, stock=10)

    results = await asyncio.gather(*(shop.redeem(m, reward["id"]) for m in members))

    winners = [r for r in results if r["errors"] == []]
    losers = [r for r in results if r["errors"]]
    assert len(winners) == 10
    assert {e["code"] for r in losers for e in r["errors"]} == {"OUT_OF_STOCK"}
    assert len({w["voucher"]["code"] for w in winners}) == 10
    assert await shop.count(VOUCHERS) == 10
    assert await shop.stock(reward["id"]) == {"stock": 10, "redeemed": 10, "remaining": 0,
                                              "issued": 10}
    store = shop.gql.state.services.store
    totals = await store.collection(MEMBERS).find({}, {"points": 1}).to_list(None)
    assert sorted(t["points"] for t in totals) == [200] * 10 + [500] * 30
    assert await shop.count(LEDGER, {"kind": "REDEEM"}) == 10
    assert await verify(shop.gql.state.services.store) == []
    assert await shop.shop.violations() == []


async def test_a_double_tap_gives_one_voucher_and_every_tap_sees_it(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=1000)
    reward = await shop.create(cost=100)

    taps = await asyncio.gather(*(shop.redeem(ann, reward["id"], key="tap-1") for _ in range(10)))

    assert all(t["errors"] == [] for t in taps)
    assert len({t["voucher"]["id"] for t in taps}) == 1
    assert sorted(t["replayed"] for t in taps) == [False] + [True] * 9
    assert await shop.balance(ann) == 900
    assert await shop.count(VOUCHERS) == 1
    assert (await shop.stock(reward["id"]))["redeemed"] == 1


async def test_a_retry_after_the_points_ran_out_still_returns_the_first_voucher(
    shop: RewardShop,
) -> None:
    ann = await shop.member("ann@example.com", points=100)
    reward = await shop.create(cost=100, perMemberLimit=1, stock=1)
    first = await shop.redeem(ann, reward["id"], key="k-1")

    retry = await shop.redeem(ann, reward["id"], key="k-1")

    assert retry["errors"] == []
    assert retry["replayed"] is True
    assert retry["voucher"]["id"] == first["voucher"]["id"]
    assert (retry["pointsSpent"], retry["balance"]) == (100, 0)


async def test_the_same_key_for_another_reward_is_a_conflict(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=1000)
    one = await shop.create(title="One", cost=100)
    other = await shop.create(title="Other", cost=100)
    await shop.redeem(ann, one["id"], key="k-1")

    conflict = await shop.redeem(ann, other["id"], key="k-1")

    assert [e["code"] for e in conflict["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert await shop.balance(ann) == 900


@pytest.mark.parametrize(
    ("reward_input", "points", "code"),
    [
        ({"cost": 500}, 499, "INSUFFICIENT_POINTS"),
        ({"stock": 0}, 1000, "OUT_OF_STOCK"),
        ({"active": False}, 1000, "REWARD_INACTIVE"),
        ({"activeFrom": "2099-01-01T00:00:00Z"}, 1000, "NOT_YET_AVAILABLE"),
        ({"activeTo": "2001-01-01T00:00:00Z"}, 1000, "ENDED"),
    ],
)
async def test_a_refused_redemption_spends_nothing(
    shop: RewardShop, reward_input: dict[str, Any], points: int, code: str
) -> None:
    ann = await shop.member("ann@example.com", points=points)
    reward = await shop.create(**reward_input)
    before = await _snapshot(shop)

    refused = await shop.redeem(ann, reward["id"])

    assert [e["code"] for e in refused["errors"]] == [code]
    assert refused["voucher"] is None
    assert await _snapshot(shop) == before


async def test_tier_window_and_limit_refusals_spend_nothing(shop: RewardShop) -> None:
    tiers = await ladder(shop)
    ann = await shop.member("ann@example.com", points=1000)
    gold_only = await shop.create(title="Gold lounge", kind="EXPERIENCE", amountOff=None,
                                  currency=None, minTierId=tiers["Gold"])
    early = await shop.create(title="Preview sale", earlyAccessUntil=shop.shop.later(days=2)
                              .isoformat(), earlyAccessTierId=tiers["Silver"])
    once = await shop.create(title="Once", perMemberLimit=1)
    assert (await shop.redeem(ann, once["id"]))["errors"] == []
    before = await _snapshot(shop)

    codes = [[e["code"] for e in (await shop.redeem(ann, r["id"]))["errors"]]
             for r in (gold_only, early, once)]

    assert codes == [["NOT_ELIGIBLE_TIER"], ["EARLY_ACCESS"], ["LIMIT_REACHED"]]
    assert await _snapshot(shop) == before


async def test_early_access_lets_the_tier_in_first_and_everyone_after(
    shop: RewardShop,
) -> None:
    tiers = await ladder(shop)
    await shop.member("ann@example.com", points=1000)
    await shop.member("bob@example.com", points=1000)
    await set_tier(shop, "ann@example.com", tiers["Silver"])
    reward = await shop.create(earlyAccessUntil=shop.shop.later(days=2).isoformat(),
                               earlyAccessTierId=tiers["Silver"])
    ann = await shop.shop.sign_in("ann@example.com")
    bob = await shop.shop.sign_in("bob@example.com")

    assert (await shop.redeem(ann, reward["id"]))["errors"] == []
    assert [e["code"] for e in (await shop.redeem(bob, reward["id"]))["errors"]] == [
        "EARLY_ACCESS"]
    await shop.shop.advance(days=2)
    bob = await shop.shop.sign_in("bob@example.com")
    assert (await shop.redeem(bob, reward["id"]))["errors"] == []


async def test_unknown_reward_and_bad_key_are_typed_errors(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=1000)
    reward = await shop.create()
    await shop.gql.data("""mutation($input: RewardDeleteInput!) { rewardDelete(input: $input) {
        errors { code } } }""", {"input": {"rewardId": reward["id"]}}, token=shop.admin_token)

    unknown = await shop.redeem(ann, reward["id"])
    bad_key = await shop.redeem(ann, reward["id"], key="no spaces please")

    assert [e["code"] for e in unknown["errors"]] == ["UNKNOWN_REWARD"]
    assert [(e["code"], e["field"]) for e in bad_key["errors"]] == [
        ("INVALID_INPUT", ["input", "idempotencyKey"])]


async def test_a_failure_between_spending_and_issuing_leaves_nothing_behind(
    shop: RewardShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await shop.member("ann@example.com", points=500)
    reward = await shop.create(cost=100, stock=5)
    before = await _snapshot(shop)
    spent_before_failing: list[int] = []

    async def broken_issue(store: Any, **kwargs: Any) -> Any:
        # The debit has run inside the transaction by now: its entry is visible there.
        entries = store.collection(LEDGER).find({"kind": "REDEEM"}, session=kwargs["session"])
        spent_before_failing.extend([e["points"] async for e in entries])
        raise RuntimeError("the voucher service fell over")

    monkeypatch.setattr(scanner.reward_redemption, "issue_voucher", broken_issue)
    body = await shop.gql.execute(
        """mutation($input: RewardRedeemInput!) { rewardRedeem(input: $input) {
             voucher { id } errors { code } } }""",
        {"input": {"rewardId": reward["id"], "idempotencyKey": "k-1"}},
        token=ann.access_token,
    )

    assert spent_before_failing == [-100]
    assert [e["message"] for e in body["errors"]] == ["Internal server error."]
    assert await _snapshot(shop) == before
    monkeypatch.undo()
    retried = await shop.redeem(ann, reward["id"], key="k-1")
    assert (retried["errors"], retried["replayed"], retried["balance"]) == ([], False, 400)


async def test_cancelling_a_rewards_voucher_gives_back_points_stock_and_limit(
    shop: RewardShop,
) -> None:
    ann = await shop.member("ann@example.com", points=150)
    reward = await shop.create(title="Tote bag", cost=100, stock=1, perMemberLimit=1)
    voucher = (await shop.redeem(ann, reward["id"]))["voucher"]

    cancelled = await shop.cancel(ann, voucher["id"])

    assert cancelled["errors"] == []
    assert cancelled["voucher"]["status"] == "CANCELLED"
    assert cancelled["pointsReturned"] == 100
    assert await shop.balance(ann) == 150
    assert (await shop.history(ann))[0] == {"kind": "REVERSAL", "points": 100,
                                             "reason": "Voucher cancelled: Tote bag"}
    assert await shop.stock(reward["id"]) == {"stock": 1, "redeemed": 0, "remaining": 1,
                                              "issued": 1}
    again = await shop.redeem(ann, reward["id"])
    assert again["errors"] == []  # the unit and the member's limit came back too
    assert await shop.shop.violations() == []


async def _lots(shop: RewardShop) -> list[tuple[int, Any]]:
    store = shop.gql.state.services.store
    lots = await store.collection(LOTS).find({"remaining": {"$gt": 0}, "expired_at": None}) \
        .sort("expires_at", 1).to_list(None)
    return [(lot["remaining"], lot["expires_at"]) for lot in lots]


async def test_cancelled_points_go_back_with_the_expiry_they_had(shop: RewardShop) -> None:
    await shop.member("ann@example.com", points=80)  # expires first
    await shop.shop.advance(days=300)
    await shop.give("ann@example.com", 200)
    ann = await shop.shop.sign_in("ann@example.com")
    before = await _lots(shop)
    reward = await shop.create(cost=100)
    voucher = (await shop.redeem(ann, reward["id"]))["voucher"]

    await shop.cancel(ann, voucher["id"])

    # Not a fresh lot a year long: redeeming then cancelling cannot rescue expiring points.
    assert await _lots(shop) == before
    assert (await shop.shop.points(ann))["expiringSoon"][0]["points"] == 80
    assert await shop.shop.violations() == []


async def test_points_whose_lot_expired_before_the_cancellation_expire_after_it(
    shop: RewardShop,
) -> None:
    await shop.member("ann@example.com", points=100)
    await shop.shop.advance(days=300)
    await shop.give("ann@example.com", 200)
    ann = await shop.shop.sign_in("ann@example.com")
    reward = await shop.create(cost=90, voucherValidDays=365)  # all from the first lot
    voucher = (await shop.redeem(ann, reward["id"]))["voucher"]
    await shop.shop.advance(days=70)  # the first lot's year is over: its 10 expire
    services = shop.gql.state.services
    await expire_due_lots(services.store, clock=services.clock)
    ann = await shop.shop.sign_in("ann@example.com")

    cancelled = await shop.cancel(ann, voucher["id"])
    await expire_due_lots(services.store, clock=services.clock)

    # Nothing became spendable: the points went back into a lot whose year was over.
    assert (cancelled["pointsReturned"], cancelled["pointsExpired"]) == (0, 90)
    assert cancelled["explanation"] == (
        "0 points back in your balance; 90 points had expired since you spent them, so they "
        "expire again.")
    assert await shop.balance(ann) == 200
    assert [(e["kind"], e["points"]) for e in (await shop.history(ann))[:3]] == [
        ("EXPIRE", -90), ("REVERSAL", 90), ("EXPIRE", -10)]
    assert await shop.shop.violations() == []


async def test_a_cancellation_says_which_points_are_spendable_again_and_which_expired(
    shop: RewardShop,
) -> None:
    await shop.member("ann@example.com", points=100)
    await shop.shop.advance(days=300)
    await shop.give("ann@example.com", 200)
    ann = await shop.shop.sign_in("ann@example.com")
    reward = await shop.create(cost=150, voucherValidDays=365)  # 100 + 50 of the second lot
    voucher = (await shop.redeem(ann, reward["id"]))["voucher"]
    await shop.shop.advance(days=70)  # the first lot's year is over
    ann = await shop.shop.sign_in("ann@example.com")
    before = await shop.balance(ann)

    cancelled = await shop.cancel(ann, voucher["id"])
    services = shop.gql.state.services
    await expire_due_lots(services.store, clock=services.clock)

    assert cancelled["errors"] == []
    assert (cancelled["pointsReturned"], cancelled["pointsExpired"],
            cancelled["pointsPending"], cancelled["debtSettled"]) == (50, 100, 0, 0)
    assert cancelled["explanation"] == (
        "50 points back in your balance; 100 points had expired since you spent them, so "
        "they expire again.")
    assert await shop.balance(ann) == before + 50
    assert await shop.shop.violations() == []


async def test_a_voucher_is_given_back_once(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=100)
    reward = await shop.create(cost=100)
    voucher = (await shop.redeem(ann, reward["id"]))["voucher"]

    results = await asyncio.gather(*(shop.cancel(ann, voucher["id"]) for _ in range(5)))

    assert sorted(r["pointsReturned"] or 0 for r in results) == [0, 0, 0, 0, 100]
    assert sorted(e["code"] for r in results for e in r["errors"]) == ["CANCELLED"] * 4
    assert await shop.balance(ann) == 100
    assert (await shop.stock(reward["id"]))["redeemed"] == 0


async def test_cancelling_a_gift_voucher_returns_no_points(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=10)
    data = await shop.gql.data(
        """mutation($input: VoucherIssueInput!) { voucherIssue(input: $input) {
             voucher { id } errors { code } } }""",
        {"input": {"member": {"email": "ann@example.com"}, "kind": "FREE_SHIPPING",
                   "title": "Free shipping", "validDays": 30}},
        token=shop.admin_token,
    )

    cancelled = await shop.cancel(ann, data["voucherIssue"]["voucher"]["id"])

    assert (cancelled["errors"], cancelled["pointsReturned"]) == ([], 0)
    assert await shop.balance(ann) == 10


async def test_verification_reports_a_stock_counter_past_its_stock(shop: RewardShop) -> None:
    await shop.create(title="Sound", stock=1)
    await shop.create(title="Broken", stock=1)
    store = shop.gql.state.services.store
    await store.collection(REWARDS).update_one({"title": "Broken"},
                                               {"$set": {"redeemed": 2, "issued": 2}})

    found = await verify(store)

    assert [(v.invariant, v.detail) for v in found] == [
        ("reward stock never below zero", "stock 1, held 2, issued 2")]
