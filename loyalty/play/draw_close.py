"""Closing a prize draw: freeze the entry list, pick the winners from the committed seed,
reveal it, publish the proof and give every winner their prize, all in one transaction.

The close is claimed by one conditional update (OPEN → CLOSED) inside that transaction, so
an administrator's `drawClose` and the job every server runs at `closes_at` may race: one
commits, the others find the draw closed. Entries write the same draw document
(draw_entries.py), so none commits after the list is read.

Not before closes_at: an administrator's close before it is refused (DRAW_NOT_DUE, nothing
written). Whoever knows the seed (the server, a database or backup reader) could otherwise
compute who would win at each moment and close the draw when a favoured entrant leads; at a
fixed time the only lever left is adding entries, which the entry list and the ledger show
(docs/draws.md).

Too few entrants: an administrator's close is refused (DRAW_TOO_FEW_ENTRANTS, nothing
written) — the scheduled close at `closes_at` goes ahead
and awards as many prizes as there are entrants (prizes in index order; the rest are not
given), since nobody can enter any more.
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

import events
from events import Event, EventType, Subject, SubjectKind
from events.audit import Audit, Target
from loyalty.engagement.gifts import (
    GiftStatus,
    Occasion,
    gift_from_document,
    grant_points,
    record_gift,
)
from loyalty.play.draw_algorithm import Entrant, Winner, canonical, proof, winners
from loyalty.play.draw_errors import (
    DrawAlreadyClosed,
    DrawNotDue,
    DrawTooFewEntrants,
    UnknownDraw,
)
from loyalty.play.draws import (
    DRAW,
    DRAW_ENTRANTS,
    DRAWS,
    Draw,
    DrawStatus,
    from_document,
    prize_key,
)
from loyalty.programme.settings import Programme, load_programme
from store import ReturnDocument, Session, Store
from store.clock import Clock

ADMIN = "ADMIN"
SCHEDULE = "SCHEDULE"


@dataclass(frozen=True, slots=True)
class Closed:
    draw: Draw
    voucher_gifts: tuple[str, ...]
    """Keys of the PENDING voucher gifts decided (scanner.gifts issues them)."""


async def close_draw(store: Store, *, draw_id: str, clock: Clock, audit: Audit | None,
                     scheduled: bool = False) -> Closed:
    """Close the draw now (an administrator's, or with `scheduled` the job's at closes_at).
    Raises UnknownDraw, DrawAlreadyClosed, DrawNotDue (before closes_at) or, unless
    `scheduled`, DrawTooFewEntrants, writing nothing."""
    programme = await load_programme(store)

    async def work(session: Session) -> Closed:
        now = clock()
        doc = await store.collection(DRAWS).find_one_and_update(
            {"_id": draw_id, "status": DrawStatus.OPEN.value, "closes_at": {"$lte": now}},
            {"$set": {"status": DrawStatus.CLOSED.value, "closed_at": now, "updated_at": now,
                      "closed_by": SCHEDULE if scheduled else ADMIN}},
            return_document=ReturnDocument.AFTER, session=session)
        if doc is None:
            await _refuse(store, session, draw_id)
        found = await store.collection(DRAW_ENTRANTS).find(
            {"draw_id": draw_id}, {"entrant": 1, "member_id": 1, "tickets": 1},
            session=session).to_list(None)
        members = {e["entrant"]: e["member_id"] for e in found}
        entrants = [Entrant(e["entrant"], e["tickets"]) for e in found]
        listed = canonical(entrants)
        if not scheduled and len(listed) < len(doc["prizes"]):
            raise DrawTooFewEntrants(
                f"{len(listed)} member(s) entered for {len(doc['prizes'])} prize(s).",
                field=("input", "drawId"))
        seed = bytes.fromhex(doc["seed_secret"])
        # Linear in the entrants (summing their tickets), whatever the counts: off the loop.
        chosen = await asyncio.to_thread(winners, seed=seed, draw_id=draw_id,
                                         prizes=len(doc["prizes"]), entrants=listed)
        published = {**proof(draw_id=draw_id, seed=seed, prizes=len(doc["prizes"]),
                             entrants=listed, chosen=chosen), "closedAt": now.isoformat()}
        fields = {"seed": seed.hex(), "proof": published, "winners": [
            {"prize": w.prize, "ticket": w.ticket, "entrant": w.entrant,
             "member_id": members[w.entrant]} for w in chosen]}
        await store.collection(DRAWS).update_one({"_id": draw_id}, {"$set": fields},
                                                 session=session)
        vouchers = [await _give(store, session, doc, w, members[w.entrant], now, programme)
                    for w in chosen]
        events.record(store, session, Event(
            EventType.DRAW_CLOSED, Subject(SubjectKind.DRAW, draw_id), now, None,
            {"draw": _about(doc), "seed": seed.hex(), "entrants": len(listed),
             "tickets": sum(e.tickets for e in listed), "winners": len(chosen)}))
        if audit is not None:
            audit.record(store, session, operation="drawClose", target=Target(DRAW, draw_id),
                         at=now, before={"status": DrawStatus.OPEN.value},
                         after={"status": DrawStatus.CLOSED.value, "winners": len(chosen)})
        closed = from_document({**doc, **fields})
        return Closed(closed, tuple(key for key in vouchers if key is not None))

    return await store.transaction(work)


async def _refuse(store: Store, session: Session, draw_id: str) -> NoReturn:
    """Why the draw cannot be closed now (it is unknown, closed, or not due)."""
    found = await store.collection(DRAWS).find_one({"_id": draw_id}, {"status": 1},
                                                   session=session)
    if found is None:
        raise UnknownDraw("No draw has this id.", field=("input", "drawId"))
    if found["status"] == DrawStatus.OPEN.value:
        raise DrawNotDue("The draw closes at its closesAt, not before.",
                         field=("input", "drawId"))
    raise DrawAlreadyClosed("The draw was closed already.", field=("input", "drawId"))


def _about(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], "title": doc["title"], "commitment": doc["commitment"]}


async def _give(store: Store, session: Session, doc: Mapping[str, Any], winner: Winner,
                member_id: str, now: datetime, programme: Programme) -> str | None:
    """The prize of `winner`, once (its gift key); the voucher gift's key, if it is one."""
    draw_id = doc["_id"]
    key = prize_key(draw_id, winner.prize)
    gift = gift_from_document(doc["prizes"][winner.prize])
    assert gift is not None  # noqa: S101 - a draw is created with checked prizes
    details = {"draw_id": draw_id, "prize": winner.prize, "ticket": winner.ticket}
    if gift.points is not None:
        await grant_points(store, session, key=key, member_id=member_id,
                           occasion=Occasion.DRAW, points=gift.points,
                           reason=f"Prize draw won: {doc['title']}", now=now,
                           programme=programme, details=details)
    else:
        await record_gift(store, session, key=key, member_id=member_id,
                          occasion=Occasion.DRAW, gift=gift, status=GiftStatus.PENDING,
                          now=now, details=details)
    events.record(store, session, Event(
        EventType.DRAW_WON, Subject(SubjectKind.DRAW, draw_id), now, member_id,
        {"draw": _about(doc), "prize": {"index": winner.prize, **_gift_body(gift.points,
                                                                           doc, winner)},
         "ticket": winner.ticket}))
    return key if gift.voucher is not None else None


def _gift_body(points: int | None, doc: Mapping[str, Any], winner: Winner) -> dict[str, Any]:
    prize = doc["prizes"][winner.prize]
    return {"points": points, "voucher": prize.get("voucher")}


async def close_due_draws(store: Store, *, clock: Clock) -> list[Closed]:
    """Close every open draw whose closes_at has passed (the job every server runs; a draw
    another run closed first is skipped)."""
    cursor = store.collection(DRAWS).find(
        {"status": DrawStatus.OPEN.value, "closes_at": {"$lte": clock()}}, {"_id": 1})
    due = [doc["_id"] async for doc in cursor]
    closed = []
    for draw_id in due:
        try:
            closed.append(await close_draw(store, draw_id=draw_id, clock=clock, audit=None,
                                           scheduled=True))
        except (DrawAlreadyClosed, UnknownDraw):
            continue
    if closed:
        store.reads.forget(DRAWS)
    return closed
