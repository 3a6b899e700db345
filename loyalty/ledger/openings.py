"""Opening balances: points a member held in the shop's previous programme, credited as
IMPORT entries ("Imported balance") a batch at a time (`kizuna import balances`).

Each is a credit like `posting.credit`'s: debt first, the rest in one lot (spendable at
once, expiring when the file says or else by the programme's earning policy from the
import), the member's totals, the entry with its event and its roll-ups, so that
`kizuna verify` holds. What differs is the batching: the lots and the entries of a whole
batch are one command each, and each member's totals change in the one update that
makes all of the import's changes to them (on the embedded engine an update costs more
than an inserted document). An IMPORT entry is no earning: it adds
nothing to `lifetime_earned`, tier qualification or activity.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loyalty.collections import LOTS
from loyalty.ledger.entries import SYSTEM, Entry, EntryKind, Source
from loyalty.ledger.expiry_policy import expires_at
from loyalty.ledger.lots import Allocation
from loyalty.ledger.rollups import Tally, entry_tally
from loyalty.programme.settings import Programme
from store import Session, Store, new_id

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


@dataclass(slots=True)
class OpeningWrites:
    """What a batch of opening balances writes (`opening_writes`)."""

    lots: list[dict[str, Any]] = field(default_factory=list)
    increments: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per member: the `$inc` of their members document (points, debt)."""
    entries: list[tuple[Entry, Mapping[str, Any] | None, Tally]] = field(default_factory=list)
    """For `entry_events.write_entries`."""


def opening_writes(
    openings: Sequence[Opening], *, before: Mapping[str, Mapping[str, Any]],
    programme: Programme, now: datetime,
) -> OpeningWrites:
    """The lots, member increments and entries of `openings` (one per member); `before`
    holds each member's document as read in the transaction that writes them (points and
    debt; missing: a member without one yet). The caller writes the increments with the
    member's other changes (one update per member), then `write_entries`."""
    writes = OpeningWrites()
    for opening in openings:
        member = before.get(opening.member_id) or {}
        debt = member.get("debt", 0)
        settled = min(debt, opening.points)
        entry_id, lot_id = new_id(), new_id()
        expiry = expires_at(now, programme) if opening.by_policy else opening.expires_at
        allocations: tuple[Allocation, ...] = ()
        if opening.points > settled:
            remaining = opening.points - settled
            writes.lots.append({
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
        writes.increments[opening.member_id] = {"points": opening.points, "debt": -settled}
        balance = {"points": member.get("points", 0) + opening.points, "debt": debt - settled}
        writes.entries.append((entry, balance,
                               entry_tally(entry, lot_expiries={lot_id: expiry})))
    return writes


async def write_lots(store: Store, session: Session, writes: OpeningWrites) -> None:
    """Insert the lots of `writes` (one command)."""
    if writes.lots:
        await store.collection(LOTS).insert_many(writes.lots, session=session)
