"""Property: any sequence of earns, redemptions, cancellations, refunds, adjustments and
expiries keeps `verify` clean (the roll-ups included), and the programme's figures read
from the roll-ups equal the same figures counted from the ledger and the lots."""

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.collections import ACCOUNTS, LEDGER, LOTS
from loyalty.collections import MEMBERS as MEMBERS_COLLECTION
from loyalty.conditions import Conditions
from loyalty.earning.orders import record_order, validate_purchase
from loyalty.earning.refunds import refund_order
from loyalty.earning.rules.model import EarningRule, Formula, FormulaKind, Limits, TriggerKind
from loyalty.earning.rules.store import create_rule
from loyalty.errors import InsufficientPoints, RefundExceedsOrder
from loyalty.insights.figures import MAX_DAYS, figures
from loyalty.ledger.adjustments import adjust_points
from loyalty.ledger.entries import Actor
from loyalty.ledger.expiry import expire_due_lots
from loyalty.members import directory
from loyalty.programme.settings import ExpiryKind, update_programme
from loyalty.purchases import Channel, OrderLine
from loyalty.rewards.catalogue import create_reward
from loyalty.rewards.policy import OutOfStock, RewardDraft, RewardKind
from scanner.books import verify
from scanner.reward_redemption import cancel_member_voucher, redeem_reward
from store import KizunaError, Session, Store, connect
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


@dataclass(frozen=True)
class Redeem:
    member: int


@dataclass(frozen=True)
class Cancel:
    voucher: int


operations = st.lists(
    st.one_of(
        st.builds(Earn, st.integers(0, 1), st.integers(1, 50_000)),
        st.builds(Refund, st.integers(0, 9), st.integers(1, 30_000)),
        st.builds(Adjust, st.integers(0, 1),
                  st.integers(-400, 400).filter(lambda p: p != 0)),
        st.builds(Wait, st.integers(1, 200)),
        st.builds(Redeem, st.integers(0, 1)),
        st.builds(Cancel, st.integers(0, 9)),
    ),
    min_size=1, max_size=16,
)


type Step = Earn | Refund | Adjust | Wait | Redeem | Cancel


async def run(uri: str, steps: list[Step]) -> list[str]:
    store = connect(uri, f"prop_{uuid.uuid4().hex[:12]}")
    clock = ManualClock()
    try:
        for member in MEMBERS:
            await join(store, member, clock())
        reward = await create_reward(store, clock=clock, audit=None, draft=RewardDraft(
            title="Tote bag", kind=RewardKind.FREE_PRODUCT, cost=150, product_sku="TOTE",
            stock=3))
        vouchers: list[tuple[str, str]] = []
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
            elif isinstance(step, Redeem):
                try:
                    redeemed = await redeem_reward(
                        store, reward_id=reward.id, member_id=MEMBERS[step.member],
                        idempotency_key=f"k{index}", clock=clock)
                    vouchers.append((redeemed.voucher.id, MEMBERS[step.member]))
                except (InsufficientPoints, OutOfStock):
                    pass
            elif isinstance(step, Cancel) and vouchers:
                voucher_id, member_id = vouchers[step.voucher % len(vouchers)]
                with contextlib.suppress(KizunaError):  # cancelled or expired already
                    await cancel_member_voucher(store, voucher_id=voucher_id,
                                                member_id=member_id, clock=clock)
        clock.now += timedelta(days=1)
        return [str(v) for v in await verify(store)] + await figures_differences(store, clock())
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()


async def join(store: Store, member_id: str, at: datetime) -> None:
    """A member's account, written as registration writes it (with its enrolment)."""
    enrol = directory.enrolment(store)

    async def work(session: Session) -> None:
        await store.collection(ACCOUNTS).insert_one(
            {"_id": member_id, "email": f"{member_id}@example.com", "name": member_id,
             "role": "MEMBER", "created_at": at}, session=session)
        await enrol(session, member_id, at)

    await store.transaction(work)


async def figures_differences(store: Store, now: datetime) -> list[str]:
    """The figures from the roll-ups against the same figures counted from the records."""
    entries = await store.collection(LEDGER).find({}).to_list(None)
    lots = await store.collection(LOTS).find({}).to_list(None)
    members = await store.collection(MEMBERS_COLLECTION).find({}).to_list(None)
    today = now.date()
    start = max(min(e["recorded_at"] for e in entries).date() if entries else today,
                today - timedelta(days=MAX_DAYS - 1))
    found = await figures(store, start=start, end=today, now=now)

    def moved(kind: str, sign: int) -> int:
        return sum(sign * e["points"] for e in entries if e["kind"] == kind
                   and sign * e["points"] > 0 and e["recorded_at"].date() >= start)

    def expiring(days: int) -> int:
        return sum(lot["remaining"] for lot in lots if lot["expired_at"] is None
                   and lot["expires_at"] is not None
                   and today <= lot["expires_at"].date() < today + timedelta(days=days))

    def active(days: int) -> int:
        return len({e["member_id"] for e in entries
                    if e["kind"] in ("EARN", "REDEEM") and e["points"]
                    and e["recorded_at"].date() > today - timedelta(days=days)})

    expected = {
        "earned": moved("EARN", 1), "redeemed": moved("REDEEM", -1),
        "cancelled": moved("REVERSAL", 1), "reversed": moved("REVERSAL", -1),
        "expired": moved("EXPIRE", -1), "adjusted in": moved("ADJUST", 1),
        "adjusted out": moved("ADJUST", -1),
        "outstanding": sum(lot["remaining"] for lot in lots if lot["expired_at"] is None),
        "debt": sum(m.get("debt", 0) for m in members),
        "expiring": tuple(expiring(n) for n in (30, 60, 90)),
        "active": (active(30), active(90)), "members": len(MEMBERS),
        "tote redemptions": (moved("REDEEM", -1) - moved("REVERSAL", 1)) // 150,
    }
    flows = found.flows
    actual = {
        "earned": flows.earned, "redeemed": flows.redeemed,
        "cancelled": flows.redemptions_cancelled, "reversed": flows.reversed,
        "expired": flows.expired, "adjusted in": flows.adjusted_in,
        "adjusted out": flows.adjusted_out, "outstanding": found.outstanding,
        "debt": found.debt, "expiring": tuple(found.expiring[n] for n in (30, 60, 90)),
        "active": (found.members_active[30], found.members_active[90]),
        "members": found.members_total,
        "tote redemptions": sum(r.redemptions for r in found.rewards),
    }
    return [f"{name}: roll-ups say {actual[name]}, records {value}"
            for name, value in expected.items() if actual[name] != value]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=operations)
def test_any_sequence_of_movements_keeps_the_ledger_and_its_roll_ups_consistent(
    steps: list[Step], database_uri_sync: str
) -> None:
    assert asyncio.run(run(database_uri_sync, steps)) == []
