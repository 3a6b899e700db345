"""Progress: what an order or an action adds to a member's challenges, in the transaction
that records it, and what a refund takes back.

One document per member in `challenge_progress` (`_id` = member id) holds the counters of
every challenge and period: `c.<challenge>.<period>` = {n, a, w {week: orders},
s {store: orders}} (see `challenge_periods`). An event updates it with one
find_one_and_update ($inc, upsert, returning the counters after): the counters before are
those after less this event's increments, so the event whose increment crosses the target
completes the challenge. Concurrent events of one member conflict on this document inside
their transactions, so exactly one of them sees the crossing.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import events
from loyalty.conditions import (
    Action,
    MemberFacts,
    Purchase,
    eligible_amount,
    member_conditions_hold,
    order_conditions_hold,
    time_conditions_hold,
)
from loyalty.ledger.member_state import MemberState
from loyalty.play import challenge_completion, challenge_events, challenge_refunds
from loyalty.play.challenge_periods import (
    encode_key,
    minus,
    period_key,
    progress_of,
    week_key,
)
from loyalty.play.challenge_store import get_challenges, live_challenges
from loyalty.play.challenges import ORDER_KINDS, Challenge, ChallengeKind
from loyalty.play.progress import ProgressChange
from loyalty.programme.settings import Programme
from store import ReturnDocument, Session, Store

PROGRESS = "challenge_progress"


@dataclass(frozen=True, slots=True)
class ChallengeOutcome:
    """What one event did to the member's challenges."""

    changes: tuple[ProgressChange, ...] = ()
    """For the leaderboards that rank by a challenge's progress."""
    contributions: tuple[dict[str, Any], ...] = ()
    """What an order added, kept on the order document so a refund undoes exactly that."""
    gifts_pending: tuple[str, ...] = ()
    """Voucher gifts of completions, to issue right after commit."""


@dataclass(frozen=True, slots=True)
class _Step:
    challenge: Challenge
    period: str
    increments: dict[str, int]


def _counts(challenge: Challenge, member: MemberState, facts: MemberFacts,
            occurred_at: datetime, programme: Programme) -> bool:
    """Whether an event of the member at `occurred_at` may count for the challenge: in its
    window, for the member's audience, and after joining when it is opt-in."""
    if not time_conditions_hold(challenge.conditions, occurred_at, programme.timezone):
        return False
    if not member_conditions_hold(challenge.conditions, facts):
        return False
    if challenge.opt_in:
        joined = (member.challenges_joined or {}).get(challenge.id)
        return joined is not None and joined <= occurred_at
    return True


def _order_increments(challenge: Challenge, purchase: Purchase, facts: MemberFacts,
                      store_id: str | None, programme: Programme) -> dict[str, int] | None:
    if not order_conditions_hold(challenge.conditions, purchase, facts):
        return None
    increments = {"n": 1}
    if challenge.kind is ChallengeKind.SPEND:
        increments["a"] = eligible_amount(challenge.conditions, purchase) or 0
    elif challenge.kind is ChallengeKind.STREAK_WEEKS:
        increments[f"w.{week_key(purchase.occurred_at, programme.timezone)}"] = 1
    elif challenge.kind is ChallengeKind.STORE_COUNT:
        if store_id is None:
            return None  # an online order is in no store
        increments[f"s.{encode_key(store_id)}"] = 1
    return increments


async def progress_order(
    store: Store, session: Session, *, member: MemberState, facts: MemberFacts,
    purchase: Purchase, store_id: str | None, programme: Programme, now: datetime,
) -> ChallengeOutcome:
    """Move the member's challenges for the order `purchase`, inside its transaction. No
    database command when no live challenge counts it; else one, plus a completion's."""
    steps = []
    for challenge in await live_challenges(store):
        if challenge.kind not in ORDER_KINDS or not _counts(
                challenge, member, facts, purchase.occurred_at, programme):
            continue
        increments = _order_increments(challenge, purchase, facts, store_id, programme)
        if increments is not None:
            period = period_key(challenge, purchase.occurred_at, programme.timezone)
            steps.append(_Step(challenge, period, increments))
    cause = {"kind": "ORDER", "id": purchase.order_id}
    outcome = await _apply(store, session, steps, member_id=member.member_id, cause=cause,
                           now=now, programme=programme)
    contributions = tuple(
        {"c": step.challenge.id, "p": step.period, "inc": step.increments,
         "min_total": step.challenge.conditions.min_total, "a_taken": 0, "removed": False,
         **challenge_refunds.eligible_lines(step.challenge, purchase)}
        for step in steps
    )
    return ChallengeOutcome(outcome.changes, contributions, outcome.gifts_pending)


async def progress_action(
    store: Store, session: Session, *, member: MemberState, facts: MemberFacts,
    action: Action, programme: Programme, now: datetime,
) -> ChallengeOutcome:
    """Move the member's ACTION_COUNT challenges for `action`, inside its transaction."""
    steps = [
        _Step(challenge, period_key(challenge, action.occurred_at, programme.timezone),
              {"n": 1})
        for challenge in await live_challenges(store)
        if challenge.kind is ChallengeKind.ACTION_COUNT
        and challenge.action_type == action.type
        and _counts(challenge, member, facts, action.occurred_at, programme)
    ]
    cause = {"kind": "ACTION", "id": f"{action.type}:{action.reference}"}
    return await _apply(store, session, steps, member_id=member.member_id, cause=cause,
                        now=now, programme=programme)


async def _apply(
    store: Store, session: Session, steps: Sequence[_Step], *, member_id: str,
    cause: dict[str, Any], now: datetime, programme: Programme | None,
) -> ChallengeOutcome:
    """Add the steps' increments in one command; complete (programme given) or revoke
    (None: a refund) where the target is crossed."""
    if not steps:
        return ChallengeOutcome()
    inc: dict[str, int] = {}
    for step in steps:
        for path, amount in step.increments.items():
            inc[f"c.{step.challenge.id}.{step.period}.{path}"] = amount
    after = await store.collection(PROGRESS).find_one_and_update(
        {"_id": member_id}, {"$inc": inc, "$set": {"updated_at": now}},
        projection={f"c.{s.challenge.id}.{s.period}": 1 for s in steps},
        upsert=True, return_document=ReturnDocument.AFTER, session=session)
    moved: list[tuple[Challenge, ProgressChange]] = []
    gifts: list[str] = []
    for step in steps:
        challenge = step.challenge
        counters = ((after or {}).get("c") or {}).get(challenge.id, {}).get(step.period)
        now_at = progress_of(challenge.kind, counters)
        was = progress_of(challenge.kind, minus(counters, step.increments))
        target = challenge.target
        crossed = was < target <= now_at
        change = ProgressChange(challenge_id=challenge.id, period=step.period, before=was,
                                after=now_at, target=target, completed=False)
        if crossed and programme is not None:
            pending = await challenge_completion.complete(
                store, session, challenge=challenge, member_id=member_id,
                period=step.period, cause=cause, now=now, programme=programme)
            if pending is not None:
                gifts += pending
                change = ProgressChange(challenge.id, step.period, was, now_at, target, True)
        elif programme is None and now_at < target <= was:
            await challenge_completion.revoke(store, session, challenge=challenge,
                                              member_id=member_id, period=step.period,
                                              now=now)
        if was != now_at:
            moved.append((challenge, change))
    if moved:
        events.record(store, session, challenge_events.progressed(
            moved, member_id=member_id, cause=cause, at=now))
    return ChallengeOutcome(changes=tuple(change for _, change in moved),
                            gifts_pending=tuple(gifts))


async def undo_refunded_order(
    store: Store, session: Session, *, order: Mapping[str, Any], refunded_now: int,
    lines: Sequence[tuple[str, int]], refund_id: str, now: datetime,
) -> tuple[tuple[ProgressChange, ...], dict[str, Any]]:
    """Take back what the order (its document before this refund) added to challenges: a
    full refund, or one that leaves less than a challenge's minimum total, removes the order
    from it; a partial one takes back the refunded part of its spending (see
    `challenge_refunds.taken_back`). A completion that falls below its target is revoked
    under the challenge's TAKE_BACK policy. Returns the progress changes and the fields the
    caller sets on the order in its own update (no command of ours on the order; none at all
    for an order that counted for no challenge)."""
    contributions: list[dict[str, Any]] = [dict(c) for c in order.get("challenges") or []]
    if not contributions:
        return (), {}
    refund = challenge_refunds.Refund.of(order, refunded_now=refunded_now, lines=lines)
    live = {c.id: c for c in await live_challenges(store)}
    missing = [c["c"] for c in contributions if c["c"] not in live]
    if missing:
        live.update(await get_challenges(store, missing))
    steps: list[_Step] = []
    for contribution in contributions:
        challenge = live.get(contribution["c"])
        if challenge is None or contribution["removed"]:
            continue
        increments = challenge_refunds.taken_back(contribution, refund)
        if increments:
            steps.append(_Step(challenge, contribution["p"], increments))
    outcome = await _apply(store, session, steps, member_id=str(order["member_id"]),
                           cause={"kind": "REFUND", "id": refund_id, "order": order["_id"]},
                           now=now, programme=None)
    return outcome.changes, {"challenges": contributions}
