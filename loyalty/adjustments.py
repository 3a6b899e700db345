"""Manual adjustments by an administrator: always with a reason, always audited."""

from loyalty.ledger import Actor, Entry, EntryKind, Source
from loyalty.members import read_member
from loyalty.posting import Movement, credit, debit
from loyalty.programme import load_programme
from store import InvalidInput, Session, Store, new_id
from store.clock import Clock

MAX_ADJUSTMENT = 10_000_000


async def adjust_points(
    store: Store, *, member_id: str, points: int, reason: str, actor: Actor, clock: Clock
) -> Entry:
    """Add (points > 0) or remove (points < 0) points with a reason.

    Removing takes spendable and pending lots, soonest expiry first, and never puts the
    member in debt: raises InsufficientPoints instead.
    """
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= 500:
        raise InvalidInput("Say why, in 3 to 500 characters.", field=("input", "reason"))
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise InvalidInput(f"Adjust by a non-zero number of points up to {MAX_ADJUSTMENT}.",
                           field=("input", "points"))
    programme = await load_programme(store)
    adjustment_id = new_id()

    async def work(session: Session) -> Entry:
        now = clock()
        member = await read_member(store, member_id, session=session)
        movement = Movement(
            key=f"adjust:{adjustment_id}", kind=EntryKind.ADJUST, reason=reason,
            source=Source("ADJUSTMENT", adjustment_id), actor=actor, occurred_at=now,
            recorded_at=now,
        )
        if points > 0:
            return await credit(store, session, movement, member=member, points=points,
                                programme=programme)
        return await debit(store, session, movement, member=member, points=-points,
                           include_pending=True)

    return await store.transaction(work)
