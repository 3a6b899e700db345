"""The expiry job: what remains of a due lot expires, exactly once.

Safe to run twice or on two instances at once: each lot is expired by a conditional update
that only one transaction can win, and the EXPIRE entry's key ("expire:<lot>") is unique.
"""

from dataclasses import dataclass

from loyalty.collections import LOTS
from loyalty.ledger.posting import expire_lot
from store import Session, Store, is_duplicate_key
from store.clock import Clock


@dataclass(frozen=True, slots=True)
class ExpiryRun:
    lots_expired: int
    points_expired: int


async def expire_due_lots(store: Store, *, clock: Clock, batch: int = 200) -> ExpiryRun:
    """Expire every lot whose expiry has passed; returns what this run expired."""
    lots_expired = points_expired = 0
    while True:
        now = clock()
        due = await store.collection(LOTS).find(
            {"expires_at": {"$lte": now}, "remaining": {"$gt": 0}, "expired_at": None},
            {"_id": 1},
        ).sort("expires_at", 1).limit(batch).to_list(batch)
        for lot in due:
            points = await _expire(store, lot["_id"], clock)
            lots_expired += points > 0
            points_expired += points
        if len(due) < batch:
            return ExpiryRun(lots_expired, points_expired)


async def _expire(store: Store, lot_id: str, clock: Clock) -> int:
    async def work(session: Session) -> int:
        return await expire_lot(store, session, lot_id=lot_id, now=clock())

    try:
        return await store.transaction(work)
    except Exception as error:
        if is_duplicate_key(error):  # a concurrent run committed this lot's EXPIRE first
            return 0
        raise
