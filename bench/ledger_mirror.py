"""One member's ledger built in memory exactly as `loyalty.ledger.posting` writes it, so a
bulk-seeded database is one the product could have written (and `kizuna verify` is clean).

`MemberBook.credit` and `debit` follow `posting.credit` and `posting.debit` step by step —
the lot documents, the `Entry` (the product's own dataclass and `document()`), and the
update of the member's totals document — but apply that update to a dict instead of
sending it: `apply_update` does what MongoDB does with `$inc`, `$set`, `$min` and `$max`
on (dotted) fields of one document. The roll-ups the entries add are written per chunk of
members by bench.population, from loyalty.ledger.rollup_books (what verify recomputes).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loyalty.ledger.entries import Entry, EntryKind
from loyalty.ledger.entry_events import entry_event
from loyalty.ledger.expiry_policy import available_at, expires_at
from loyalty.ledger.lots import Allocation, allocate, spendable_points
from loyalty.ledger.member_state import MemberState, state_from_document
from loyalty.ledger.posting import Movement, lot_from_document
from loyalty.ledger.rollups import ACTIVITY
from loyalty.programme.settings import Programme
from store import new_id


def apply_update(doc: dict[str, Any], update: Mapping[str, Mapping[str, Any]]) -> None:
    """Apply a MongoDB update document (the operators posting uses) to `doc` in place."""
    for operator, fields in update.items():
        for path, value in fields.items():
            parent, name = _parent(doc, path)
            current = parent.get(name)
            if operator == "$inc":
                parent[name] = (current or 0) + value
            elif operator == "$set":
                parent[name] = value
            elif operator == "$min":
                parent[name] = value if current is None or value < current else current
            elif operator == "$max":
                parent[name] = value if current is None or value > current else current
            else:
                raise ValueError(f"apply_update does not do {operator}")


def _parent(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, name = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    return node, name


def _is_open(lot: Mapping[str, Any]) -> bool:
    """posting.OPEN_LOT as a predicate: points left and not swept by expiry."""
    return bool(lot["remaining"] > 0 and lot["expired_at"] is None)


@dataclass(slots=True)
class MemberBook:
    """A member's totals document, lots and ledger entries, in the order they were written."""

    member_id: str
    totals: dict[str, Any] = field(default_factory=dict)
    lots: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """The outbox's events of the entries."""

    def __post_init__(self) -> None:
        self.totals.setdefault("_id", self.member_id)

    def state(self) -> MemberState:
        """What `read_member` would read now."""
        return state_from_document(self.member_id, self.totals)

    def open_lots(self) -> list[dict[str, Any]]:
        return [lot for lot in self.lots if _is_open(lot)]

    def credit(
        self,
        movement: Movement,
        *,
        points: int,
        programme: Programme,
        order_id: str | None = None,
        member_changes: Mapping[str, Any] | None = None,
    ) -> Entry:
        """posting.credit: settle debt first, the rest in a new lot (pending for orders)."""
        settled = min(self.state().debt, points)
        lot_points = points - settled
        entry_id = new_id()
        allocations: tuple[Allocation, ...] = ()
        if lot_points > 0:
            lot_id = new_id()
            self.lots.append({
                "_id": lot_id, "member_id": self.member_id, "entry_id": entry_id,
                "earned": lot_points, "remaining": lot_points,
                "earned_at": movement.occurred_at,
                "available_at": (
                    available_at(movement.occurred_at, programme)
                    if order_id is not None else movement.occurred_at
                ),
                "expires_at": expires_at(movement.occurred_at, programme),
                "order_id": order_id, "expired_at": None,
            })
            allocations = (Allocation(lot_id, lot_points),)
        entry = self._entry(entry_id, movement, points, allocations, debt_settled=settled)
        increments = {"points": points, "debt": -settled}
        if movement.kind is EntryKind.EARN:
            increments["lifetime_earned"] = points
        self._update(increments, member_changes, entry)
        self.events.append(entry_event(entry, balance=self.totals).document())
        return entry

    def debit(
        self,
        movement: Movement,
        *,
        points: int,
        include_pending: bool = False,
        member_changes: Mapping[str, Any] | None = None,
    ) -> Entry | None:
        """posting.debit without debt: None (and nothing written) when the open lots cannot
        cover `points`, where the product would raise InsufficientPoints."""
        lots = [lot_from_document(lot) for lot in self.open_lots()]
        allocations, shortfall = allocate(
            lots, points, now=movement.recorded_at, include_pending=include_pending
        )
        if shortfall:
            return None
        by_id = {lot["_id"]: lot for lot in self.lots}
        for allocation in allocations:
            by_id[allocation.lot_id]["remaining"] -= allocation.points
        entry = self._entry(new_id(), movement, -points, tuple(allocations))
        self._update({"points": -points, "debt": 0}, member_changes, entry)
        self.events.append(entry_event(entry, balance=self.totals).document())
        return entry

    def record(self, entry: Entry) -> None:
        """An entry written beside a movement (a TIER entry)."""
        self.entries.append(entry.document())
        self.events.append(entry_event(entry, balance=None).document())

    def _entry(
        self, entry_id: str, movement: Movement, points: int,
        allocations: tuple[Allocation, ...], *, debt_settled: int = 0,
    ) -> Entry:
        entry = Entry(
            id=entry_id, key=movement.key, member_id=self.member_id, kind=movement.kind,
            points=points, reason=movement.reason, source=movement.source,
            actor=movement.actor, occurred_at=movement.occurred_at,
            recorded_at=movement.recorded_at, breakdown=movement.breakdown, lots=allocations,
            payload_hash=movement.payload_hash, debt_settled=debt_settled,
            details=movement.details,
        )
        self.entries.append(entry.document())
        return entry

    def _update(self, increments: Mapping[str, int], changes: Mapping[str, Any] | None,
                entry: Entry) -> None:
        """posting._post and _update_member: zero increments are left out, the changes
        merged in, an earn or a redemption moves the last activity."""
        update: dict[str, Any] = {"$inc": {k: v for k, v in increments.items() if v}}
        for operator, fields in (changes or {}).items():
            update.setdefault(operator, {}).update(fields)
        if entry.kind in ACTIVITY and entry.points:
            update.setdefault("$max", {})["last_activity_at"] = entry.recorded_at
        if not update["$inc"]:
            del update["$inc"]
        apply_update(self.totals, update)


def spendable_at(book: MemberBook, now: datetime) -> int:
    """What the member could spend at `now` (spendable lots less debt), as redeem_reward
    works it out."""
    lots = [lot_from_document(lot) for lot in book.open_lots()]
    return max(0, spendable_points(lots, now) - book.state().debt)
