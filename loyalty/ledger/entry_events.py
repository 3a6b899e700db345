"""The event of every ledger entry: points earned, spent, reversed, adjusted or expired with
the member's new balance, and a tier change (docs/events.md)."""

from collections.abc import Mapping, Sequence
from typing import Any

import events
from events import Event, EventType, Subject, SubjectKind
from loyalty.collections import LEDGER
from loyalty.ledger import rollups
from loyalty.ledger.entries import NO_TIER, Entry, EntryKind
from loyalty.ledger.rollups import Tally
from store import Session, Store

_TYPES = {
    EntryKind.EARN: EventType.POINTS_EARNED,
    EntryKind.REDEEM: EventType.POINTS_SPENT,
    EntryKind.REVERSAL: EventType.POINTS_REVERSED,
    EntryKind.ADJUST: EventType.POINTS_ADJUSTED,
    EntryKind.EXPIRE: EventType.POINTS_EXPIRED,
    EntryKind.TIER: EventType.TIER_CHANGED,
    EntryKind.TRANSFER_OUT: EventType.POINTS_TRANSFER_SENT,
    EntryKind.TRANSFER_IN: EventType.POINTS_TRANSFER_RECEIVED,
    EntryKind.IMPORT: EventType.POINTS_IMPORTED,
}


def event_type(kind: EntryKind) -> EventType:
    """The type of the event of an entry of `kind`."""
    return _TYPES[kind]


def entry_event(
    entry: Entry, *, balance: Mapping[str, Any] | None,
    more: Mapping[str, Any] | None = None,
) -> Event:
    """The event of `entry`; `balance` is the member's document as a points entry left it
    (a tier change's event says the tier instead); `more`: further fields of its data
    (a transfer's sides)."""
    data: dict[str, Any] = {
        "entry": {"id": entry.id, "kind": entry.kind.value, "points": entry.points,
                  "reason": entry.reason,
                  "source": {"type": entry.source.type, "id": entry.source.id}},
    }
    if entry.kind is EntryKind.TIER:
        data["tier"] = (None if entry.source.id == NO_TIER
                        else {"id": entry.source.id, "name": entry.details["tier"]})
    else:
        balance = balance or {}
        data["balance"] = {"points": balance.get("points", 0), "debt": balance.get("debt", 0)}
    data.update(more or {})
    return Event(_TYPES[entry.kind], Subject(SubjectKind.LEDGER_ENTRY, entry.id),
                 occurred_at=entry.recorded_at, member_id=entry.member_id, data=data)


async def write_entries(
    store: Store, session: Session,
    written: Sequence[tuple[Entry, Mapping[str, Any] | None, Tally]],
) -> None:
    """`write_entry` for many entries (entry, balance, tally) at once, in the caller's
    transaction: one insert, the events at commit and one roll-up command (an import)."""
    if not written:
        return
    await store.collection(LEDGER).insert_many(
        [entry.document() for entry, _, _ in written], session=session)
    events.record(store, session, *(entry_event(entry, balance=balance)
                                    for entry, balance, _ in written))
    await rollups.add_tallies(store, session,
                              [(entry.member_id, tally) for entry, _, tally in written])


async def write_entry(
    store: Store, session: Session, entry: Entry, *, balance: Mapping[str, Any] | None,
    tally: Tally, event_data: Mapping[str, Any] | None = None,
) -> None:
    """Insert `entry`, its event (with `event_data` added to its data) and what it adds to
    the roll-ups (`tally`, see `rollups.entry_tally`) in the caller's transaction."""
    await store.collection(LEDGER).insert_one(entry.document(), session=session)
    events.record(store, session, entry_event(entry, balance=balance, more=event_data))
    await rollups.add(store, session, tally, member_id=entry.member_id)
