"""Giving a member a badge, at most once, inside the caller's transaction."""

from dataclasses import dataclass
from datetime import datetime

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
    """Give `member_id` the badge `badge_id`; False if the member holds it already.

    A member keeps each badge in `members.badges.<badge id>`, so conditions on badges read
    the member document every earn already reads.
    """
    result = await store.collection(MEMBERS).update_one(
        {"_id": member_id, f"badges.{badge_id}": {"$exists": False}},
        {"$set": {f"badges.{badge_id}": {"earned_at": now, "source": source.kind,
                                         "source_id": source.id, "reason": reason}}},
        session=session,
    )
    return result.modified_count == 1
