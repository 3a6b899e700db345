"""Prize draws: what administrators define, how it is stored, and what members read.

A draw has a window (opens_at ≤ t < closes_at), N prizes (points or a voucher each), and
ways to enter: K entries for each recorded action of a type (loyalty/play/draw_entries.py)
and/or entries bought with points. At creation the server draws a secret 32-byte seed and
publishes its SHA-256 (the commitment); closing (loyalty/play/draw_close.py) freezes the
entry list, picks the winners from the seed (loyalty/play/draw_algorithm.py), reveals the
seed and publishes the proof. docs/draws.md documents it.

Documents:
- draws: {_id, title, description, opens_at, closes_at, prizes [gift document],
  action_entries [{type, entries}], price (points per entry, null: not for sale),
  max_bought (entries one member may buy, null: no cap), seed_secret, salt_secret (hex,
  never shown before the close; `*_secret` keeps them out of the audit trail), commitment,
  status (OPEN | CLOSED), tickets, entrants, created_at, updated_at, and once closed:
  closed_at, closed_by (ADMIN | SCHEDULE), seed (revealed), winners [{prize, ticket,
  entrant, member_id}], proof (the published JSON)}
- draw_entrants: {_id "<draw>:<member>", draw_id, member_id, entrant (pseudonym), tickets,
  bought, created_at}: one per member and draw, the entry list's source
- draw_entries: {_id (once-only key), draw_id, member_id, entries, source (ACTION |
  BOUGHT), action {type, reference}, points, entry_id, created_at}: each grant of entries
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import events
from events import Event, EventType, Subject, SubjectKind
from events.audit import Audit, Target
from loyalty.engagement.gifts import Gift, gift_document, gift_from_document
from loyalty.play.draw_algorithm import ALGORITHM, Entrant, commitment, new_seed, ticket_ranges
from loyalty.play.draw_errors import InvalidDraw, UnknownDraw
from store import Document, IndexSpec, InputErrors, Session, Store, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

DRAWS = "draws"
DRAW_ENTRANTS = "draw_entrants"
DRAW_ENTRIES = "draw_entries"
DRAW = "Draw"
"""Draws' type in the audit trail (their GraphQL node type)."""

MAX_PRIZES = 100
MAX_ENTRIES_PER_ACTION = 1_000
MAX_PRICE = 1_000_000
MAX_CAP = 100_000
MAX_WINDOW = timedelta(days=366)
_ACTION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")

INDEXES = (
    IndexSpec(DRAWS, (("status", 1), ("closes_at", 1)), name="status_closes_at"),
    IndexSpec(DRAW_ENTRANTS, (("draw_id", 1), ("entrant", 1)), name="draw_entrant"),
    IndexSpec(DRAW_ENTRANTS, (("member_id", 1),), name="member"),
    IndexSpec(DRAW_ENTRIES, (("member_id", 1),), name="member"),
)


class DrawStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    """Its window ended; the close job has not run yet (no more entries)."""
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class ActionEntries:
    type: str
    entries: int


@dataclass(frozen=True, slots=True)
class DrawDraft:
    title: str
    description: str
    opens_at: datetime
    closes_at: datetime
    prizes: tuple[Gift, ...]
    action_entries: tuple[ActionEntries, ...] = ()
    price: int | None = None
    max_bought: int | None = None


@dataclass(frozen=True, slots=True)
class DrawWinner:
    prize: int
    ticket: int
    entrant: str
    member_id: str


@dataclass(frozen=True, slots=True)
class Draw:
    id: str
    draft: DrawDraft
    commitment: str
    closed: bool
    tickets: int
    entrants: int
    created_at: datetime
    closed_at: datetime | None = None
    seed: str | None = None
    winners: tuple[DrawWinner, ...] = ()
    proof: Mapping[str, Any] | None = field(default=None, repr=False)

    def status(self, now: datetime) -> DrawStatus:
        if self.closed:
            return DrawStatus.CLOSED
        if now < self.draft.opens_at:
            return DrawStatus.SCHEDULED
        return DrawStatus.OPEN if now < self.draft.closes_at else DrawStatus.CLOSING

    def ticket_range(self, entrant: str | None) -> tuple[int, int] | None:
        """The tickets of `entrant` in the published entry list, once closed."""
        if self.proof is None or entrant is None:
            return None
        entrants = [Entrant(e["entrant"], e["tickets"]) for e in self.proof["entries"]]
        return ticket_ranges(entrants).get(entrant)


@dataclass(frozen=True, slots=True)
class MyEntries:
    """One member's part in a draw."""

    entrant: str | None
    tickets: int
    bought: int


def validate(draft: DrawDraft, *, now: datetime) -> DrawDraft:
    """The draft, trimmed; raises InputErrors with every problem (prizes are checked by the
    caller with the voucher rules, scanner.gifts.check_gift)."""
    problems: list[InvalidDraw] = []

    def bad(message: str, *path: str) -> None:
        problems.append(InvalidDraw(message, field=("input", *path)))

    title, description = draft.title.strip(), draft.description.strip()
    if not 1 <= len(title) <= 80:
        bad("The title is 1–80 characters.", "title")
    if len(description) > 2000:
        bad("The description is at most 2000 characters.", "description")
    if draft.opens_at.tzinfo is None or draft.closes_at.tzinfo is None:
        bad("Give times with their offset.", "closesAt")
    elif draft.opens_at >= draft.closes_at:
        bad("The draw must close after it opens.", "closesAt")
    elif draft.closes_at <= now:
        bad("The draw must close in the future.", "closesAt")
    elif draft.closes_at - draft.opens_at > MAX_WINDOW:
        bad("A draw runs at most 366 days.", "closesAt")
    if not 1 <= len(draft.prizes) <= MAX_PRIZES:
        bad(f"A draw has 1 to {MAX_PRIZES} prizes.", "prizes")
    types = [a.type.strip().upper() for a in draft.action_entries]
    for index, (kind, action) in enumerate(zip(types, draft.action_entries, strict=True)):
        if not _ACTION_TYPE.match(kind) or types.index(kind) != index:
            bad("Each action type once, in UPPER_SNAKE_CASE.", "actionEntries", str(index),
                "actionType")
        if not 1 <= action.entries <= MAX_ENTRIES_PER_ACTION:
            bad(f"1 to {MAX_ENTRIES_PER_ACTION} entries per action.", "actionEntries",
                str(index), "entries")
    if draft.price is not None and not 1 <= draft.price <= MAX_PRICE:
        bad(f"An entry costs 1 to {MAX_PRICE} points.", "pricePoints")
    if draft.max_bought is not None and not 1 <= draft.max_bought <= MAX_CAP:
        bad(f"The cap is 1 to {MAX_CAP} entries per member.", "maxEntriesPerMember")
    if draft.max_bought is not None and draft.price is None:
        bad("A cap on bought entries needs a price.", "maxEntriesPerMember")
    if not draft.action_entries and draft.price is None:
        bad("Give a way to enter: entries per action, a price, or both.", "actionEntries")
    if problems:
        raise InputErrors(list(problems))
    return replace(draft, title=title, description=description, action_entries=tuple(
        ActionEntries(kind, a.entries) for kind, a in zip(types, draft.action_entries,
                                                           strict=True)))


async def create_draw(store: Store, *, draft: DrawDraft, clock: Clock,
                      audit: Audit | None) -> Draw:
    """Store a new draw with a fresh secret seed, publishing its commitment at once."""
    now = clock()
    checked = validate(draft, now=now)
    seed = new_seed()
    doc: Document = {
        **_draft_document(checked), "_id": new_id(), "seed_secret": seed.hex(),
        "salt_secret": new_seed().hex(), "commitment": commitment(seed),
        "status": DrawStatus.OPEN.value, "tickets": 0, "entrants": 0, "created_at": now,
        "updated_at": now, "closed_at": None, "seed": None, "winners": [], "proof": None,
    }

    async def work(session: Session) -> None:
        await store.collection(DRAWS).insert_one(doc, session=session)
        if audit is not None:
            audit.record(store, session, operation="drawCreate",
                         target=Target(DRAW, doc["_id"]), at=now, after=doc)
        # The commitment leaves the database before any entry (webhooks, archives), so a
        # rewritten draw document cannot also rewrite what was published.
        events.record(store, session, Event(
            EventType.DRAW_CREATED, Subject(SubjectKind.DRAW, doc["_id"]), now, None,
            {"draw": {"id": doc["_id"], "title": doc["title"], "commitment": doc["commitment"],
                      "algorithm": ALGORITHM, "opens_at": doc["opens_at"].isoformat(),
                      "closes_at": doc["closes_at"].isoformat(),
                      "prizes": len(doc["prizes"])}}))

    await store.transaction(work)
    store.reads.forget(DRAWS)
    return from_document(doc)


def _draft_document(d: DrawDraft) -> Document:
    return {
        "title": d.title, "description": d.description, "opens_at": d.opens_at,
        "closes_at": d.closes_at, "prizes": [gift_document(g) for g in d.prizes],
        "action_entries": [{"type": a.type, "entries": a.entries} for a in d.action_entries],
        "price": d.price, "max_bought": d.max_bought,
    }


def from_document(doc: Mapping[str, Any]) -> Draw:
    prizes = tuple(g for g in (gift_from_document(p) for p in doc["prizes"]) if g is not None)
    draft = DrawDraft(
        title=doc["title"], description=doc["description"], opens_at=doc["opens_at"],
        closes_at=doc["closes_at"], prizes=prizes,
        action_entries=tuple(ActionEntries(a["type"], a["entries"])
                             for a in doc["action_entries"]),
        price=doc.get("price"), max_bought=doc.get("max_bought"),
    )
    return Draw(
        id=doc["_id"], draft=draft, commitment=doc["commitment"],
        closed=doc["status"] == DrawStatus.CLOSED.value, tickets=doc.get("tickets", 0),
        entrants=doc.get("entrants", 0), created_at=doc["created_at"],
        closed_at=doc.get("closed_at"), seed=doc.get("seed"),
        winners=tuple(DrawWinner(w["prize"], w["ticket"], w["entrant"], w["member_id"])
                      for w in doc.get("winners") or ()),
        proof=doc.get("proof"),
    )


async def get_draw(store: Store, draw_id: str) -> Draw:
    doc = await store.collection(DRAWS).find_one({"_id": draw_id})
    if doc is None:
        raise UnknownDraw("No draw has this id.", field=("input", "drawId"))
    return from_document(doc)


async def get_draws(store: Store, draw_ids: Sequence[str]) -> dict[str, Draw]:
    cursor = store.collection(DRAWS).find({"_id": {"$in": list(draw_ids)}})
    return {doc["_id"]: from_document(doc) async for doc in cursor}


async def list_draws(store: Store, *, first: int, after_id: str | None, published_by: (
        datetime | None) = None) -> tuple[list[Draw], Page]:
    """Draws, newest first; with `published_by`, only those open by then (members' view)."""
    where: dict[str, Any] = {} if published_by is None else {
        "opens_at": {"$lte": published_by}}
    page = await fetch_page(store.collection(DRAWS), filter=where, first=first,
                            after_id=after_id, descending=True)
    return [from_document(doc) for doc in page.documents], page


async def my_entries(store: Store, *, member_id: str, draw_ids: Sequence[str]) -> (
    dict[str, MyEntries]
):
    """The member's entries in each of `draw_ids` (one query)."""
    cursor = store.collection(DRAW_ENTRANTS).find(
        {"_id": {"$in": [entrant_key(d, member_id) for d in draw_ids]}})
    return {doc["draw_id"]: MyEntries(doc["entrant"], doc["tickets"], doc.get("bought", 0))
            async for doc in cursor}


def entrant_key(draw_id: str, member_id: str) -> str:
    return f"{draw_id}:{member_id}"


def prize_key(draw_id: str, prize: int) -> str:
    """The once-only key of a prize's gift (and of its ledger entry, for points)."""
    return f"draw:{draw_id}:{prize}"
