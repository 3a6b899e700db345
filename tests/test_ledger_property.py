"""Property: any sequence of earns, spends, refunds and expiries keeps `verify` clean."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.earning.orders import record_order, validate_purchase
from loyalty.earning.refunds import refund_order
from loyalty.earning.rules.model import (
    Conditions,
    EarningRule,
    Formula,
    FormulaKind,
    Limits,
    TriggerKind,
)
from loyalty.earning.rules.store import create_rule
from loyalty.errors import InsufficientPoints, RefundExceedsOrder
from loyalty.ledger.adjustments import adjust_points
from loyalty.ledger.entries import Actor
from loyalty.ledger.expiry import expire_due_lots
from loyalty.programme.settings import ExpiryKind, update_programme
from loyalty.purchases import Channel, OrderLine
from scanner.books import verify
from store import connect
from tests.support import ManualClock

ACTOR = Actor("ADMIN", "property-test")
MEMBERS = ("m1", "m2")


@dataclass(frozen=True)
class Earn:
    member: int
    cents: int


@dataclass(frozen=True)
class Refund:
    order: int
    cents: int


@dataclass(frozen=True)
class Adjust:
    member: int
    points: int


@dataclass(frozen=True)
class Wait:
    days: int


operations = st.lists(
    st.one_of(
        st.builds(Earn, st.integers(0, 1), st.integers(1, 50_000)),
        st.builds(Refund, st.integers(0, 9), st.integers(1, 30_000)),
        st.builds(Adjust, st.integers(0, 1),
                  st.integers(-400, 400).filter(lambda p: p != 0)),
        st.builds(Wait, st.integers(1, 200)),
    ),
    min_size=1, max_size=14,
)


async def run(uri: str, steps: list[Earn | Refund | Adjust | Wait]) -> list[str]:
    store = connect(uri, f"prop_{uuid.uuid4().hex[:12]}")
    clock = ManualClock()
    try:
        await update_programme(store, audit=None, expiry_kind=ExpiryKind.MONTHS_AFTER_EARNING,
                               expiry_months=6, pending_days=3, clock=clock)
        await create_rule(store, clock=clock, audit=None, draft=EarningRule(
            id="draft", name="Base", description="", trigger=TriggerKind.ORDER,
            action_type=None, conditions=Conditions(currency="EUR"),
            formula=Formula(FormulaKind.PER_CURRENCY_UNIT, points=1, per_amount_minor=100),
            limits=Limits(),
        ))
        orders: list[str] = []
        for index, step in enumerate(steps):
            if isinstance(step, Earn):
                order_id = f"o{index}"
                purchase = validate_purchase(
                    order_id=order_id, channel=Channel.ONLINE, total=step.cents,
                    currency="EUR", lines=[OrderLine("SKU", None, 1, step.cents)],
                    occurred_at=clock())
                await record_order(store, member_id=MEMBERS[step.member], purchase=purchase,
                                   actor=ACTOR, store_id=None, clock=clock, audit=None)
                orders.append(order_id)
            elif isinstance(step, Refund) and orders:
                try:
                    await refund_order(store, order_id=orders[step.order % len(orders)],
                                       refund_id=f"r{index}", amount=step.cents, lines=[],
                                       actor=ACTOR, clock=clock, audit=None)
                except RefundExceedsOrder:
                    pass
            elif isinstance(step, Adjust):
                try:
                    await adjust_points(store, member_id=MEMBERS[step.member],
                                        points=step.points, reason="Property test",
                                        actor=ACTOR, clock=clock, audit=None)
                except InsufficientPoints:
                    pass
            elif isinstance(step, Wait):
                clock.advance(days=step.days)
                await expire_due_lots(store, clock=clock)
        clock.now += timedelta(days=1)
        return [str(v) for v in await verify(store)]
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations)
def test_any_sequence_of_movements_keeps_the_ledger_consistent(
    steps: list[Earn | Refund | Adjust | Wait], database_uri_sync: str
) -> None:
    assert asyncio.run(run(database_uri_sync, steps)) == []
