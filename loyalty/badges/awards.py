"""Giving a member a badge, at most once, inside the caller's transaction."""

from dataclasses import dataclass
from datetime import datetime

import events
from events import Event, EventType, Subject, SubjectKind
from loyalty.badges import catalogue
from loyalty.badges.policy import Badge
from loyalty.collections import MEMBERS
from store import Session, Store


@dataclass(frozen=True, slots=True)
class BadgeSource:
    """Who or what granted a badge: ("CHALLENGE", challenge id), ("ADMIN", account id),
    ("RULE", rule id)."""

    kind: str
    id: str


async def award_badge(
    store: Store,
    session: Session,
    *,
    member_id: str,
    badge_id: str,
    source: BadgeSource,
    reason: str,
    now: datetime,
) -> bool:
    """Give `member_id` the badge `badge_id` and record its `badge.earned` event, in the
    caller's transaction; False (and nothing written) if the member holds it already or
    the badge is archived (as the cached catalogue says: a rule or challenge naming a badge
    archived since stops granting it).

    A member keeps each badge in `members.badges.<badge id>`, so conditions on badges read
    the member document every earn already reads. The filter is the once-only guarantee:
    of concurrent awards (two orders racing), one modifies the document and the others
    find the badge there (or conflict and retry, then find it).
    """
    badge = await _badge(store, badge_id)
    if badge is not None and not badge.active:
        return False
    result = await store.collection(MEMBERS).update_one(
        {"_id": member_id, f"badges.{badge_id}": {"$exists": False}},
        {"$set": {f"badges.{badge_id}": {"earned_at": now, "source": source.kind,
                                         "source_id": source.id, "reason": reason}}},
        session=session,
    )
    if result.modified_count != 1:
        return False
    events.record(store, session, badge_event(
        EventType.BADGE_EARNED, member_id=member_id, badge_id=badge_id,
        name=badge.draft.name if badge else badge_id, source=source, now=now))
    return True


def badge_event(
    kind: EventType, *, member_id: str, badge_id: str, name: str, source: BadgeSource,
    now: datetime,
) -> Event:
    """A `badge.earned` or `badge.revoked` event (docs/events.md). The reason an
    administrator typed stays out of it: it is free text, and events travel to webhooks."""
    return Event(kind, Subject(SubjectKind.MEMBER, member_id), occurred_at=now,
                 member_id=member_id,
                 data={"badge": {"id": badge_id, "name": name},
                       "source": {"kind": source.kind, "id": source.id}})


async def _badge(store: Store, badge_id: str) -> Badge | None:
    # The cached catalogue (no round trip): badges are never deleted, and an archive made
    # through another instance is seen within the cache's few seconds.
    return next((b for b in await catalogue.catalogue(store) if b.id == badge_id), None)
