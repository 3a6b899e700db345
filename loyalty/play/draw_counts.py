"""More of `kizuna verify` for prize draws (called from draw_books.py): the tickets add up,
prizes are the draw's prizes, and every closed draw's proof still checks out.

- Per batch of members: each entrant's tickets (and bought entries) equal the sum of their
  grants of entries in that draw; each draw prize gift holds the prize the draw names.
- Once, in the last batch (members.through is None), per draw: the ticket counter equals the
  sum of the entrants' tickets (one $group per draw, so memory does not grow with the
  entrants), and a closed draw's proof checks out (kizuna-draw-v2), carries the draw's
  commitment and id, and lists exactly the entrants' pseudonyms and tickets.
"""

from collections.abc import AsyncIterator, Mapping
from typing import Any

from loyalty.ledger.verify import Members, Violation
from loyalty.play.draw_algorithm import Entrant, ProofError, canonical, check_proof
from loyalty.play.draw_entries import BOUGHT
from loyalty.play.draws import DRAW_ENTRANTS, DRAW_ENTRIES, DRAWS, DrawStatus
from store import Document, Session, Store


async def entrant_counts(store: Store, session: Session | None, members: Members) -> (
    AsyncIterator[Violation]
):
    """Each entrant of the batch holds exactly the entries granted to them."""
    granted: dict[str, list[int]] = {}
    cursor = store.collection(DRAW_ENTRIES).find(
        members.where(), {"draw_id": 1, "member_id": 1, "entries": 1, "source": 1},
        session=session)
    async for grant in cursor:
        sums = granted.setdefault(f"{grant['draw_id']}:{grant['member_id']}", [0, 0])
        sums[0] += grant["entries"]
        sums[1] += grant["entries"] if grant["source"] == BOUGHT else 0
    cursor = store.collection(DRAW_ENTRANTS).find(
        members.where(), {"tickets": 1, "bought": 1}, session=session)
    async for entrant in cursor:
        expected = granted.pop(entrant["_id"], [0, 0])
        held = [entrant.get("tickets", 0), entrant.get("bought", 0)]
        if held != expected:
            yield Violation("every draw entrant's tickets are the sum of their entries",
                            entrant["_id"], f"tickets, bought {held}; entries {expected}")
    for key, expected in granted.items():
        yield Violation("every draw entrant's tickets are the sum of their entries", key,
                        f"entries {expected} but no entrant")


def prize_mismatch(gift: Mapping[str, Any], draw: Mapping[str, Any] | None) -> str | None:
    """Why the prize gift `gift` is not the prize its draw names, if it is not."""
    if draw is None:
        return None  # reported as a prize without its winner
    index = int(str(gift["_id"]).split(":")[2])
    prizes = draw.get("prizes") or []
    named = prizes[index] if 0 <= index < len(prizes) else None
    if gift.get("gift") != named:
        return f"the gift is {gift.get('gift')}, the draw's prize {index} is {named}"
    return None


async def draw_counts(store: Store, session: Session | None, members: Members) -> (
    AsyncIterator[Violation]
):
    """Once (in the last batch): every draw's counters and closed draws' proofs."""
    if members.through is not None:
        return
    cursor = store.collection(DRAWS).find(
        {}, {"status": 1, "tickets": 1, "entrants": 1, "commitment": 1, "proof": 1},
        session=session)
    async for draw in cursor:
        tickets, count = await _entrant_sums(store, session, draw["_id"])
        if draw.get("tickets", 0) != tickets:
            yield Violation("every draw's ticket count is its entrants' tickets",
                            draw["_id"], f"counter {draw.get('tickets')}, entrants {tickets}")
        if draw["status"] == DrawStatus.CLOSED.value:
            problem = await _proof_problem(store, session, draw, tickets, count)
            if problem is not None:
                yield Violation("every closed draw's proof checks out", draw["_id"], problem)


async def _entrant_sums(store: Store, session: Session | None, draw_id: str) -> (
    tuple[int, int]
):
    pipeline: list[dict[str, Any]] = [
        {"$match": {"draw_id": draw_id}},
        {"$group": {"_id": None, "tickets": {"$sum": "$tickets"}, "count": {"$sum": 1}}}]
    async for row in await store.collection(DRAW_ENTRANTS).aggregate(pipeline,
                                                                     session=session):
        return int(row["tickets"]), int(row["count"])
    return 0, 0


async def _proof_problem(store: Store, session: Session | None, draw: Document,
                         tickets: int, count: int) -> str | None:
    published = draw.get("proof")
    if not isinstance(published, dict):
        return "no proof"
    try:
        check_proof(published)
    except ProofError as error:
        return str(error)
    if (published.get("commitment"), published.get("drawId")) != (draw["commitment"],
                                                                  draw["_id"]):
        return "the proof's commitment or drawId is not the draw's"
    listed = [(e["entrant"], e["tickets"]) for e in published["entries"]]
    if (len(listed), sum(t for _, t in listed)) != (count, tickets):
        return f"the proof lists {len(listed)} entrants, {sum(t for _, t in listed)} tickets"
    # Only when the sizes agree: the full comparison reads the draw's entrants.
    found = await store.collection(DRAW_ENTRANTS).find(
        {"draw_id": draw["_id"]}, {"entrant": 1, "tickets": 1}, session=session).to_list(None)
    stored = [(e.entrant, e.tickets) for e in canonical(
        [Entrant(e["entrant"], e["tickets"]) for e in found])]
    return None if stored == listed else "the proof's entry list is not the entrants'"
