"""Entering prize draws: entries earned by recording actions (called from
loyalty/earning/actions.py inside the action's transaction) and entries bought with points.

Every grant of entries increments the draw's ticket count with a write conditional on the
draw being OPEN. That write is what makes the close safe: a close and an entry touching the
same draw document cannot both commit, so no entry slips in after the entry list is frozen.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.errors import InsufficientPoints
from loyalty.idempotency import check_key, fingerprint
from loyalty.ledger.entries import Actor, Entry, EntryKind, Source, entry_by_key, first_entry
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, debit
from loyalty.play.draw_algorithm import pseudonym
from loyalty.play.draw_errors import DrawEntryLimit, DrawNotOpen, UnknownDraw
from loyalty.play.draws import DRAW_ENTRANTS, DRAW_ENTRIES, DRAWS, DrawStatus, entrant_key
from store import InvalidInput, ReturnDocument, Session, Store, is_duplicate_key
from store.clock import Clock

MAX_BOUGHT_AT_ONCE = 1_000
BOUGHT = "BOUGHT"
ACTION = "ACTION"


@dataclass(frozen=True, slots=True)
class ActionDraw:
    """An open draw that gives entries for an action type (cached: definitions change
    rarely, and every action asks)."""

    draw_id: str
    action_type: str
    entries: int
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True, slots=True)
class EntriesBought:
    entry: Entry
    """The ledger debit."""
    tickets: int
    """The member's entries in the draw now (all sources)."""
    replayed: bool


async def action_draws(store: Store, action_type: str) -> tuple[ActionDraw, ...]:
    """The not-yet-closed draws giving entries for `action_type` (a few seconds' copy)."""

    async def load() -> tuple[ActionDraw, ...]:
        cursor = store.collection(DRAWS).find(
            {"status": DrawStatus.OPEN.value, "action_entries.0": {"$exists": True}},
            {"action_entries": 1, "opens_at": 1, "closes_at": 1})
        return tuple([ActionDraw(doc["_id"], a["type"], a["entries"], doc["opens_at"],
                                 doc["closes_at"])
                      async for doc in cursor for a in doc["action_entries"]])

    every = await store.reads.get(DRAWS, load)
    return tuple(d for d in every if d.action_type == action_type)


async def _claim_tickets(store: Store, session: Session, draw_id: str, tickets: int,
                         now: datetime, occurred_at: datetime | None = None) -> (
    Mapping[str, Any] | None
):
    """Add `tickets` to the open draw; its document (None: not open at `now`, or
    `occurred_at` outside its window)."""
    when = now if occurred_at is None else occurred_at
    doc: Mapping[str, Any] | None = await store.collection(DRAWS).find_one_and_update(
        {"_id": draw_id, "status": DrawStatus.OPEN.value,
         "opens_at": {"$lte": min(now, when)}, "closes_at": {"$gt": max(now, when)}},
        {"$inc": {"tickets": tickets}, "$set": {"updated_at": now}},
        projection={"salt_secret": 1}, session=session)
    return doc


async def _add_to_entrant(store: Store, session: Session, *, draw: Mapping[str, Any],
                          member_id: str, tickets: int, bought: int, now: datetime) -> int:
    """Add to the member's entries in the draw; their tickets now."""
    draw_id = draw["_id"]
    doc = await store.collection(DRAW_ENTRANTS).find_one_and_update(
        {"_id": entrant_key(draw_id, member_id)},
        {"$inc": {"tickets": tickets, "bought": bought},
         "$setOnInsert": {"draw_id": draw_id, "member_id": member_id, "created_at": now,
                          "entrant": pseudonym(bytes.fromhex(draw["salt_secret"]),
                                               member_id)}},
        upsert=True, return_document=ReturnDocument.AFTER, session=session)
    assert doc is not None  # noqa: S101 - an upsert returning the document after it
    if doc["tickets"] == tickets:  # a new entrant
        await store.collection(DRAWS).update_one({"_id": draw_id}, {"$inc": {"entrants": 1}},
                                                 session=session)
    total: int = doc["tickets"]
    return total


async def grant_action_entries(
    store: Store, session: Session, *, draws: tuple[ActionDraw, ...], member_id: str,
    action_type: str, reference: str, now: datetime, occurred_at: datetime | None = None,
) -> int:
    """Give the member the entries each open draw in `draws` gives for this action, in the
    action's transaction (which records the action once: so are its entries). An action
    counts for a draw when it happened (`occurred_at`, default `now`) in the draw's window
    and the draw is still open now: a backdated action from before the draw opened earns
    nothing. Returns how many entries were given."""
    given = 0
    when = now if occurred_at is None else occurred_at
    for plan in draws:
        if not (plan.opens_at <= when < plan.closes_at and plan.opens_at <= now < plan.closes_at):
            continue
        draw = await _claim_tickets(store, session, plan.draw_id, plan.entries, now, when)
        if draw is None:
            continue
        await _add_to_entrant(store, session, draw=draw, member_id=member_id,
                              tickets=plan.entries, bought=0, now=now)
        await store.collection(DRAW_ENTRIES).insert_one({
            "_id": f"draw:{plan.draw_id}:action:{action_type}:{reference}",
            "draw_id": plan.draw_id, "member_id": member_id, "entries": plan.entries,
            "source": ACTION, "action": {"type": action_type, "reference": reference},
            "points": 0, "entry_id": None, "created_at": now}, session=session)
        given += plan.entries
    return given


async def buy_entries(
    store: Store, *, draw_id: str, member_id: str, entries: int, idempotency_key: str,
    actor: Actor, clock: Clock,
) -> EntriesBought:
    """Spend points on `entries` entries of an open draw: one ledger debit (the draw as
    reason) and the entries, one transaction, once per idempotency key. Raises
    UnknownDraw, DrawNotOpen, DrawEntryLimit, InsufficientPoints or InvalidInput, writing
    nothing."""
    if not 1 <= entries <= MAX_BOUGHT_AT_ONCE:
        raise InvalidInput(f"Buy 1 to {MAX_BOUGHT_AT_ONCE} entries at once.",
                           field=("input", "entries"))
    key = f"draw:{draw_id}:buy:{member_id}:{check_key(idempotency_key)}"
    payload_hash = fingerprint({"draw": draw_id, "member": member_id, "entries": entries})

    async def work(session: Session) -> EntriesBought:
        now = clock()
        draw = await store.collection(DRAWS).find_one({"_id": draw_id}, session=session)
        if draw is None:
            raise UnknownDraw("No draw has this id.", field=("input", "drawId"))
        price = draw.get("price")
        if price is None:
            raise DrawNotOpen("This draw's entries are not for sale.", field=("input", "drawId"))
        if await _claim_tickets(store, session, draw_id, entries, now) is None:
            raise DrawNotOpen("The draw is not open.", field=("input", "drawId"))
        mine = await store.collection(DRAW_ENTRANTS).find_one(
            {"_id": entrant_key(draw_id, member_id)}, {"bought": 1}, session=session)
        already = (mine or {}).get("bought", 0)
        cap = draw.get("max_bought")
        if cap is not None and already + entries > cap:
            raise DrawEntryLimit(f"You may buy {cap} entries in this draw; you have "
                                 f"{already}.", field=("input", "entries"))
        member = await read_member(store, member_id, session=session)
        try:
            entry = await debit(store, session, Movement(
                key=key, kind=EntryKind.REDEEM, reason=f"Prize draw entries: {draw['title']}",
                source=Source("DRAW", draw_id), actor=actor, occurred_at=now,
                recorded_at=now, payload_hash=payload_hash,
                details={"draw_id": draw_id, "entries": entries},
            ), member=member, points=entries * price)
        except InsufficientPoints as error:
            raise InsufficientPoints(error.message, field=("input", "entries")) from None
        tickets = await _add_to_entrant(store, session, draw=draw, member_id=member_id,
                                        tickets=entries, bought=entries, now=now)
        await store.collection(DRAW_ENTRIES).insert_one({
            "_id": key, "draw_id": draw_id, "member_id": member_id, "entries": entries,
            "source": BOUGHT, "action": None, "points": entries * price,
            "entry_id": entry.id, "created_at": now}, session=session)
        return EntriesBought(entry, tickets, replayed=False)

    for _ in range(3):
        try:
            return await store.transaction(work)
        except Exception as error:
            if not is_duplicate_key(error):
                raise
        if await entry_by_key(store, key) is not None:
            first = await first_entry(store, key, payload_hash, what="purchase of entries")
            mine = await store.collection(DRAW_ENTRANTS).find_one(
                {"_id": entrant_key(draw_id, member_id)}, {"tickets": 1})
            return EntriesBought(first, (mine or {}).get("tickets", 0), replayed=True)
        # Two first entries of one member raced on their entrant document: try again.
    raise RuntimeError("could not record the purchase of entries")
