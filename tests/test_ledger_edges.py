"""Edge cases found in review: replays after the fact, inflated lines, expiry and refunds."""

import asyncio
from datetime import timedelta

import pytest

from loyalty.ledger.expiry import expire_due_lots
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import GraphQLClient


@pytest.fixture
async def shop(gql: GraphQLClient) -> Shop:
    opened = await open_shop(gql)
    await opened.rule(PER_EURO)
    return opened


async def test_replaying_the_refund_that_completed_an_order_returns_it(shop: Shop) -> None:
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000, order_id="F-1"))
    first = await shop.refund("F-1", "FULL", amount=10_000)
    replays = await asyncio.gather(*(shop.refund("F-1", "FULL", amount=10_000)
                                     for _ in range(5)))
    assert all(r["errors"] == [] and r["replayed"] for r in replays)
    assert {r["pointsReversed"] for r in replays} == {first["pointsReversed"]} == {100}
    items = shop.order("ann@example.com", 3_000, order_id="F-2",
                       items=[{"sku": "HAT", "quantity": 1, "unitPrice": 3_000}])
    await shop.record(items)
    returned = await shop.refund("F-2", "RET", items=[{"sku": "HAT", "quantity": 1}])
    again = await shop.refund("F-2", "RET", items=[{"sku": "HAT", "quantity": 1}])
    assert again["replayed"] is True and again["pointsReversed"] == returned["pointsReversed"]
    assert await shop.violations() == []


async def test_lines_worth_more_than_the_total_cannot_inflate_points(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    await shop.rule({"name": "Shoes x5", "trigger": "ORDER",
                     "conditions": {"categoriesInclude": ["shoes"], "currency": "EUR"},
                     "formula": {"kind": "PER_CURRENCY_UNIT", "points": 5,
                                 "perAmountMinor": 100}})
    lines = [{"sku": "BOOT", "category": "shoes", "quantity": 100_000,
              "unitPrice": 1_000_000_000},
             {"sku": "SOCK", "category": "socks", "quantity": 1, "unitPrice": 0}]
    result = await shop.record(shop.order("ann@example.com", 10_000, items=lines))
    assert result["pointsEarned"] == 100 + 500
    absurd = await shop.record(shop.order("ann@example.com", 100, items=[
        {"sku": "X", "quantity": 10**9, "unitPrice": 1}]))
    assert [e["field"] for e in absurd["errors"]] == [["input", "items", "0", "quantity"]]
    assert (await shop.points(ann))["balance"] == 600


async def test_discounted_order_returns_refund_what_was_paid(shop: Shop) -> None:
    await shop.member("ann@example.com")
    items = [{"sku": "A", "quantity": 1, "unitPrice": 6_000},
             {"sku": "B", "quantity": 1, "unitPrice": 4_000}]
    await shop.record(shop.order("ann@example.com", 9_000, order_id="DISC", items=items))
    first = await shop.refund("DISC", "R-A", items=[{"sku": "A", "quantity": 1}])
    last = await shop.refund("DISC", "R-B", items=[{"sku": "B", "quantity": 1}])
    assert (first["refundedAmount"], last["refundedAmount"]) == (5_400, 3_600)
    assert first["pointsReversed"] + last["pointsReversed"] == 90


async def test_refunding_an_order_whose_points_expired_creates_no_debt(shop: Shop) -> None:
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000, order_id="OLD"))
    await shop.advance(days=370)
    services = shop.gql.state.services
    await expire_due_lots(services.store, clock=services.clock)
    refund = await shop.refund("OLD", "LATE", amount=10_000)
    assert refund["pointsReversed"] == 0
    points = await shop.points(await shop.sign_in("ann@example.com"))
    assert (points["balance"], points["debt"]) == (0, 0)
    assert await shop.violations() == []


async def test_an_order_too_old_to_keep_its_points_is_rejected_but_replays(shop: Shop) -> None:
    await shop.member("ann@example.com")
    kept = shop.order("ann@example.com", 1_000, order_id="KEEP")
    assert (await shop.record(kept))["pointsEarned"] == 10
    await shop.gql.data(
        "mutation { programmeUpdate(input: {expiryMonths: 1}) { errors { code } } }",
        token=shop.admin.access_token)
    stale = shop.order("ann@example.com", 1_000, at=shop.now() - timedelta(days=60))
    result = await shop.record(stale)
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("INVALID_ORDER", ["input", "occurredAt"])]
    await shop.advance(days=45)
    replay = await shop.record(kept)  # too old now, but it was recorded: a replay
    assert replay["replayed"] is True and replay["pointsEarned"] == 10


@pytest.mark.parametrize(
    ("change", "field"),
    [('timezone: "America"', "timezone"), ("pendingDays: 365", "pendingDays")],
)
async def test_programme_settings_that_make_no_sense_are_rejected(
    shop: Shop, change: str, field: str
) -> None:
    data = await shop.gql.data(
        f"mutation {{ programmeUpdate(input: {{{change}}}) {{ errors {{ code field }} }} }}",
        token=shop.admin.access_token)
    assert data["programmeUpdate"]["errors"] == [{"code": "INVALID_INPUT",
                                                  "field": ["input", field]}]


async def test_rules_with_unrepresentable_dates_or_exclusive_multipliers_are_rejected(
    shop: Shop,
) -> None:
    query = """mutation($input: EarningRuleInput!) { earningRuleCreate(input: $input) {
      rule { id } errors { code field } } }"""
    far = {"name": "Forever", "trigger": "ORDER", "conditions": {"endsAt": "9999-12-31T23:59:59Z"},
           "formula": {"kind": "FIXED", "points": 1}}
    double = {"name": "Double", "trigger": "ORDER", "stacking": "EXCLUSIVE",
              "formula": {"kind": "MULTIPLIER", "factor": 2}}
    for rule, field in ((far, ["input", "conditions", "endsAt"]), (double, ["input", "stacking"])):
        data = await shop.gql.data(query, {"input": rule}, token=shop.admin.access_token)
        assert data["earningRuleCreate"]["errors"] == [{"code": "INVALID_RULE", "field": field}]
    anyone = await shop.gql.data("{ programRules { name howToEarn } }")
    assert [r["name"] for r in anyone["programRules"]] == ["Base"]


async def test_an_adjustment_with_an_idempotency_key_applies_once(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    query = """mutation($input: PointsAdjustInput!) { pointsAdjust(input: $input) {
      entry { id points } errors { code } } }"""
    body = {"member": {"email": "ann@example.com"}, "points": 25, "reason": "Apology",
            "idempotencyKey": "ticket-42"}
    results = await asyncio.gather(*(shop.gql.data(query, {"input": body},
                                                   token=shop.admin.access_token)
                                     for _ in range(5)))
    assert len({r["pointsAdjust"]["entry"]["id"] for r in results}) == 1
    other = await shop.gql.data(query, {"input": {**body, "points": 30}},
                                token=shop.admin.access_token)
    assert other["pointsAdjust"]["errors"] == [{"code": "IDEMPOTENCY_CONFLICT"}]
    assert (await shop.points(ann))["balance"] == 25
