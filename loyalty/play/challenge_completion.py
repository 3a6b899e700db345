"""Completing a challenge (its rewards, once) and revoking a completion a refund undid.

One document per member, challenge and period in `challenge_completions`, `_id` =
"<challenge>:<period>:<member>": {challenge_id, period, member_id, round, status
(COMPLETED | REVOKED), completed_at, revoked_at, rounds [{round, points, voucher, badges,
completed_at, cause, revoked_at, taken_back}]}. The unique `_id` means nothing completes
twice; a completion revoked under TAKE_BACK may complete again, as the next `round`, whose
rewards have keys of their own ("challenge:<completion>:<round>:points|voucher") — its
points and badges, but no second voucher (a voucher is given once per member, challenge
and period; the first stays with the member).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import events
from events import EventType
from loyalty.badges.awards import BadgeSource, award_badge, badge_event
from loyalty.badges.catalogue import catalogue
from loyalty.collections import MEMBERS
from loyalty.engagement.gifts import (
    Gift,
    GiftStatus,
    Occasion,
    grant_points,
    record_gift,
)
from loyalty.ledger.entries import SYSTEM, EntryKind, Source
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, debit
from loyalty.play import challenge_events
from loyalty.play.challenges import Challenge, RefundPolicy
from loyalty.programme.settings import Programme
from store import IndexSpec, Session, Store

COMPLETIONS = "challenge_completions"
COMPLETED = "COMPLETED"
REVOKED = "REVOKED"

INDEXES = (IndexSpec(COMPLETIONS, (("member_id", 1), ("_id", 1)), name="member"),)


def completion_id(challenge_id: str, period: str, member_id: str) -> str:
    return f"{challenge_id}:{period}:{member_id}"


def reward_key(completion: str, round: int, part: str) -> str:
    """The once-only key of a completion round's reward `part` ("points" or "voucher"): the
    gift's `_id` and, for points, the ledger entry's key."""
    return f"challenge:{completion}:{round}:{part}"


def revoke_key(completion: str, round: int) -> str:
    return f"challenge-revoke:{completion}:{round}"


async def complete(
    store: Store, session: Session, *, challenge: Challenge, member_id: str, period: str,
    cause: Mapping[str, Any], now: datetime, programme: Programme,
) -> tuple[str, ...] | None:
    """Record the completion and give its rewards, inside the caller's transaction; returns
    the keys of voucher gifts to issue after commit, or None when the period was completed
    already (a completion kept after a refund does not complete again)."""
    cid = completion_id(challenge.id, period, member_id)
    completions = store.collection(COMPLETIONS)
    existing = await completions.find_one({"_id": cid}, session=session)
    if existing is not None and existing["status"] == COMPLETED:
        return None
    round = 1 if existing is None else int(existing["round"]) + 1
    reward = challenge.reward
    details = {"challenge_id": challenge.id, "period": period, "round": round}
    badges = [
        badge for badge in reward.badges
        if await award_badge(store, session, member_id=member_id, badge_id=badge,
                             source=BadgeSource("CHALLENGE", challenge.id),
                             reason=f"Challenge: {challenge.title}", now=now)
    ]
    # A voucher is given once per member, challenge and period: a round completed again after
    # a revocation would otherwise mint one per order-and-refund loop (issued vouchers stay).
    voucher = reward.voucher is not None and not voucher_given(existing)
    record = {"round": round, "points": reward.points, "voucher": voucher,
              "badges": badges, "completed_at": now, "cause": dict(cause), "revoked_at": None,
              "taken_back": 0}
    await _record(store, session, cid, record, first=existing is None, challenge=challenge,
                  member_id=member_id, period=period, now=now)
    if reward.points:
        await grant_points(store, session, key=reward_key(cid, round, "points"),
                           member_id=member_id, occasion=Occasion.CHALLENGE,
                           points=reward.points, reason=f"Challenge completed: "
                           f"{challenge.title}", now=now, programme=programme,
                           details=details)
    pending: tuple[str, ...] = ()
    if voucher and reward.voucher is not None:
        key = reward_key(cid, round, "voucher")
        await record_gift(store, session, key=key, member_id=member_id,
                          occasion=Occasion.CHALLENGE, gift=Gift(voucher=reward.voucher),
                          status=GiftStatus.PENDING, now=now, details=details)
        pending = (key,)
    events.record(store, session, challenge_events.completed(
        challenge, member_id=member_id, period=period, round=round, at=now,
        reward={"points": reward.points or 0, "voucher": voucher,
                "badges": badges}))
    return pending


def voucher_given(completion: Mapping[str, Any] | None) -> bool:
    """Whether a round of the completion gave a voucher already."""
    return any(r.get("voucher") for r in (completion or {}).get("rounds") or [])


async def _record(
    store: Store, session: Session, cid: str, record: dict[str, Any], *, first: bool,
    challenge: Challenge, member_id: str, period: str, now: datetime,
) -> None:
    """Write the completion (a first one), or its next round (after a revocation)."""
    completions = store.collection(COMPLETIONS)
    round = record["round"]
    if first:
        await completions.insert_one(
            {"_id": cid, "challenge_id": challenge.id, "period": period,
             "member_id": member_id, "round": round, "status": COMPLETED,
             "completed_at": now, "revoked_at": None, "rounds": [record]},
            session=session)
        return
    await completions.update_one(
        {"_id": cid, "round": round - 1, "status": REVOKED},
        {"$set": {"round": round, "status": COMPLETED, "completed_at": now,
                  "revoked_at": None},
         "$push": {"rounds": record}},
        session=session)


async def revoke(
    store: Store, session: Session, *, challenge: Challenge, member_id: str, period: str,
    now: datetime,
) -> bool:
    """Under TAKE_BACK, undo the period's completion: reverse its points through the ledger
    (a debt when they were spent, as for other reversals), take back the badges it gave and
    mark it REVOKED so it may complete again. Vouchers already issued stay with the member.
    False (nothing done) under KEEP or when the period is not completed."""
    if challenge.refund_policy is not RefundPolicy.TAKE_BACK:
        return False
    cid = completion_id(challenge.id, period, member_id)
    completions = store.collection(COMPLETIONS)
    existing = await completions.find_one({"_id": cid}, session=session)
    if existing is None or existing["status"] != COMPLETED:
        return False
    round = int(existing["round"])
    record = existing["rounds"][-1]
    points = int(record.get("points") or 0)
    if points:
        member = await read_member(store, member_id, session=session)
        movement = Movement(
            key=revoke_key(cid, round), kind=EntryKind.REVERSAL,
            reason=f"Challenge taken back: {challenge.title}",
            source=Source(Occasion.CHALLENGE.value, reward_key(cid, round, "points")),
            actor=SYSTEM, occurred_at=now, recorded_at=now,
            details={"challenge_id": challenge.id, "period": period, "round": round})
        await debit(store, session, movement, member=member, points=points,
                    include_pending=True, allow_debt=True)
    await _take_back_badges(store, session, challenge=challenge, member_id=member_id,
                            badges=record.get("badges") or [], now=now)
    index = len(existing["rounds"]) - 1
    await completions.update_one(
        {"_id": cid, "round": round, "status": COMPLETED},
        {"$set": {"status": REVOKED, "revoked_at": now, f"rounds.{index}.revoked_at": now,
                  f"rounds.{index}.taken_back": points}},
        session=session)
    events.record(store, session, challenge_events.revoked(
        challenge, member_id=member_id, period=period, round=round, at=now,
        points_taken_back=points, badges_revoked=list(record.get("badges") or [])))
    return True


async def _take_back_badges(
    store: Store, session: Session, *, challenge: Challenge, member_id: str,
    badges: list[str], now: datetime,
) -> None:
    """Unset each badge the round gave that the member still holds from this challenge, with
    a `badge.revoked` event per badge removed (the shape of an administrator's revoke)."""
    names = {b.id: b.draft.name for b in await catalogue(store)} if badges else {}
    for badge in badges:
        before = await store.collection(MEMBERS).find_one_and_update(
            {"_id": member_id, f"badges.{badge}.source_id": challenge.id},
            {"$unset": {f"badges.{badge}": ""}}, {"_id": 1}, session=session)
        if before is not None:
            events.record(store, session, badge_event(
                EventType.BADGE_REVOKED, member_id=member_id, badge_id=badge,
                name=names.get(badge, badge), source=BadgeSource("CHALLENGE", challenge.id),
                now=now))
