"""The append-only points ledger: entry kinds, the entry document (with an earn's breakdown,
one `RuleAward` per rule), the member's history."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from loyalty.collections import LEDGER
from loyalty.idempotency import ensure_same_payload
from loyalty.ledger.lots import Allocation
from store import Store
from store.pagination import Page, fetch_page


@dataclass(frozen=True, slots=True)
class RuleAward:
    """One line of an earn's breakdown: which rule gave how many points."""

    rule_id: str
    rule_name: str
    points: int
    capped: bool = False
    """True when a limit or the budget cut the points down."""


class EntryKind(StrEnum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    REVERSAL = "REVERSAL"
    TIER = "TIER"
    """A tier change, with its reason: zero points, kept in the history for the member."""
    TRANSFER_OUT = "TRANSFER_OUT"
    """Points the member gave another member (loyalty/members/transfers.py)."""
    TRANSFER_IN = "TRANSFER_IN"
    """Points another member gave the member, keeping the expiry they had."""
    IMPORT = "IMPORT"
    """An opening balance brought over from the shop's previous programme (`kizuna import
    balances`): a liability taken over, not points issued by this programme."""


@dataclass(frozen=True, slots=True)
class Source:
    """What caused a movement: an order, a refund, an action, a lot, an admin adjustment."""

    type: str
    id: str


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused it: a shop system (API key), an admin, staff, the member or the system."""

    type: str
    id: str


SYSTEM = Actor("SYSTEM", "kizuna")

NO_TIER = "none"
"""The source id of a tier change's entry that leaves the member without a tier."""


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    key: str
    """Unique business key ("order:…", "refund:…", "action:…", "expire:…"): the ledger
    itself guarantees every external event is applied at most once."""
    member_id: str
    kind: EntryKind
    points: int
    reason: str
    source: Source
    actor: Actor
    occurred_at: datetime
    recorded_at: datetime
    breakdown: tuple[RuleAward, ...] = ()
    lots: tuple[Allocation, ...] = ()
    payload_hash: str | None = None
    debt_settled: int = 0
    debt_incurred: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.id, "key": self.key, "member_id": self.member_id, "kind": self.kind.value,
            "points": self.points, "reason": self.reason,
            "source": {"type": self.source.type, "id": self.source.id},
            "actor": {"type": self.actor.type, "id": self.actor.id},
            "occurred_at": self.occurred_at, "recorded_at": self.recorded_at,
            "breakdown": [
                {"rule_id": a.rule_id, "rule_name": a.rule_name, "points": a.points,
                 "capped": a.capped}
                for a in self.breakdown
            ],
            "lots": [{"lot_id": a.lot_id, "points": a.points} for a in self.lots],
            "payload_hash": self.payload_hash,
            "debt_settled": self.debt_settled, "debt_incurred": self.debt_incurred,
            "details": dict(self.details),
        }


def entry_from_document(doc: Mapping[str, Any]) -> Entry:
    return Entry(
        id=doc["_id"], key=doc["key"], member_id=doc["member_id"], kind=EntryKind(doc["kind"]),
        points=doc["points"], reason=doc["reason"],
        source=Source(doc["source"]["type"], doc["source"]["id"]),
        actor=Actor(doc["actor"]["type"], doc["actor"]["id"]),
        occurred_at=doc["occurred_at"], recorded_at=doc["recorded_at"],
        breakdown=tuple(
            RuleAward(b["rule_id"], b["rule_name"], b["points"], b.get("capped", False))
            for b in doc.get("breakdown", ())
        ),
        lots=tuple(Allocation(a["lot_id"], a["points"]) for a in doc.get("lots", ())),
        payload_hash=doc.get("payload_hash"),
        debt_settled=doc.get("debt_settled", 0), debt_incurred=doc.get("debt_incurred", 0),
        details=doc.get("details", {}),
    )


# An order or action that earned nothing, or a refund that had nothing left to take back,
# still writes its entry (its key makes a replay return the first answer, and the audit
# sees it), but a member's history of points has nothing to say about it.
_MOVED_NO_POINTS = {"kind": {"$in": ["EARN", "REVERSAL"]}, "points": 0}


async def history(
    store: Store, *, member_id: str, first: int, after_id: str | None
) -> tuple[Sequence[Entry], Page]:
    """The member's entries that moved points, newest first, one query per page."""
    page = await fetch_page(
        store.collection(LEDGER), filter={"member_id": member_id, "$nor": [_MOVED_NO_POINTS]},
        first=first, after_id=after_id, descending=True,
    )
    return [entry_from_document(doc) for doc in page.documents], page


async def entry_by_key(store: Store, key: str) -> Entry | None:
    doc = await store.collection(LEDGER).find_one({"key": key})
    return entry_from_document(doc) if doc else None


async def entries_by_ids(store: Store, entry_ids: list[str]) -> dict[str, Entry]:
    cursor = store.collection(LEDGER).find({"_id": {"$in": entry_ids}})
    return {doc["_id"]: entry_from_document(doc) async for doc in cursor}


async def first_entry(store: Store, key: str, payload_hash: str, *, what: str) -> Entry:
    """The entry a replayed event first produced; IdempotencyConflict if the replay carries
    other details. Called after a duplicate-key error on `key`, so the entry exists."""
    first = await entry_by_key(store, key)
    if first is None:
        raise RuntimeError(f"duplicate {key} without a ledger entry")
    ensure_same_payload(first.payload_hash, payload_hash, what=what)
    return first
