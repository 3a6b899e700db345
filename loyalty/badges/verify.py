"""`kizuna verify`'s check of badges: every badge a member holds is one of the catalogue's
(badges are archived, never deleted, so a reference to none is a bug or a hand edit)."""

from collections.abc import AsyncIterator

from loyalty.badges.catalogue import BADGES
from loyalty.collections import MEMBERS
from loyalty.ledger.verify import Members, Violation
from store import Session, Store


async def badge_references(
    store: Store, session: Session | None, members: Members
) -> AsyncIterator[Violation]:
    """A Checker (loyalty/ledger/verify.py): two queries per batch of members, the
    catalogue's ids (at most a few hundred) and the batch's members holding badges."""
    known = {doc["_id"] async for doc in store.collection(BADGES).find(
        {}, {"_id": 1}, session=session)}
    cursor = store.collection(MEMBERS).find(
        {**members.where("_id"), "badges": {"$exists": True}}, {"badges": 1}, session=session)
    async for doc in cursor:
        for badge_id in sorted(set(doc.get("badges") or {}) - known):
            yield Violation("every badge held is in the catalogue", doc["_id"],
                            f"holds the unknown badge {badge_id!r}")
