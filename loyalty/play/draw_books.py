"""`kizuna verify` for prize draws, batch by batch of members (loyalty.ledger.verify):
every draw prize gift is the prize a closed draw's winner won (its key names the draw and
the prize), and every winner has their gift, once; every bought entry has its ledger debit
(same key, member, draw and points) and every draw debit its entries; each gift holds the
prize the draw names, and the tickets and proofs add up (draw_counts.py)."""

from collections.abc import AsyncIterator, Mapping
from typing import Any

from loyalty.collections import GIFTS, LEDGER
from loyalty.engagement.gifts import Occasion
from loyalty.ledger.entries import EntryKind
from loyalty.ledger.verify import Members, Violation
from loyalty.play.draw_counts import draw_counts, entrant_counts, prize_mismatch
from loyalty.play.draw_entries import BOUGHT
from loyalty.play.draws import DRAW_ENTRIES, DRAWS, DrawStatus, prize_key
from store import Document, Session, Store


def _within(members: Members, member_id: Any) -> bool:
    """Whether `member_id` belongs to the batch `members` (as `Members.where` selects)."""
    if not isinstance(member_id, str):
        return members.through is None
    above = members.after is None or member_id > members.after
    return above and (members.through is None or member_id <= members.through)


async def _docs(store: Store, session: Session | None, collection: str,
                where: Mapping[str, Any]) -> list[Document]:
    return await store.collection(collection).find(dict(where), session=session).to_list(None)


async def draw_books(store: Store, session: Session | None, members: Members) -> (
    AsyncIterator[Violation]
):
    gifts = {g["_id"]: g for g in await _docs(
        store, session, GIFTS, {**members.where(), "occasion": Occasion.DRAW.value})}
    draws = {d["_id"]: d for d in await _docs(
        store, session, DRAWS, {"_id": {"$in": sorted({k.split(":")[1] for k in gifts})}})}
    draws |= {d["_id"]: d for d in await _docs(
        store, session, DRAWS, members.where("winners.member_id"))}
    for key, gift in gifts.items():
        draw = draws.get(key.split(":")[1])
        winner = _winner(draw, key)
        if winner is None or winner != gift["member_id"]:
            yield Violation("every draw prize goes to its winner", key,
                            f"given to {gift['member_id']}, the draw's winner is {winner}")
        mismatch = prize_mismatch(gift, draw)
        if mismatch is not None:
            yield Violation("every draw prize gift is the draw's prize", key, mismatch)
    for draw in draws.values():
        for won in draw.get("winners") or ():
            key = prize_key(draw["_id"], won["prize"])
            given = gifts.get(key, {}).get("member_id")
            if _within(members, won["member_id"]) and given != won["member_id"]:
                yield Violation("every draw winner has their prize", key,
                                f"the gift is {'missing' if given is None else 'elsewhere'}")
    for violation in await _bought(store, session, members):
        yield violation
    for check in (entrant_counts, draw_counts):
        async for violation in check(store, session, members):
            yield violation


def _winner(draw: Mapping[str, Any] | None, key: str) -> str | None:
    if draw is None or draw["status"] != DrawStatus.CLOSED.value:
        return None
    prize = key.split(":")[2]
    return next((w["member_id"] for w in draw.get("winners") or ()
                 if str(w["prize"]) == prize), None)


async def _bought(store: Store, session: Session | None, members: Members) -> (
    list[Violation]
):
    bought = {e["_id"]: e for e in await _docs(
        store, session, DRAW_ENTRIES, {**members.where(), "source": BOUGHT})}
    debits = {e["key"]: e for e in await _docs(
        store, session, LEDGER, {**members.where(), "source.type": "DRAW",
                                 "kind": EntryKind.REDEEM.value})}
    found = []
    for key, entries in bought.items():
        debit = debits.pop(key, None)
        if debit is None or (debit["_id"], debit["member_id"], debit["source"]["id"],
                             -debit["points"]) != (entries["entry_id"], entries["member_id"],
                                                   entries["draw_id"], entries["points"]):
            found.append(Violation("every bought draw entry has its ledger debit", key,
                                   f"{entries['points']} points, debit {debit and debit['_id']}"))
    found += [Violation("every draw debit has its entries", key, "no entries bought")
              for key in debits]
    return found
