"""Opening balances: points a member held in the shop's previous programme, credited as
IMPORT entries ("Imported balance") a batch at a time (`kizuna import balances`).

Each is a credit like `posting.credit`'s: debt first, the rest in one lot (spendable at
once, expiring when the file says or else by the programme's earning policy from the
import), the member's totals, the entry with its event and its roll-ups, so that
`kizuna verify` holds. What differs is the batching: the lots, the members' totals and
the entries of a whole batch are one command each. An IMPORT entry is no earning: it adds
nothing to `lifetime_earned`, tier qualification or activity.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loyalty.collections import LOTS, MEMBERS
from loyalty.ledger.entries import SYSTEM, Entry, EntryKind, Source
from loyalty.ledger.entry_events import write_entries
from loyalty.ledger.expiry_policy import expires_at
from loyalty.ledger.lots import Allocation
from loyalty.ledger.rollups import Tally, entry_tally
from loyalty.programme.settings import Programme
from store import Session, Store, UpdateOne, new_id

REASON = "Imported balance"
SOURCE = "IMPORT"


@dataclass(frozen=True, slots=True)
class Opening:
    member_id: str
    key: str
    """The entry's unique key: one opening balance per member and key, ever."""
    points: int
    """> 0."""
    expires_at: datetime | None
    """When the lot expires; with `by_policy`, ignored."""
    by_policy: bool
    """Expire by the programme's earning policy, counted from the import."""
    source_id: str
    """The member's external id."""
    payload_hash: str
    details: Mapping[str, Any] = field(default_factory=dict)


async def post_openings(
    store: Store, session: Session, openings: Sequence[Opening], *,
    before: Mapping[str, Mapping[str, Any]], programme: Programme, now: datetime,
) -> list[Entry]:
    """Credit `openings` (one per member) in the caller's transaction. `before` holds each
    member's document as read in it (points and debt; missing: a member without one yet).
    Raises DuplicateKeyError (aborting the transaction) for a key already in the ledger."""
    lots: list[dict[str, Any]] = []
    updates: list[UpdateOne] = []
    written: list[tuple[Entry, Mapping[str, Any] | None, Tally]] = []
    for opening in openings:
        member = before.get(opening.member_id) or {}
        debt = member.get("debt", 0)
        settled = min(debt, opening.points)
        entry_id, lot_id = new_id(), new_id()
        expiry = expires_at(now, programme) if opening.by_policy else opening.expires_at
        allocations: tuple[Allocation, ...] = ()
        if opening.points > settled:
            remaining = opening.points - settled
            lots.append({
                "_id": lot_id, "member_id": opening.member_id, "entry_id": entry_id,
                "earned": remaining, "remaining": remaining, "earned_at": now,
                "available_at": now, "expires_at": expiry, "order_id": None,
                "expired_at": None,
            })
            allocations = (Allocation(lot_id, remaining),)
        entry = Entry(
            id=entry_id, key=opening.key, member_id=opening.member_id, kind=EntryKind.IMPORT,
            points=opening.points, reason=REASON, source=Source(SOURCE, opening.source_id),
            actor=SYSTEM, occurred_at=now, recorded_at=now, lots=allocations,
            payload_hash=opening.payload_hash, debt_settled=settled,
            details=dict(opening.details),
        )
        updates.append(UpdateOne({"_id": opening.member_id},
                                 {"$inc": {"points": opening.points, "debt": -settled}},
                                 upsert=True))
        balance = {"points": member.get("points", 0) + opening.points, "debt": debt - settled}
        written.append((entry, balance, entry_tally(entry, lot_expiries={lot_id: expiry})))
    if lots:
        await store.collection(LOTS).insert_many(lots, session=session)
    if updates:
        await store.collection(MEMBERS).bulk_write(updates, ordered=False, session=session)
    await write_entries(store, session, written)
    return [entry for entry, _, _ in written]
