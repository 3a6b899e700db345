"""Refunds and returns: reverse exactly the points the order earned, in proportion."""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import events
from events.audit import Audit, Target
from loyalty.collections import LEDGER, LOTS, ORDERS
from loyalty.earning import order_events
from loyalty.errors import InvalidOrder, RefundExceedsOrder, RefundNotAllowed, UnknownOrder
from loyalty.idempotency import check_external_id, ensure_same_payload, fingerprint
from loyalty.ledger.audit import record_entry
from loyalty.ledger.entries import Actor, Entry, EntryKind, Source, entry_from_document, first_entry
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, debit
from loyalty.play.challenge_progress import undo_refunded_order
from loyalty.play.leaderboard_scores import record_scores, reverse_scores
from loyalty.programme.settings import load_programme
from loyalty.segments.policy import refund_stat_increments
from loyalty.tiers.moves import refund_effect
from store import InvalidInput, Session, Store, is_duplicate_key
from store.clock import Clock


@dataclass(frozen=True, slots=True)
class RefundLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderRefunded:
    entry: Entry
    order_id: str
    refund_id: str
    refunded_amount: int
    replayed: bool


def points_to_reverse(*, earned: int, total: int, refunded_before: int, refunded_now: int,
                      reversed_before: int) -> int:
    """Reverse in proportion to the money refunded, cumulatively, so that partial refunds
    add up to exactly what the order earned when it is refunded in full."""
    target = earned * (refunded_before + refunded_now) // total
    return max(0, target - reversed_before)


def refund_value(order: Mapping[str, Any], lines: Sequence[RefundLine]) -> int:
    """The money paid for returned items, checked against what is left to return.

    Items are valued at what was paid for them: their share of the order's gross, applied to
    the total (so discounts and shipping are shared pro rata); the return that completes the
    order refunds exactly what is left of its total.
    """
    ordered: Counter[str] = Counter()
    gross_by_sku: Counter[str] = Counter()
    for item in order["items"]:
        ordered[item["sku"]] += item["quantity"]
        gross_by_sku[item["sku"]] += item["quantity"] * item["unit_price"]
    returned: Counter[str] = Counter()
    for item in order.get("refunded_items", []):
        returned[item["sku"]] += item["quantity"]
    gross_returned = 0
    for index, line in enumerate(lines):
        field = ("input", "items", str(index))
        if line.sku not in ordered:
            raise InvalidOrder(f"SKU {line.sku!r} is not in this order.", field=(*field, "sku"))
        returned[line.sku] += line.quantity
        if returned[line.sku] > ordered[line.sku]:
            raise RefundExceedsOrder(
                f"More {line.sku!r} returned than were ordered.", field=(*field, "quantity")
            )
        gross_returned += line.quantity * gross_by_sku[line.sku] // ordered[line.sku]
    left = int(order["total"]) - int(order["refunded_amount"])
    if all(returned[sku] == quantity for sku, quantity in ordered.items()):
        return left
    gross = sum(gross_by_sku.values())
    paid = gross_returned * int(order["total"]) // gross if gross else 0
    return min(paid, left)


def refund_refusal(order: Mapping[str, Any], *, actor: Actor, store_id: str | None) -> (
    str | None
):
    """Why `actor` may not refund `order`, or None when it may. Who refunds an order follows
    who recorded it: an administrator refunds any order; a store's staff the orders recorded
    at that store's tills; a shop system (any API key, since keys get replaced) the orders
    shop systems recorded."""
    if actor.type == "ADMIN":
        return None
    till = order.get("store_id")
    # Orders recorded before `recorded_by` was kept: a store means a till.
    recorded_by = (order.get("recorded_by") or {}).get("type") or (
        "STAFF" if till else "API_KEY"
    )
    if till:
        if actor.type == "STAFF" and till == store_id:
            return None
        return "This order was recorded at a store's till: that store's staff or an " \
               "administrator refund it."
    if recorded_by == "API_KEY":
        if actor.type == "API_KEY":
            return None
        return "This order was recorded by a shop system: a shop system or an administrator " \
               "refunds it."
    return "This order was recorded by an administrator: an administrator refunds it."


def reversible_points(order: Mapping[str, Any], lots: Sequence[Mapping[str, Any]],
                      now: datetime) -> int:
    """Points of the order a refund may still take back: not those already reversed, and
    not those the member already lost to expiry (that would charge them twice)."""
    expired = sum(
        lot.get("expired_points", 0) if lot.get("expired_at") is not None
        else lot["remaining"] if lot["expires_at"] is not None and lot["expires_at"] <= now
        else 0
        for lot in lots
    )
    return max(0, int(order["earned_points"]) - int(order["reversed_points"]) - int(expired))


async def refund_order(
    store: Store,
    *,
    order_id: str,
    refund_id: str,
    amount: int | None,
    lines: Sequence[RefundLine],
    actor: Actor,
    store_id: str | None = None,
    clock: Clock,
    audit: Audit | None,
) -> OrderRefunded:
    """Reverse the points for a refund of `amount` (minor units) or of returned `lines`, by
    `actor` (working at `store_id`, for staff).

    A member who already spent the points keeps a debt that later earnings settle. Idempotent
    on `refund_id`. Raises UnknownOrder, RefundNotAllowed (see `refund_refusal`),
    RefundExceedsOrder, InvalidOrder, InvalidInput, IdempotencyConflict; nothing is written
    on any error.
    """
    order_id = check_external_id(order_id, field=("input", "orderId"), what="order id")
    refund_id = check_external_id(refund_id, field=("input", "refundId"), what="refund id")
    if (amount is None) == (not lines):
        raise InvalidInput("Give either an amount or the returned items.", field=("input",))
    if amount is not None and amount <= 0:
        raise InvalidInput("The refund amount must be positive.", field=("input", "amount"))
    if any(line.quantity <= 0 for line in lines):
        raise InvalidInput("Quantities must be positive.", field=("input", "items"))
    payload_hash = fingerprint({
        "order": order_id, "refund": refund_id, "amount": amount,
        "lines": [[line.sku, line.quantity] for line in lines],
    })
    key = f"refund:{refund_id}"
    programme = await load_programme(store)

    async def work(session: Session) -> tuple[Entry, int, bool]:
        order = await store.collection(ORDERS).find_one({"_id": order_id}, session=session)
        if order is None:
            raise UnknownOrder("No order with this id was recorded.",
                               field=("input", "orderId"))
        refusal = refund_refusal(order, actor=actor, store_id=store_id)
        if refusal is not None:
            raise RefundNotAllowed(refusal, field=("input", "orderId"))
        done = await store.collection(LEDGER).find_one({"key": key}, session=session)
        if done is not None:
            # A replay: the checks below would reject the very refund that was applied.
            first = entry_from_document(done)
            ensure_same_payload(first.payload_hash, payload_hash, what="refund")
            return first, int(first.details.get("amount", 0)), True
        value = amount if amount is not None else refund_value(order, lines)
        if order["refunded_amount"] + value > order["total"]:
            left = int(order["total"]) - int(order["refunded_amount"])
            raise RefundExceedsOrder(
                f"Only {left} of this order's {order['total']} is left to refund.",
                field=("input", "amount" if amount is not None else "items"),
            )
        points = points_to_reverse(
            earned=order["earned_points"], total=order["total"],
            refunded_before=order["refunded_amount"], refunded_now=value,
            reversed_before=order["reversed_points"],
        )
        now = clock()
        lots = await store.collection(LOTS).find(
            {"order_id": order_id},
            {"remaining": 1, "expires_at": 1, "expired_at": 1, "expired_points": 1},
            session=session,
        ).to_list(None)
        points = min(points, reversible_points(order, lots, now))
        member = await read_member(store, order["member_id"], session=session)
        member_changes = refund_effect(programme, points=points, spend=value,
                                       occurred_at=order["occurred_at"])
        member_changes["$inc"].update(refund_stat_increments(
            order=order, refunded_now=value,
            returned=[(line.sku, line.quantity) for line in lines],
        ))
        movement = Movement(
            key=key, kind=EntryKind.REVERSAL, reason=f"Refund {refund_id} of order {order_id}",
            source=Source("REFUND", refund_id), actor=actor, occurred_at=now, recorded_at=now,
            payload_hash=payload_hash, details={"order_id": order_id, "amount": value},
        )
        entry = await debit(
            store, session, movement, member=member, points=points, include_pending=True,
            allow_debt=True, prefer_order=order_id, member_changes=member_changes,
        )
        # The challenges' part of the order rides in this update (one command less).
        progress, challenge_fields = await undo_refunded_order(
            store, session, order=order, refunded_now=value,
            lines=[(line.sku, line.quantity) for line in lines], refund_id=refund_id, now=now)
        await store.collection(ORDERS).update_one(
            {"_id": order_id},
            {"$inc": {"refunded_amount": value, "reversed_points": points},
             "$push": {"refunded_items": {"$each": [
                 {"sku": line.sku, "quantity": line.quantity} for line in lines
             ]}}, **({"$set": challenge_fields} if challenge_fields else {})},
            session=session,
        )
        await reverse_scores(store, session, member=member, points=points,
                             at=order["occurred_at"], now=now, programme=programme)
        # Boards ranking by a challenge's progress follow it down (points boards moved above).
        await record_scores(store, session, member=member, points=0, at=order["occurred_at"],
                            now=now, programme=programme, progress=progress)
        events.record(store, session, order_events.refunded(
            order, refund_id=refund_id, amount=value, points=points, entry_id=entry.id, at=now))
        record_entry(audit, store, session, operation="orderRefund",
                     target=Target("MemberOrder", order_id), member=member, entry=entry,
                     details={"refund": {"id": refund_id, "amount": value}})
        return entry, value, False

    try:
        entry, value, replayed = await store.transaction(work)
    except Exception as error:
        if not is_duplicate_key(error):
            raise
        first = await first_entry(store, key, payload_hash, what="refund")
        return OrderRefunded(first, order_id, refund_id, int(first.details.get("amount", 0)),
                             replayed=True)
    return OrderRefunded(entry, order_id, refund_id, value, replayed=replayed)
