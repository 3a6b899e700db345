"""The points ledger through GraphQL: earning, replays, refunds, debt, pending, adjustments."""

import asyncio
from typing import Any

import pytest

import loyalty.earning.orders
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import GraphQLClient

HISTORY = """{ me { history(first: 10) { edges { node { kind points reason
  breakdown { ruleName points } } } pageInfo { hasNextPage endCursor } } } }"""


@pytest.fixture
async def shop(gql: GraphQLClient) -> Shop:
    opened = await open_shop(gql)
    await opened.rule(PER_EURO)
    return opened


async def counts(shop: Shop) -> dict[str, int]:
    store = shop.gql.state.services.store
    return {name: await store.collection(name).count_documents({})
            for name in ("ledger", "lots", "orders", "members")}


async def test_an_order_earns_per_the_rules_and_explains_itself(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    await shop.rule({"name": "Shoe bonus", "trigger": "ORDER",
                     "conditions": {"categoriesInclude": ["shoes"]},
                     "formula": {"kind": "FIXED", "points": 25}})
    result = await shop.record(shop.order("ann@example.com", 12_345))
    assert result["errors"] == []
    assert result["pointsEarned"] == 123 + 25
    assert {(b["ruleName"], b["points"]) for b in result["breakdown"]} == {
        ("Base", 123), ("Shoe bonus", 25)}
    points = await shop.points(ann)
    assert (points["balance"], points["pending"], points["lifetimeEarned"]) == (148, 0, 148)
    history = (await shop.gql.data(HISTORY, token=ann.access_token))["me"]["history"]
    [entry] = [edge["node"] for edge in history["edges"]]
    assert entry["kind"] == "EARN" and entry["points"] == 148
    assert entry["reason"].startswith("Order order-")
    assert {b["ruleName"] for b in entry["breakdown"]} == {"Base", "Shoe bonus"}
    assert await shop.violations() == []


async def test_an_order_that_earns_nothing_is_kept_for_replays_but_not_shown_as_history(
    shop: Shop,
) -> None:
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 5_000, order_id="A-1"))
    # The only rule earns on euros: a dollar order earns nothing.
    nothing = shop.order("ann@example.com", 5_000, order_id="A-2", currency="USD")
    first = await shop.record(nothing)
    replay = await shop.record(nothing)
    refund = await shop.refund("A-2", "RF-1", amount=5_000)

    assert (first["pointsEarned"], first["errors"]) == (0, [])
    assert (replay["replayed"], replay["entry"]["id"]) == (True, first["entry"]["id"])
    assert (refund["pointsReversed"], refund["errors"]) == (0, [])
    history = (await shop.gql.data(HISTORY, token=ann.access_token))["me"]["history"]
    assert [(e["node"]["kind"], e["node"]["points"]) for e in history["edges"]] == [
        ("EARN", 50)]
    assert history["pageInfo"]["hasNextPage"] is False
    assert await shop.violations() == []


async def test_a_replayed_order_returns_the_first_result_and_a_changed_one_conflicts(
    shop: Shop,
) -> None:
    await shop.member("ann@example.com")
    order = shop.order("ann@example.com", 5_000, order_id="A-1")
    first = await shop.record(order)
    again = await shop.record(order)
    assert again["replayed"] is True and first["replayed"] is False
    assert again["entry"]["id"] == first["entry"]["id"]
    assert again["pointsEarned"] == first["pointsEarned"] == 50
    changed = await shop.record({**order, "total": 6_000})
    assert [e["code"] for e in changed["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert (await counts(shop))["ledger"] == 1


async def test_fifty_concurrent_duplicates_credit_once(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    order = shop.order("ann@example.com", 10_000, order_id="DUP-1")
    results = await asyncio.gather(*(shop.record(order) for _ in range(50)))
    assert all(r["errors"] == [] for r in results)
    assert sum(not r["replayed"] for r in results) == 1
    assert {r["entry"]["id"] for r in results} == {results[0]["entry"]["id"]}
    assert (await shop.points(ann))["balance"] == 100
    assert (await counts(shop))["ledger"] == 1
    assert await shop.violations() == []


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"member": {"email": "nobody@example.com"}}, "UNKNOWN_MEMBER", ["input", "member"]),
        ({"total": 0}, "INVALID_ORDER", ["input", "total"]),
        ({"total": -100}, "INVALID_ORDER", ["input", "total"]),
        ({"currency": "XXY"}, "UNKNOWN_CURRENCY", ["input", "currency"]),
        ({"items": []}, "INVALID_ORDER", ["input", "items"]),
        ({"orderId": "bad id with spaces"}, "INVALID_ORDER", ["input", "orderId"]),
        ({"member": {"id": "TWVtYmVyOm5vcGU="}}, "UNKNOWN_MEMBER", ["input", "member"]),
    ],
)
async def test_bad_orders_get_a_typed_error_and_write_nothing(
    shop: Shop, change: dict[str, Any], code: str, field: list[str]
) -> None:
    await shop.member("ann@example.com")
    before = await counts(shop)
    result = await shop.record({**shop.order("ann@example.com", 1_000), **change})
    assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)]
    assert result["pointsEarned"] is None
    assert await counts(shop) == before


async def test_members_cannot_record_orders(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    body = await shop.gql.execute(
        "mutation($input: OrderRecordInput!) { orderRecord(input: $input) { pointsEarned } }",
        {"input": shop.order("ann@example.com", 1_000)}, token=ann.access_token,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await counts(shop))["ledger"] == 0


async def test_partial_then_full_refunds_reverse_exactly_what_the_order_earned(
    shop: Shop,
) -> None:
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_050, order_id="R-1"))  # 100 points
    first = await shop.refund("R-1", "RF-1", amount=3_350)
    second = await shop.refund("R-1", "RF-2", amount=3_350)
    third = await shop.refund("R-1", "RF-3", amount=3_350)
    reversed_points = [r["pointsReversed"] for r in (first, second, third)]
    assert reversed_points == [33, 33, 34]  # cumulative rounding: exactly 100 in all
    assert (await shop.points(ann))["balance"] == 0
    too_much = await shop.refund("R-1", "RF-4", amount=1)
    assert [e["code"] for e in too_much["errors"]] == ["REFUND_EXCEEDS_ORDER"]
    assert await shop.violations() == []


async def test_a_return_of_items_reverses_their_share(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    items = [{"sku": "BOOT", "category": "shoes", "quantity": 2, "unitPrice": 4_000},
             {"sku": "SOCK", "category": "socks", "quantity": 1, "unitPrice": 2_000}]
    await shop.record(shop.order("ann@example.com", 10_000, order_id="I-1", items=items))
    returned = await shop.refund("I-1", "RET-1", items=[{"sku": "BOOT", "quantity": 1}])
    assert (returned["refundedAmount"], returned["pointsReversed"]) == (4_000, 40)
    again = await shop.refund("I-1", "RET-2", items=[{"sku": "BOOT", "quantity": 2}])
    assert [e["code"] for e in again["errors"]] == ["REFUND_EXCEEDS_ORDER"]
    unknown = await shop.refund("I-1", "RET-3", items=[{"sku": "HAT", "quantity": 1}])
    assert [e["code"] for e in unknown["errors"]] == ["INVALID_ORDER"]
    assert (await shop.points(ann))["balance"] == 60


async def test_refund_replays_and_unknown_orders(shop: Shop) -> None:
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 5_000, order_id="P-1"))
    first = await shop.refund("P-1", "RF-9", amount=1_000)
    replay = await shop.refund("P-1", "RF-9", amount=1_000)
    assert replay["replayed"] is True and replay["pointsReversed"] == first["pointsReversed"]
    conflict = await shop.refund("P-1", "RF-9", amount=2_000)
    assert [e["code"] for e in conflict["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    unknown = await shop.refund("NOPE", "RF-10", amount=1_000)
    assert [e["code"] for e in unknown["errors"]] == ["UNKNOWN_ORDER"]
    both = await shop.refund("P-1", "RF-11", amount=10, items=[{"sku": "SKU-1", "quantity": 1}])
    assert [e["code"] for e in both["errors"]] == ["INVALID_INPUT"]
    assert await shop.violations() == []


async def test_refund_of_spent_points_leaves_a_debt_that_earnings_settle(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000, order_id="D-1"))  # 100
    await shop.adjust("ann@example.com", -80, "Points used at the counter")
    await shop.refund("D-1", "DR-1", amount=10_000)  # reverse 100: 20 left, 80 owed
    points = await shop.points(ann)
    assert (points["balance"], points["debt"]) == (0, 80)
    await shop.record(shop.order("ann@example.com", 5_000))  # 50 settle debt
    assert (await shop.points(ann))["debt"] == 30
    await shop.record(shop.order("ann@example.com", 10_000))  # 100: 30 settle, 70 left
    points = await shop.points(ann)
    assert (points["balance"], points["debt"], points["lifetimeEarned"]) == (70, 0, 250)
    assert await shop.violations() == []


async def test_pending_points_become_spendable_after_the_return_window(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    await shop.gql.data("mutation { programmeUpdate(input: {pendingDays: 14}) "
                        "{ errors { code } } }", token=shop.admin.access_token)
    await shop.record(shop.order("ann@example.com", 10_000))
    await shop.adjust("ann@example.com", 5, "Welcome gift")  # not an order: spendable now
    points = await shop.points(ann)
    assert (points["balance"], points["pending"]) == (5, 100)
    await shop.advance(days=14, seconds=1)
    points = await shop.points(await shop.sign_in("ann@example.com"))
    assert (points["balance"], points["pending"]) == (105, 0)


async def test_concurrent_removals_never_overdraw(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    await shop.adjust("ann@example.com", 100, "Opening balance")
    results = await asyncio.gather(*(shop.adjust("ann@example.com", -30, "Used at till")
                                      for _ in range(12)))
    succeeded = [r for r in results if not r["errors"]]
    assert len(succeeded) == 3
    assert {e["code"] for r in results if r["errors"] for e in r["errors"]} == {
        "INSUFFICIENT_POINTS"}
    assert (await shop.points(ann))["balance"] == 10
    assert await shop.violations() == []


async def test_a_campaign_budget_is_never_exceeded_under_concurrency(shop: Shop) -> None:
    await shop.rule({"name": "Launch bonus", "trigger": "ORDER",
                     "formula": {"kind": "FIXED", "points": 10}, "limits": {"budget": 55}})
    emails = [f"m{i}@example.com" for i in range(4)]
    for email in emails:
        await shop.member(email)
    results = await asyncio.gather(*(shop.record(shop.order(emails[i % 4], 100))
                                     for i in range(16)))
    bonus = [b["points"] for r in results for b in r["breakdown"] if b["ruleName"] ==
             "Launch bonus"]
    assert sum(bonus) == 55
    assert sorted(bonus) == [5, 10, 10, 10, 10, 10]
    assert await shop.violations() == []


async def test_adjustments_need_a_reason_and_an_admin(shop: Shop) -> None:
    ann = await shop.member("ann@example.com")
    no_reason = await shop.adjust("ann@example.com", 10, "  ")
    assert [e["code"] for e in no_reason["errors"]] == ["INVALID_INPUT"]
    zero = await shop.adjust("ann@example.com", 0, "Nothing")
    assert [e["field"] for e in zero["errors"]] == [["input", "points"]]
    body = await shop.gql.execute(
        'mutation { pointsAdjust(input: {member: {email: "ann@example.com"}, points: 5, '
        'reason: "Because"}) { entry { points } } }', token=ann.access_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ok = await shop.adjust("ann@example.com", 10, "Sorry for the delay")
    assert ok["entry"] == {"kind": "ADJUST", "points": 10, "reason": "Sorry for the delay"}


async def test_a_crash_between_writes_leaves_nothing_behind(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await shop.member("ann@example.com")
    await shop.rule({"name": "Capped", "trigger": "ORDER",
                     "formula": {"kind": "FIXED", "points": 5},
                     "limits": {"perMemberPerDay": 50}})
    before = await counts(shop)

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut after the ledger writes")

    # The usage counters are written after the entry, the lot and the member's totals.
    monkeypatch.setattr(loyalty.earning.orders, "record_usage", crash)
    body = await shop.gql.execute(
        "mutation($input: OrderRecordInput!) { orderRecord(input: $input) { pointsEarned } }",
        {"input": shop.order("ann@example.com", 2_000, order_id="CRASH-1")},
        token=shop.api_key,
    )
    assert body["errors"][0]["message"] == "Internal server error."
    assert await counts(shop) == before
    monkeypatch.undo()
    retried = await shop.record(shop.order("ann@example.com", 2_000, order_id="CRASH-1"))
    assert retried["pointsEarned"] == 25 and retried["replayed"] is False
    assert (await shop.points(ann))["balance"] == 25
    assert await shop.violations() == []
