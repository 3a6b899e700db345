"""Administrators grant and take back badges, with a reason, audited, each with its event
in the same transaction."""

from dataclasses import dataclass
from datetime import datetime

import events
from events import EventType
from events.audit import Audit, Target
from loyalty.badges.awards import BadgeSource, award_badge, badge_event
from loyalty.badges.catalogue import get_badge
from loyalty.badges.policy import (
    BadgeAlreadyHeld,
    BadgeNotHeld,
    UnknownBadge,
    check_reason,
)
from loyalty.collections import MEMBERS
from loyalty.errors import UnknownMember
from store import Session, Store
from store.clock import Clock

_BADGE_ID = ("input", "badgeId")
ADMIN = "ADMIN"


@dataclass(frozen=True, slots=True)
class Granted:
    member_id: str
    badge_id: str
    earned_at: datetime


async def grant_badge(
    store: Store, *, member_id: str, badge_id: str, reason: str, actor_id: str, clock: Clock,
    audit: Audit | None,
) -> Granted:
    """Give the member an active badge, once, with the administrator's reason; raises
    InvalidInput (reason), UnknownBadge (unknown or archived), UnknownMember or
    BadgeAlreadyHeld, writing nothing."""
    why = check_reason(reason)
    badge = await get_badge(store, badge_id)
    if not badge.active:
        raise UnknownBadge("This badge is archived: it can no longer be granted.",
                           field=_BADGE_ID)

    async def work(session: Session) -> Granted:
        now = clock()
        if not await award_badge(store, session, member_id=member_id, badge_id=badge_id,
                                 source=BadgeSource(ADMIN, actor_id), reason=why, now=now):
            await _member_must_exist(store, session, member_id)
            raise BadgeAlreadyHeld("The member holds this badge already.", field=_BADGE_ID)
        if audit is not None:
            audit.record(store, session, operation="badgeGrant",
                         target=Target("Member", member_id), at=now, member_id=member_id,
                         after={f"badges.{badge_id}": {"reason": why}})
        return Granted(member_id, badge_id, now)

    return await store.transaction(work)


async def revoke_badge(
    store: Store, *, member_id: str, badge_id: str, reason: str, actor_id: str, clock: Clock,
    audit: Audit | None,
) -> None:
    """Take a badge back from the member (an archived badge too), with the administrator's
    reason; raises InvalidInput (reason), UnknownBadge, UnknownMember or BadgeNotHeld,
    writing nothing. Records `badge.revoked`."""
    why = check_reason(reason)
    badge = await get_badge(store, badge_id)

    async def work(session: Session) -> None:
        now = clock()
        before = await store.collection(MEMBERS).find_one_and_update(
            {"_id": member_id, f"badges.{badge_id}": {"$exists": True}},
            {"$unset": {f"badges.{badge_id}": ""}}, {f"badges.{badge_id}": 1},
            session=session)
        if before is None:
            await _member_must_exist(store, session, member_id)
            raise BadgeNotHeld("The member does not hold this badge.", field=_BADGE_ID)
        events.record(store, session, badge_event(
            EventType.BADGE_REVOKED, member_id=member_id, badge_id=badge_id,
            name=badge.draft.name, source=BadgeSource(ADMIN, actor_id), now=now))
        if audit is not None:
            held = before["badges"][badge_id]
            audit.record(store, session, operation="badgeRevoke",
                         target=Target("Member", member_id), at=now, member_id=member_id,
                         before={f"badges.{badge_id}": {"earned_at": held.get("earned_at"),
                                                        "source": held.get("source")}},
                         after={f"badges.{badge_id}": {"revoked_because": why}})

    await store.transaction(work)


async def _member_must_exist(store: Store, session: Session, member_id: str) -> None:
    if not await store.collection(MEMBERS).count_documents({"_id": member_id}, limit=1,
                                                           session=session):
        raise UnknownMember("No member matches this reference.", field=("input", "member"))
