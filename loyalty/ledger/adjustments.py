"""Manual adjustments by an administrator: always with a reason, always audited."""

from events.audit import Audit, Target
from loyalty.idempotency import check_external_id, fingerprint
from loyalty.ledger.audit import record_entry
from loyalty.ledger.entries import Actor, Entry, EntryKind, Source, first_entry
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, credit, debit
from loyalty.programme.settings import load_programme
from store import InvalidInput, Session, Store, is_duplicate_key, new_id
from store.clock import Clock

MAX_ADJUSTMENT = 10_000_000


async def adjust_points(
    store: Store,
    *,
    member_id: str,
    points: int,
    reason: str,
    actor: Actor,
    clock: Clock,
    audit: Audit | None,
    idempotency_key: str | None = None,
) -> Entry:
    """Add (points > 0) or remove (points < 0) points with a reason.

    Removing takes spendable and pending lots, soonest expiry first, and never puts the
    member in debt: raises InsufficientPoints instead. With an `idempotency_key`, a retry
    returns the first entry and the same key with other details is IdempotencyConflict.
    """
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= 500:
        raise InvalidInput("Say why, in 3 to 500 characters.", field=("input", "reason"))
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise InvalidInput(f"Adjust by a non-zero number of points up to {MAX_ADJUSTMENT}.",
                           field=("input", "points"))
    if idempotency_key is not None:
        idempotency_key = check_external_id(
            idempotency_key, field=("input", "idempotencyKey"), what="idempotency key"
        )
    payload_hash = fingerprint({"member": member_id, "points": points, "reason": reason})
    programme = await load_programme(store)
    adjustment_id = new_id()
    key = f"adjust:{idempotency_key or adjustment_id}"

    async def work(session: Session) -> Entry:
        now = clock()
        member = await read_member(store, member_id, session=session)
        movement = Movement(
            key=key, kind=EntryKind.ADJUST, reason=reason,
            source=Source("ADJUSTMENT", adjustment_id), actor=actor, occurred_at=now,
            recorded_at=now, payload_hash=payload_hash,
        )
        if points > 0:
            entry = await credit(store, session, movement, member=member, points=points,
                                 programme=programme)
        else:
            entry = await debit(store, session, movement, member=member, points=-points,
                                include_pending=True)
        record_entry(audit, store, session, operation="pointsAdjust",
                     target=Target("Member", member_id), member=member, entry=entry)
        return entry

    try:
        return await store.transaction(work)
    except Exception as error:
        if not is_duplicate_key(error):
            raise
    return await first_entry(store, key, payload_hash, what="adjustment")
