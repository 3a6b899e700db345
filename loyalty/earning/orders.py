"""Recording paid orders: points earned per the rules, exactly once per order id."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import events
from events.audit import Audit, Target
from loyalty.collections import ORDERS
from loyalty.conditions import MemberFacts, Purchase
from loyalty.earning import order_events
from loyalty.earning.rules.badges import grant_rule_badges
from loyalty.earning.rules.evaluate import evaluate, with_tier_bonus
from loyalty.earning.rules.model import segments_named
from loyalty.earning.rules.store import active_rules
from loyalty.earning.rules.usage import load_usage, record_usage
from loyalty.engagement.referrals import reward_first_order
from loyalty.errors import InvalidOrder
from loyalty.idempotency import check_external_id, ensure_same_payload, fingerprint
from loyalty.ledger.audit import record_entry
from loyalty.ledger.entries import Actor, Entry, EntryKind, Source, entry_by_key
from loyalty.ledger.expiry_policy import expires_at
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, credit
from loyalty.money import check_currency
from loyalty.play.challenge_progress import progress_order
from loyalty.play.challenge_store import challenge_segment_names, live_challenges
from loyalty.play.leaderboard_scores import record_scores
from loyalty.programme.settings import Programme, load_programme
from loyalty.programme.tier_rules import month_key
from loyalty.purchases import Channel, OrderLine
from loyalty.segments.definitions import rule_audience
from loyalty.segments.policy import order_stat_increments
from loyalty.tiers.moves import earn_effect, record_tier_change
from store import IndexSpec, InputErrors, KizunaError, Session, Store, is_duplicate_key
from store.clock import Clock

MAX_LINES = 500
MAX_QUANTITY = 100_000
# 10^12 minor units: ten billion euros, far below what int64 arithmetic can overflow on.
MAX_AMOUNT = 10**12
# An order older than this cannot earn any more (its points would be born expired).
MAX_BACKDATING = timedelta(days=366)
MAX_CLOCK_SKEW = timedelta(minutes=5)

INDEXES = (
    IndexSpec(ORDERS, (("member_id", 1), ("occurred_at", 1)), name="member_orders"),
    IndexSpec(ORDERS, (("occurred_at", 1),), name="occurred"),
)


@dataclass(frozen=True, slots=True)
class OrderRecorded:
    entry: Entry
    order_id: str
    replayed: bool
    gifts_pending: tuple[str, ...] = ()
    """Keys of the voucher gifts (referral rewards) this order decided, to issue now."""


def validate_purchase(
    *,
    order_id: str,
    channel: Channel,
    total: int,
    currency: str,
    lines: Sequence[OrderLine],
    occurred_at: datetime,
) -> Purchase:
    """A purchase the rules can evaluate; raises InputErrors listing every problem.

    When it happened is checked by `record_order`: a replay of an order recorded long ago
    must still return its first result.
    """
    errors: list[KizunaError] = []

    def check(action: Any) -> Any:
        try:
            return action()
        except KizunaError as error:
            errors.append(error)
            return None

    oid = check(lambda: check_external_id(order_id, field=("input", "orderId"), what="order id"))
    code = check(lambda: check_currency(currency, field=("input", "currency")))
    if not 0 < total <= MAX_AMOUNT:
        errors.append(InvalidOrder(f"The order total must be positive and at most {MAX_AMOUNT}.",
                                   field=("input", "total")))
    if not lines:
        errors.append(InvalidOrder("An order needs at least one item.", field=("input", "items")))
    if len(lines) > MAX_LINES:
        errors.append(InvalidOrder(f"At most {MAX_LINES} items.", field=("input", "items")))
    for index, line in enumerate(lines):
        where = ("input", "items", str(index))
        if not line.sku.strip():
            errors.append(InvalidOrder("Every item needs a SKU.", field=(*where, "sku")))
        if not 0 < line.quantity <= MAX_QUANTITY:
            errors.append(InvalidOrder(f"Quantities must be between 1 and {MAX_QUANTITY}.",
                                       field=(*where, "quantity")))
        if not 0 <= line.unit_price <= MAX_AMOUNT:
            errors.append(InvalidOrder("Prices cannot be negative or absurdly large.",
                                       field=(*where, "unitPrice")))
    if occurred_at.tzinfo is None:
        errors.append(InvalidOrder("Give the time with its UTC offset.",
                                   field=("input", "occurredAt")))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return Purchase(
        order_id=oid, channel=channel, total=total, currency=code,
        lines=tuple(
            OrderLine(sku=line.sku.strip(), category=(line.category or "").strip() or None,
                      quantity=line.quantity, unit_price=line.unit_price)
            for line in lines
        ),
        occurred_at=occurred_at,
    )


async def record_order(
    store: Store,
    *,
    member_id: str,
    purchase: Purchase,
    actor: Actor,
    store_id: str | None,
    clock: Clock,
    audit: Audit | None,
) -> OrderRecorded:
    """Earn the points `purchase` is worth, once.

    A replay of the same order id with the same details returns the first result; with
    different details it raises IdempotencyConflict. Nothing is written on any error.
    """
    payload_hash = fingerprint(_payload(member_id, purchase, store_id))
    key = f"order:{purchase.order_id}"
    programme = await load_programme(store)
    too_old_or_early = _timing_problem(purchase.occurred_at, clock(), programme)
    if too_old_or_early is not None:
        if await entry_by_key(store, key) is not None:
            return await _replay(store, key, purchase.order_id, payload_hash)
        raise too_old_or_early
    rules = await active_rules(store)
    audience = await rule_audience(
        store, segment_names=segments_named(rules)
        | challenge_segment_names(await live_challenges(store)), member_id=member_id
    )

    async def work(session: Session) -> tuple[Entry, tuple[str, ...]]:
        now = clock()
        member = await read_member(store, member_id, session=session)
        # Segments as the member stood before this order (a win-back bonus for a lapsed
        # member applies to the order that ends the lapse), like the tier.
        facts = MemberFacts(member_id=member_id, is_first_order=member.orders_count == 0,
                            tier=member.tier.tier_id, badges=frozenset(member.badges or {}),
                            segments=audience.segments(member, now=now,
                                                       timezone=programme.timezone))
        local_date = purchase.occurred_at.astimezone(programme.timezone).date()
        usage = await load_usage(store, session, rules, member_id=member_id,
                                 local_date=local_date)
        evaluation = with_tier_bonus(
            evaluate(rules, purchase, facts, usage, timezone=programme.timezone),
            programme.tier(member.tier.tier_id),
        )
        effect = earn_effect(member, programme, points=evaluation.points, spend=purchase.total,
                             occurred_at=purchase.occurred_at, now=now)
        stats = order_stat_increments(
            total=purchase.total, lines=purchase.lines,
            month=month_key(purchase.occurred_at, programme.timezone),
        )
        movement = Movement(
            key=key, kind=EntryKind.EARN, reason=f"Order {purchase.order_id}",
            source=Source("ORDER", purchase.order_id), actor=actor,
            occurred_at=purchase.occurred_at, recorded_at=now, payload_hash=payload_hash,
            breakdown=evaluation.awards,
        )
        entry = await credit(
            store, session, movement, member=member, points=evaluation.points,
            programme=programme, order_id=purchase.order_id,
            member_changes={
                **effect.member_changes,
                "$inc": {"orders_count": 1, **effect.member_changes["$inc"], **stats},
                "$min": {"first_order_at": purchase.occurred_at},
                "$max": {"last_order_at": purchase.occurred_at},
            },
        )
        if effect.decision is not None:
            await record_tier_change(store, session, member_id=member_id,
                                     decision=effect.decision,
                                     previous_tier_id=member.tier.tier_id, now=now)
        await record_usage(store, session, evaluation.awards, rules, member_id=member_id,
                           local_date=local_date, usage=usage)
        await grant_rule_badges(store, session, rules=rules, evaluation=evaluation,
                                member_id=member_id, held=member.badges or {}, now=now)
        challenges = await progress_order(store, session, member=member, facts=facts,
                                          purchase=purchase, store_id=store_id,
                                          programme=programme, now=now)
        await record_scores(store, session, member=member, points=evaluation.points,
                            at=purchase.occurred_at, now=now, programme=programme,
                            progress=challenges.changes)
        order = _order_document(member_id, purchase, store_id, payload_hash, entry, now)
        if challenges.contributions:
            order["challenges"] = list(challenges.contributions)
        await store.collection(ORDERS).insert_one(order, session=session)
        events.record(store, session, order_events.recorded(order))
        record_entry(audit, store, session, operation="orderRecord",
                     target=Target("MemberOrder", purchase.order_id), member=member, entry=entry,
                     details={"order": {"total": purchase.total, "currency": purchase.currency,
                                        "channel": purchase.channel.value,
                                        "store_id": store_id}})
        gifts: tuple[str, ...] = ()
        if member.orders_count == 0:
            # In this transaction: concurrent first orders conflict on the member document,
            # so exactly one of them commits as the first and rewards the referral.
            gifts = await reward_first_order(store, session, member_id=member_id,
                                             order_id=purchase.order_id, now=now,
                                             programme=programme)
        return entry, gifts + challenges.gifts_pending

    try:
        entry, gifts = await store.transaction(work)
    except Exception as error:
        if not is_duplicate_key(error):
            raise
        return await _replay(store, key, purchase.order_id, payload_hash)
    return OrderRecorded(entry=entry, order_id=purchase.order_id, replayed=False,
                         gifts_pending=gifts)


async def _replay(store: Store, key: str, order_id: str, payload_hash: str) -> OrderRecorded:
    first = await entry_by_key(store, key)
    if first is None:  # the duplicate was the order document of a foreign writer
        raise InvalidOrder("This order id is already in use.", field=("input", "orderId"))
    ensure_same_payload(first.payload_hash, payload_hash, what="order")
    return OrderRecorded(entry=first, order_id=order_id, replayed=True)


def _timing_problem(
    occurred_at: datetime, now: datetime, programme: Programme
) -> InvalidOrder | None:
    field = ("input", "occurredAt")
    if occurred_at > now + MAX_CLOCK_SKEW:
        return InvalidOrder("The order time is in the future.", field=field)
    expiry = expires_at(occurred_at, programme)
    if occurred_at < now - MAX_BACKDATING or (expiry is not None and expiry <= now):
        return InvalidOrder("This order is too old to earn: its points would already have "
                            "expired.", field=field)
    return None


def _payload(member_id: str, purchase: Purchase, store_id: str | None) -> dict[str, Any]:
    return {
        "member": member_id, "order": purchase.order_id, "channel": purchase.channel.value,
        "total": purchase.total, "currency": purchase.currency,
        "occurred_at": purchase.occurred_at, "store": store_id,
        "lines": [[ln.sku, ln.category, ln.quantity, ln.unit_price] for ln in purchase.lines],
    }


def _order_document(
    member_id: str, purchase: Purchase, store_id: str | None, payload_hash: str, entry: Entry,
    now: datetime,
) -> dict[str, Any]:
    return {
        "_id": purchase.order_id, "member_id": member_id, "channel": purchase.channel.value,
        "total": purchase.total, "currency": purchase.currency,
        "items": [
            {"sku": ln.sku, "category": ln.category, "quantity": ln.quantity,
             "unit_price": ln.unit_price}
            for ln in purchase.lines
        ],
        "occurred_at": purchase.occurred_at, "recorded_at": now, "store_id": store_id,
        "recorded_by": {"type": entry.actor.type, "id": entry.actor.id},
        "payload_hash": payload_hash, "earned_points": entry.points, "entry_id": entry.id,
        "refunded_amount": 0, "reversed_points": 0, "refunded_items": [],
    }


async def recorded_order_member(store: Store, order_id: str, *, store_id: str) -> str | None:
    """The member an order recorded at `store_id` earned for, if it was recorded already:
    a till retrying after the member's card token went stale still gets its replay."""
    doc = await store.collection(ORDERS).find_one(
        {"_id": order_id, "store_id": store_id}, {"member_id": 1}
    )
    return str(doc["member_id"]) if doc else None
