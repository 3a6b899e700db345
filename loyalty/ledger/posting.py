"""Writing points movements inside the caller's transaction: credits create lots (after
settling any debt), debits consume lots soonest-expiry-first. Every movement is one ledger
entry plus the matching changes to lots and to the member's totals."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from loyalty.collections import LOTS, MEMBERS
from loyalty.errors import InsufficientPoints
from loyalty.ledger.entries import SYSTEM, Actor, Entry, EntryKind, RuleAward, Source
from loyalty.ledger.entry_events import write_entry
from loyalty.ledger.expiry_policy import available_at, expires_at
from loyalty.ledger.lots import Allocation, OpenLot, allocate
from loyalty.ledger.member_state import MemberState
from loyalty.ledger.rollups import ACTIVITY, entry_tally
from loyalty.programme.settings import Programme
from store import InsertOne, ReturnDocument, Session, Store, UpdateOne, new_id


@dataclass(frozen=True, slots=True)
class Movement:
    """What every entry says about itself, whatever its direction."""

    key: str
    kind: EntryKind
    reason: str
    source: Source
    actor: Actor
    occurred_at: datetime
    recorded_at: datetime
    payload_hash: str | None = None
    breakdown: tuple[RuleAward, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    event_data: Mapping[str, Any] = field(default_factory=dict)
    """More for the entry's event only, not kept on the entry (a transfer's names)."""


async def credit(
    store: Store,
    session: Session,
    movement: Movement,
    *,
    member: MemberState,
    points: int,
    programme: Programme,
    order_id: str | None = None,
    member_changes: Mapping[str, Any] | None = None,
) -> Entry:
    """Add `points` (≥ 0): settle debt first, put the rest in a new lot.

    Points from an order (`order_id`) are pending for the programme's return window; other
    credits are spendable at once.
    """
    settled = min(member.debt, points)
    lot_points = points - settled
    entry_id = new_id()
    allocations: tuple[Allocation, ...] = ()
    expiries: dict[str, datetime | None] = {}
    if lot_points > 0:
        lot_id = new_id()
        expiries[lot_id] = expires_at(movement.occurred_at, programme)
        await store.collection(LOTS).insert_one(
            {
                "_id": lot_id, "member_id": member.member_id, "entry_id": entry_id,
                "earned": lot_points, "remaining": lot_points,
                "earned_at": movement.occurred_at,
                "available_at": (
                    available_at(movement.occurred_at, programme)
                    if order_id is not None else movement.occurred_at
                ),
                "expires_at": expiries[lot_id],
                "order_id": order_id, "expired_at": None,
            },
            session=session,
        )
        allocations = (Allocation(lot_id, lot_points),)
    entry = _entry(entry_id, movement, member.member_id, points, allocations,
                   debt_settled=settled)
    increments = {"points": points, "debt": -settled}
    if movement.kind is EntryKind.EARN:
        increments["lifetime_earned"] = points
    await _post(store, session, entry, increments, member_changes, expiries)
    return entry


async def debit(
    store: Store,
    session: Session,
    movement: Movement,
    *,
    member: MemberState,
    points: int,
    include_pending: bool = False,
    allow_debt: bool = False,
    prefer_order: str | None = None,
    member_changes: Mapping[str, Any] | None = None,
    lots: list[OpenLot] | None = None,
) -> Entry:
    """Remove `points` (≥ 0) from the member's lots, soonest expiry first. `lots`: the
    member's open lots as the caller's transaction already read them (else read here).

    Raises InsufficientPoints when the lots cannot cover it, unless `allow_debt`, in which
    case the shortfall is recorded as debt (refunds of points already spent).
    """
    if lots is None:
        lots = await open_lots(store, member.member_id, session=session)
    allocations, shortfall = allocate(
        lots, points, now=movement.recorded_at, include_pending=include_pending,
        prefer_order=prefer_order,
    )
    if shortfall and not allow_debt:
        raise InsufficientPoints(
            f"Not enough points: {points - shortfall} available, {points} needed.",
            field=("input", "points"),
        )
    if allocations:
        result = await store.collection(LOTS).bulk_write(
            [
                UpdateOne({"_id": a.lot_id, "remaining": {"$gte": a.points}},
                          {"$inc": {"remaining": -a.points}})
                for a in allocations
            ],
            ordered=True,
            session=session,
        )
        if result.matched_count != len(allocations):
            # Impossible inside a transaction; abort rather than write a wrong entry.
            raise RuntimeError("a lot changed during the transaction")
    entry = _entry(new_id(), movement, member.member_id, -points, tuple(allocations),
                   debt_incurred=shortfall)
    await _post(store, session, entry, {"points": -points, "debt": shortfall}, member_changes,
                {lot.id: lot.expires_at for lot in lots}, event_data=movement.event_data)
    return entry


async def credit_with_expiries(
    store: Store,
    session: Session,
    movement: Movement,
    *,
    member: MemberState,
    taken: Sequence[tuple[int, datetime | None]],
    member_changes: Mapping[str, Any] | None = None,
) -> Entry:
    """Add points that keep the expiry they had elsewhere: `taken` is (points, expiry) of
    each part (None: never expires). Debt is settled first, from the soonest-expiring
    points, as with any credit; the rest goes into one new lot per expiry, spendable at
    once."""
    by_expiry: dict[datetime | None, int] = {}
    for points, expiry in taken:
        by_expiry[expiry] = by_expiry.get(expiry, 0) + points
    total = sum(by_expiry.values())
    settled = min(member.debt, total)
    to_settle = settled
    entry_id = new_id()
    now = movement.occurred_at
    documents: list[dict[str, Any]] = []
    expiries: dict[str, datetime | None] = {}
    for expiry in sorted(by_expiry, key=lambda e: (e is None, e or now)):
        points = by_expiry[expiry]
        paid = min(points, to_settle)
        to_settle -= paid
        if points - paid == 0:
            continue
        lot_id = new_id()
        expiries[lot_id] = expiry
        documents.append({
            "_id": lot_id, "member_id": member.member_id, "entry_id": entry_id,
            "earned": points - paid, "remaining": points - paid, "earned_at": now,
            "available_at": now, "expires_at": expiry, "order_id": None, "expired_at": None,
        })
    if documents:
        await store.collection(LOTS).insert_many(documents, session=session)
    allocations = tuple(Allocation(doc["_id"], doc["earned"]) for doc in documents)
    entry = _entry(entry_id, movement, member.member_id, total, allocations,
                   debt_settled=settled)
    await _post(store, session, entry, {"points": total, "debt": -settled}, member_changes,
                expiries, event_data=movement.event_data)
    return entry


@dataclass(frozen=True, slots=True)
class Restored:
    """What giving points back did, for the member to read."""

    entry: Entry
    spendable: int
    """Points spendable again now."""
    expired: int
    """Points that went back into lots whose expiry passed meanwhile: the expiry job takes
    them at its next run, as it would have taken them had they never been spent."""
    pending: int
    """Points back in lots still pending."""
    debt_settled: int
    """Points that paid off debt instead."""


async def restore(
    store: Store,
    session: Session,
    movement: Movement,
    *,
    member: MemberState,
    spent: Entry,
    member_changes: Mapping[str, Any] | None = None,
) -> Restored:
    """Give back what the debit `spent` took, into the lots it took it from.

    The points keep their expiry and pending dates, so cancelling a redemption cannot turn
    points about to expire into fresh ones. A lot the expiry job has closed since gets a
    replacement with its dates, which the job's next run expires with an EXPIRE entry. Debt
    is settled first, from the soonest-expiring points, as with any credit.
    """
    taken = spent.lots
    cursor = store.collection(LOTS).find({"_id": {"$in": [a.lot_id for a in taken]}},
                                         session=session)
    lots = {doc["_id"]: doc async for doc in cursor}
    if len(lots) != len({a.lot_id for a in taken}):
        raise RuntimeError(f"entry {spent.id} refers to lots that do not exist")
    points = sum(a.points for a in taken)
    settled = min(member.debt, points)
    to_settle = settled
    entry_id = new_id()
    writes: list[UpdateOne | InsertOne[dict[str, Any]]] = []
    allocations: list[Allocation] = []
    expiries: dict[str, datetime | None] = {}
    now = movement.recorded_at
    outcome = {"spendable": 0, "expired": 0, "pending": 0}
    for taken_from in sorted(taken, key=lambda a: _expiry_order(lots[a.lot_id])):
        back = taken_from.points - min(taken_from.points, to_settle)
        to_settle -= taken_from.points - back
        if back == 0:
            continue
        lot = lots[taken_from.lot_id]
        outcome[_standing(lot, now)] += back
        if lot["expired_at"] is None:
            writes.append(UpdateOne({"_id": lot["_id"], "expired_at": None},
                                    {"$inc": {"remaining": back}}))
            allocations.append(Allocation(lot["_id"], back))
            expiries[lot["_id"]] = lot["expires_at"]
            continue
        replacement = new_id()
        expiries[replacement] = lot["expires_at"]
        writes.append(InsertOne({
            "_id": replacement, "member_id": member.member_id, "entry_id": entry_id,
            "earned": back, "remaining": back, "earned_at": lot["earned_at"],
            "available_at": lot["available_at"], "expires_at": lot["expires_at"],
            "order_id": lot.get("order_id"), "expired_at": None, "replaces": lot["_id"],
        }))
        allocations.append(Allocation(replacement, back))
    if writes:
        result = await store.collection(LOTS).bulk_write(writes, ordered=True, session=session)
        if result.matched_count + result.inserted_count != len(writes):
            raise RuntimeError("a lot changed during the transaction")
    entry = _entry(entry_id, movement, member.member_id, points, tuple(allocations),
                   debt_settled=settled)
    await _post(store, session, entry, {"points": points, "debt": -settled}, member_changes,
                expiries)
    return Restored(entry=entry, debt_settled=settled, **outcome)


def _standing(lot: Mapping[str, Any], now: datetime) -> str:
    """What points put back into `lot` are now: spendable, expired or pending."""
    expiry: datetime | None = lot["expires_at"]
    if lot["expired_at"] is not None or (expiry is not None and expiry <= now):
        return "expired"
    return "pending" if lot["available_at"] > now else "spendable"


def _expiry_order(lot: Mapping[str, Any]) -> tuple[bool, datetime]:
    expiry: datetime | None = lot["expires_at"]
    return (expiry is None, expiry or lot["earned_at"])


OPEN_LOT: Mapping[str, Any] = {"remaining": {"$gt": 0}, "expired_at": None}
"""A lot with points left, pending and due-but-not-swept ones included."""
LOT_FIELDS: Mapping[str, int] = {
    "remaining": 1, "earned_at": 1, "available_at": 1, "expires_at": 1, "order_id": 1,
}


def lot_from_document(doc: Mapping[str, Any]) -> OpenLot:
    return OpenLot(id=doc["_id"], remaining=doc["remaining"], earned_at=doc["earned_at"],
                   available_at=doc["available_at"], expires_at=doc["expires_at"],
                   order_id=doc.get("order_id"))


async def open_lots(store: Store, member_id: str, *, session: Session | None = None) -> (
    list[OpenLot]
):
    """The member's lots with points left (including pending and not-yet-expired ones)."""
    cursor = store.collection(LOTS).find(
        {"member_id": member_id, **OPEN_LOT}, dict(LOT_FIELDS), session=session
    )
    return [lot_from_document(doc) async for doc in cursor]


def _entry(
    entry_id: str, movement: Movement, member_id: str, points: int,
    allocations: tuple[Allocation, ...], *, debt_settled: int = 0, debt_incurred: int = 0,
) -> Entry:
    return Entry(
        id=entry_id, key=movement.key, member_id=member_id, kind=movement.kind, points=points,
        reason=movement.reason, source=movement.source, actor=movement.actor,
        occurred_at=movement.occurred_at, recorded_at=movement.recorded_at,
        breakdown=movement.breakdown, lots=allocations, payload_hash=movement.payload_hash,
        debt_settled=debt_settled, debt_incurred=debt_incurred, details=movement.details,
    )


_BEFORE: Mapping[str, int] = {"points": 1, "debt": 1, "last_activity_at": 1}


async def _post(
    store: Store, session: Session, entry: Entry, increments: Mapping[str, int],
    changes: Mapping[str, Any] | None, lot_expiries: Mapping[str, datetime | None],
    *, event_data: Mapping[str, Any] | None = None,
) -> None:
    """Apply `entry` to its member's document, then write it with its event and roll-ups."""
    active = entry.kind in ACTIVITY and entry.points != 0
    if active:
        merged = {operator: dict(fields) for operator, fields in (changes or {}).items()}
        # $max: a late-committing earn never moves the last activity back.
        merged.setdefault("$max", {})["last_activity_at"] = entry.recorded_at
        changes = merged
    before = await _update_member(store, session, entry.member_id, increments, changes)
    balance = {field: before.get(field, 0) + increments.get(field, 0)
               for field in ("points", "debt")}
    tally = entry_tally(entry, lot_expiries=lot_expiries,
                        previous_activity=before.get("last_activity_at") if active else None)
    await write_entry(store, session, entry, balance=balance, tally=tally,
                      event_data=event_data)


async def _update_member(
    store: Store, session: Session, member_id: str, increments: Mapping[str, int],
    changes: Mapping[str, Any] | None,
) -> Mapping[str, Any]:
    """Apply the movement to the member's document; returns its balance fields and last
    activity from before (empty for a member's first movement)."""
    update: dict[str, Any] = {"$inc": {k: v for k, v in increments.items() if v}}
    for operator, fields in (changes or {}).items():
        update.setdefault(operator, {}).update(fields)
    if not update["$inc"]:
        del update["$inc"]
    if not update:  # nothing moved (a zero-point entry): the balance is as it was
        found = await store.collection(MEMBERS).find_one({"_id": member_id}, dict(_BEFORE),
                                                         session=session)
        return found or {}
    before = await store.collection(MEMBERS).find_one_and_update(
        {"_id": member_id}, update, dict(_BEFORE), upsert=True,
        return_document=ReturnDocument.BEFORE, session=session,
    )
    return before or {}


def with_breakdown(movement: Movement, awards: tuple[RuleAward, ...]) -> Movement:
    return replace(movement, breakdown=awards)


async def expire_lot(store: Store, session: Session, *, lot_id: str, now: datetime) -> int:
    """Expire what remains of one due lot; returns the points expired (0 if another run
    already did: the conditional update lets only one transaction win)."""
    lot = await store.collection(LOTS).find_one_and_update(
        {"_id": lot_id, "remaining": {"$gt": 0}, "expired_at": None,
         "expires_at": {"$lte": now}},
        # Pipeline update: remember how much expired (refunds must not take it back again).
        [{"$set": {"expired_points": "$remaining", "remaining": 0, "expired_at": now}}],
        session=session,
    )
    if lot is None:
        return 0
    points: int = lot["remaining"]
    entry = Entry(
        id=new_id(), key=f"expire:{lot_id}", member_id=lot["member_id"], kind=EntryKind.EXPIRE,
        points=-points, reason="Points expired", source=Source("LOT", lot_id), actor=SYSTEM,
        occurred_at=lot["expires_at"], recorded_at=now, lots=(Allocation(lot_id, points),),
    )
    await _post(store, session, entry, {"points": -points}, None,
                {lot_id: lot["expires_at"]})
    return points
