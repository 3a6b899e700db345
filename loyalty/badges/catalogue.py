"""The badge catalogue: administrators create, change and archive badges at run time.

Document shape (collection `badges`): {_id, name, description, hint, image_url,
created_at, updated_at, archived_at}. Badges are never deleted: members who earned one
keep it (`members.badges.<badge id>`), so it stays readable; archiving stops it being
shown locked, granted, or named by new conditions.

The whole catalogue is small (MAX_CATALOGUE) and read through the store's read cache
(`catalogue`): a member's badges, a condition described in words and a rule granting a
badge pay no round trip for it.
"""

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from events import audit as audit_log
from events.audit import Audit, Target
from loyalty.badges.policy import (
    DRAFT_FIELDS,
    Badge,
    BadgeDraft,
    InvalidBadge,
    UnknownBadge,
    check_references,
    validate_draft,
)
from store import Document, IndexSpec, Session, Store, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

BADGES = "badges"
BADGE = "Badge"
"""Badges' type in the audit trail (their GraphQL node type)."""
MAX_CATALOGUE = 500
_BADGE_ID = ("input", "badgeId")

INDEXES = (
    # The active catalogue, oldest first (the order members see locked badges in).
    IndexSpec(BADGES, (("archived_at", 1), ("_id", 1)), name="active"),
)


async def create_badge(
    store: Store, *, draft: BadgeDraft, clock: Clock, audit: Audit | None
) -> Badge:
    """Validate and store a new badge, audited; raises InvalidBadge or InputErrors,
    writing nothing."""
    now = clock()
    if await store.collection(BADGES).count_documents({}) >= MAX_CATALOGUE:
        raise InvalidBadge(f"The catalogue holds at most {MAX_CATALOGUE} badges.",
                           field=("input",))
    badge = Badge(id=new_id(), draft=validate_draft(draft), created_at=now, updated_at=now)
    await audit_log.insert(store, audit, operation="badgeCreate", target=Target(BADGE, badge.id),
                           collection=BADGES, document=to_document(badge), at=now)
    store.reads.forget(BADGES)
    return badge


async def update_badge(
    store: Store, *, badge_id: str, changes: Mapping[str, Any], clock: Clock,
    audit: Audit | None,
) -> Badge:
    """Apply `changes` (draft field → value), validated as a whole; raises UnknownBadge or
    the validation errors, writing nothing. An archived badge can still be reworded."""
    current = await get_badge(store, badge_id)
    fields = {k: v for k, v in changes.items() if k in DRAFT_FIELDS}
    draft = validate_draft(BadgeDraft(**{**_draft_fields(current.draft), **fields}))
    now = clock()
    doc = await audit_log.update(
        store, audit, operation="badgeUpdate", target=Target(BADGE, badge_id),
        collection=BADGES, fields={**_draft_fields(draft), "updated_at": now}, at=now)
    store.reads.forget(BADGES)
    if doc is None:
        raise UnknownBadge("No badge has this id.", field=_BADGE_ID)
    return badge_from_document(doc)


async def archive_badge(
    store: Store, *, badge_id: str, clock: Clock, audit: Audit | None
) -> Badge:
    """Archive the badge (idempotent: an archived one stays as it is); raises
    UnknownBadge."""
    current = await get_badge(store, badge_id)
    if not current.active:
        return current
    now = clock()
    doc = await audit_log.update(
        store, audit, operation="badgeArchive", target=Target(BADGE, badge_id),
        collection=BADGES, fields={"archived_at": now, "updated_at": now}, at=now)
    store.reads.forget(BADGES)
    if doc is None:
        raise UnknownBadge("No badge has this id.", field=_BADGE_ID)
    return badge_from_document(doc)


async def get_badge(store: Store, badge_id: str, *, session: Session | None = None) -> Badge:
    doc = await store.collection(BADGES).find_one({"_id": badge_id}, session=session)
    if doc is None:
        raise UnknownBadge("No badge has this id.", field=_BADGE_ID)
    return badge_from_document(doc)


async def list_badges(
    store: Store, *, first: int, after_id: str | None, include_archived: bool
) -> tuple[list[Badge], Page]:
    """The badges, newest first (administrators), archived ones too if asked."""
    query: dict[str, Any] = {} if include_archived else {"archived_at": None}
    page = await fetch_page(store.collection(BADGES), filter=query, first=first,
                            after_id=after_id, descending=True)
    return [badge_from_document(doc) for doc in page.documents], page


async def all_badges(store: Store) -> tuple[Badge, ...]:
    """Every badge, archived ones included, oldest first (one query)."""
    cursor = store.collection(BADGES).find({}).sort("_id", 1).limit(MAX_CATALOGUE)
    return tuple([badge_from_document(doc) async for doc in cursor])


async def catalogue(store: Store) -> tuple[Badge, ...]:
    """`all_badges` through the read cache: for showing and for describing, not for what a
    write decides on."""
    return await store.reads.get(BADGES, lambda: all_badges(store))


async def require_badges(
    store: Store, ids: Collection[str], *, field: tuple[str, ...],
    allow_archived: bool = False,
) -> frozenset[str]:
    """The badge ids `ids` (stripped, deduplicated), after checking each names a badge that
    exists and (unless `allow_archived`) is not archived: what challenges, earning rules,
    rewards and segments call before they store a reference. Raises UnknownBadge (with
    `field`) for the first that does not, or InvalidInput for too many; one query, none
    when `ids` is empty."""
    wanted = check_references(ids, field=field)
    if not wanted:
        return wanted
    query: dict[str, Any] = {"_id": {"$in": sorted(wanted)}}
    if not allow_archived:
        query["archived_at"] = None
    found = {doc["_id"] async for doc in store.collection(BADGES).find(query, {"_id": 1})}
    missing = sorted(wanted - found)
    if missing:
        raise UnknownBadge(f"No active badge has the id {missing[0]!r}.", field=field)
    return wanted


# --- documents ---------------------------------------------------------------------------


def _draft_fields(draft: BadgeDraft) -> dict[str, Any]:
    return {"name": draft.name, "description": draft.description, "hint": draft.hint,
            "image_url": draft.image_url}


def to_document(badge: Badge) -> Document:
    return {"_id": badge.id, **_draft_fields(badge.draft), "created_at": badge.created_at,
            "updated_at": badge.updated_at, "archived_at": badge.archived_at}


def badge_from_document(doc: Mapping[str, Any]) -> Badge:
    draft = BadgeDraft(name=doc["name"], description=doc.get("description", ""),
                       hint=doc.get("hint", ""), image_url=doc.get("image_url"))
    archived_at: datetime | None = doc.get("archived_at")
    return Badge(id=doc["_id"], draft=draft, created_at=doc["created_at"],
                 updated_at=doc["updated_at"], archived_at=archived_at)
