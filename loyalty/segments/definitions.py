"""Segments: administrators define them, the earn path and rewards ask who is in them, and
a preview counts their members.

Definitions live in the `segments` collection; membership is never stored: it is computed
when asked from the member document (`last_order_at`, the monthly `qualifying` buckets,
`tier`, `category_spend`, which every order and refund keeps up to date in the same update
as the points) and the account's birthday. The policy is `loyalty/segments/policy.py`.
"""

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from events import audit as audit_log
from events.audit import Audit, Target
from loyalty.badges.catalogue import require_badges
from loyalty.collections import ACCOUNTS, EARNING_RULES, MEMBER_ROLE, MEMBERS, REWARDS, SEGMENTS
from loyalty.ledger.member_state import MemberState, read_member, state_from_document
from loyalty.programme.settings import load_programme
from loyalty.segments.policy import (
    Segment,
    SegmentConditions,
    SegmentDraft,
    SegmentInUse,
    SegmentNameTaken,
    UnknownSegment,
    WindowMinimum,
    category_key,
    check_description,
    matches,
    recent_months,
    segments_of,
    validate_conditions,
    validate_segment,
)
from store import (
    Document,
    IndexSpec,
    InputErrors,
    KizunaError,
    Store,
    is_duplicate_key,
    new_id,
)
from store.clock import Clock
from store.pagination import Page, fetch_page

SEGMENT = "Segment"
"""Segments' type in the audit trail."""

INDEXES = (
    IndexSpec(SEGMENTS, (("name", 1),), name="name_unique", unique=True),
    # Previews: recency and lapsed are ranges on the last order, tiers an equality.
    IndexSpec(MEMBERS, (("last_order_at", 1),), name="last_order"),
    IndexSpec(MEMBERS, (("tier.id", 1),), name="tier"),
)

PREVIEW_SAMPLE = 5
BATCH = 500
_SEGMENT_ID = ("input", "segment")


# --- definitions ---------------------------------------------------------------------------


async def create_segment(
    store: Store, *, name: str, description: str, conditions: SegmentConditions, clock: Clock,
    audit: Audit | None,
) -> Segment:
    """Store a new segment; raises InvalidSegment, UnknownTier, InputErrors or
    SegmentNameTaken, writing nothing."""
    conditions = await with_badges_checked(store, conditions)
    name, description, conditions = validate_segment(
        SegmentDraft(name=name, description=description, conditions=conditions),
        tier_ids=await _tier_ids(store),
    )
    now = clock()
    segment = Segment(id=new_id(), name=name, description=description, conditions=conditions,
                      created_at=now, updated_at=now)
    try:
        await audit_log.insert(store, audit, operation="segmentCreate",
                               target=Target(SEGMENT, segment.id), collection=SEGMENTS,
                               document=to_document(segment), at=now)
        store.reads.forget(SEGMENTS)
    except Exception as error:
        if is_duplicate_key(error):
            raise SegmentNameTaken("Another segment has this name.",
                                   field=("input", "name")) from error
        raise
    return segment


async def update_segment(
    store: Store, *, segment_id: str, description: str | None,
    conditions: SegmentConditions | None, clock: Clock, audit: Audit | None,
) -> Segment:
    """Replace the description and/or all the conditions (None keeps them). The name is the
    key rules refer to and never changes. Raises UnknownSegment or the validation errors,
    writing nothing."""
    now = clock()
    fields: dict[str, Any] = {"updated_at": now}
    errors: list[KizunaError] = []
    if description is not None:
        fields["description"] = check_description(description, errors)
    if conditions is not None:
        try:
            conditions = await with_badges_checked(store, conditions)
            checked = validate_conditions(conditions, tier_ids=await _tier_ids(store))
            fields["conditions"] = _conditions_document(checked)
        except InputErrors as group:
            errors += group.errors
        except KizunaError as error:
            errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    doc = await audit_log.update(store, audit, operation="segmentUpdate",
                                 target=Target(SEGMENT, segment_id), collection=SEGMENTS,
                                 fields=fields, at=now)
    store.reads.forget(SEGMENTS)
    if doc is None:
        raise UnknownSegment("No segment has this id.", field=_SEGMENT_ID)
    return from_document(doc)


async def delete_segment(
    store: Store, *, segment_id: str, clock: Clock, audit: Audit | None
) -> Segment:
    """Remove a segment no earning rule (archived ones included: they can come back) refers
    to; raises UnknownSegment or SegmentInUse."""
    doc = await store.collection(SEGMENTS).find_one({"_id": segment_id})
    if doc is None:
        raise UnknownSegment("No segment has this id.", field=_SEGMENT_ID)
    segment = from_document(doc)
    if await store.collection(EARNING_RULES).count_documents(
        {"conditions.segments": segment.name}, limit=1
    ):
        raise SegmentInUse("Earning rules refer to this segment: change them first.",
                           field=_SEGMENT_ID)
    if await store.collection(REWARDS).count_documents({"segments": segment.name}, limit=1):
        # A reward for an unknown segment would be redeemable by nobody.
        raise SegmentInUse("Rewards are limited to this segment: change them first.",
                           field=_SEGMENT_ID)
    await audit_log.delete(store, audit, operation="segmentDelete",
                           target=Target(SEGMENT, segment_id), collection=SEGMENTS, at=clock())
    store.reads.forget(SEGMENTS)
    return segment


async def get_segments(store: Store, segment_ids: Sequence[str]) -> dict[str, Segment]:
    """The stored segments among `segment_ids`, by id (one query)."""
    cursor = store.collection(SEGMENTS).find({"_id": {"$in": list(segment_ids)}})
    return {doc["_id"]: from_document(doc) async for doc in cursor}


async def list_segments(
    store: Store, *, first: int, after_id: str | None
) -> tuple[list[Segment], Page]:
    """Every segment, newest first (keyset pages of up to 100)."""
    page = await fetch_page(store.collection(SEGMENTS), filter={}, first=first,
                            after_id=after_id, descending=True)
    return [from_document(doc) for doc in page.documents], page


async def rule_references(
    store: Store, *, tiers: Collection[str], segments: Collection[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """Which of the tier ids and segment names an earning rule asks for exist (segment
    names compared in upper case, as stored); no query for what the rule does not ask."""
    tier_ids = await _tier_ids(store) if tiers else frozenset()
    names: frozenset[str] = frozenset()
    if segments:
        wanted = sorted({name.strip().upper() for name in segments})
        names = frozenset(await store.collection(SEGMENTS).distinct(
            "name", {"name": {"$in": wanted}}
        ))
    return frozenset(tier_ids), names


async def _tier_ids(store: Store) -> frozenset[str]:
    return frozenset(tier.id for tier in (await load_programme(store)).tiers)


# --- membership ----------------------------------------------------------------------------


async def member_segments(store: Store, member_id: str, *, now: datetime) -> frozenset[str]:
    """The names of the segments the member belongs to at `now`.

    At most four queries whatever the number of segments: the definitions, then (when
    there are any) the programme, the member document and — only when a definition asks
    for a birthday — the account, those three concurrently.
    """
    definitions = await _definitions(store, {})
    if not definitions:
        return frozenset()
    needs_birthday = any(s.conditions.needs_birthday for s in definitions)
    programme, member, birthday = await asyncio.gather(
        load_programme(store), read_member(store, member_id),
        _birthday(store, member_id) if needs_birthday else _nothing(),
    )
    return segments_of(definitions, member, birthday, member.tier.tier_id, now,
                       programme.timezone)


@dataclass(frozen=True, slots=True)
class RuleAudience:
    """What an earn needs to tell which segments its rules ask about hold for the member."""

    definitions: tuple[Segment, ...] = ()
    birthday: date | None = None

    def segments(self, member: MemberState, *, now: datetime, timezone: ZoneInfo) -> (
        frozenset[str]
    ):
        if not self.definitions:
            return frozenset()
        return segments_of(self.definitions, member, self.birthday, member.tier.tier_id, now,
                           timezone)


async def rule_audience(
    store: Store, *, segment_names: frozenset[str], member_id: str
) -> RuleAudience:
    """The segments named (by an earn's rules), and the member's birthday if one of them
    needs it.

    No query when no rule has a segment condition (the usual earn); otherwise one or two,
    made before the earn's transaction: membership is then decided from the member document
    that the transaction reads.
    """
    names = sorted(segment_names)
    if not names:
        return RuleAudience()
    definitions = await _definitions(store, {"name": {"$in": names}})
    birthday = None
    if any(s.conditions.needs_birthday for s in definitions):
        birthday = await _birthday(store, member_id)
    return RuleAudience(definitions=definitions, birthday=birthday)


async def segment_definitions(store: Store) -> tuple[Segment, ...]:
    """Every segment (what members' screens are matched against, through
    loyalty.members.reference's cache)."""
    return await _definitions(store, {})


async def _definitions(store: Store, query: Mapping[str, Any]) -> tuple[Segment, ...]:
    cursor = store.collection(SEGMENTS).find(dict(query))
    return tuple([from_document(doc) async for doc in cursor])


async def _birthday(store: Store, member_id: str) -> date | None:
    doc = await store.collection(ACCOUNTS).find_one({"_id": member_id}, {"birthday": 1})
    return _date(doc)


async def _nothing() -> None:
    return None


def _date(doc: Mapping[str, Any] | None) -> date | None:
    value = (doc or {}).get("birthday")
    return date.fromisoformat(value) if value else None


# --- preview -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentPreview:
    count: int
    """Members the conditions select now."""
    sample: tuple[str, ...]
    """The first few of them (member ids, in id order)."""


async def preview_segment(
    store: Store, *, conditions: SegmentConditions, now: datetime
) -> SegmentPreview:
    """How many members `conditions` select at `now`, and the first five of them.

    Exact, and as cheap as the conditions allow (an administrator's tool, not a hot path):
    - Recency, lapsed, tiers, frequency and monetary become one filter on `members` (ranges
      on the indexed `last_order_at`, `tier.id`, and `$expr` sums of the monthly buckets):
      with only those, the answer is one count and one five-document find.
    - Birthday alone: one count over member accounts (the ISO date matched by a regex,
      which scans the accounts).
    - A favourite category (an arg max over `category_spend`, which no plain filter
      expresses) or a birthday next to other conditions: the filter above, plus a necessary
      `category_spend.<category> > 0`, narrows the members, and the policy checks those in
      the app with a projection, 500 at a time (with one `$in` read of their birthdays per
      batch). In the worst case that reads every member document once.
    Raises InvalidSegment, UnknownTier or InputErrors for invalid conditions.
    """
    programme = await load_programme(store)
    checked = validate_conditions(conditions,
                                  tier_ids=frozenset(t.id for t in programme.tiers))
    timezone = programme.timezone
    if not checked.needs_orders:
        month = now.astimezone(timezone).month if checked.birthday_this_month else (
            checked.birthday_month)
        query = {"role": MEMBER_ROLE, "birthday": {"$regex": f"^[0-9]{{4}}-{month:02d}-"}}
        return await _counted(store, ACCOUNTS, query)
    query = member_filter(checked, now, timezone)
    if not checked_in_app(checked):
        return await _counted(store, MEMBERS, query)
    return await _scanned(store, checked, query, now, timezone)


def member_filter(c: SegmentConditions, now: datetime, timezone: ZoneInfo) -> dict[str, Any]:
    """The MongoDB filter on `members` for every condition but birthday and favourite
    category (for which it only keeps members who spent something in the category)."""
    query: dict[str, Any] = {}
    last: dict[str, datetime] = {}
    if c.last_order_within_days is not None:
        last["$gt"] = now - timedelta(days=c.last_order_within_days)
    if c.lapsed_days is not None:
        last["$lte"] = now - timedelta(days=c.lapsed_days)
    if last:
        query["last_order_at"] = last
    if c.tiers:
        query["tier.id"] = {"$in": sorted(c.tiers)}
    if c.favourite_category is not None:
        query[f"category_spend.{category_key(c.favourite_category)}"] = {"$gt": 0}
    for badge_id in sorted(c.badges):
        query[f"badges.{badge_id}"] = {"$exists": True}
    sums = [_window_at_least(minimum, what, now, timezone)
            for minimum, what in ((c.frequency, "orders"), (c.monetary, "spend"))
            if minimum is not None]
    if sums:
        query["$expr"] = {"$and": sums}
    return query


def _window_at_least(
    minimum: WindowMinimum, what: str, now: datetime, timezone: ZoneInfo
) -> dict[str, Any]:
    months = recent_months(minimum.months, now, timezone)
    # The leading 0 keeps a one-month window a valid $add (the embedded server wants two).
    total = {"$add": [0, *({"$ifNull": [f"$qualifying.{key}.{what}", 0]} for key in months)]}
    return {"$gte": [total, minimum.minimum]}


async def _counted(store: Store, collection: str, query: dict[str, Any]) -> SegmentPreview:
    count = await store.collection(collection).count_documents(query)
    cursor = store.collection(collection).find(query, {"_id": 1}).sort("_id", 1)
    sample = [doc["_id"] async for doc in cursor.limit(PREVIEW_SAMPLE)]
    return SegmentPreview(count=count, sample=tuple(sample))


async def _scanned(
    store: Store, conditions: SegmentConditions, query: dict[str, Any], now: datetime,
    timezone: ZoneInfo,
) -> SegmentPreview:
    cursor = store.collection(MEMBERS).find(query, CHECKED_FIELDS).sort("_id", 1).batch_size(
        BATCH)
    count, sample = 0, list[str]()
    while batch := await cursor.to_list(BATCH):
        for member_id in await members_matching(store, conditions, batch, now=now,
                                                timezone=timezone):
            count += 1
            if len(sample) < PREVIEW_SAMPLE:
                sample.append(member_id)
    return SegmentPreview(count=count, sample=tuple(sample))


CHECKED_FIELDS = {"last_order_at": 1, "qualifying": 1, "tier": 1, "category_spend": 1,
                  "badges": 1}
"""What `members_matching` reads of a member document."""


def checked_in_app(conditions: SegmentConditions) -> bool:
    """Whether `member_filter` leaves conditions that only `members_matching` decides (a
    favourite category or a birthday)."""
    return conditions.favourite_category is not None or conditions.needs_birthday


async def members_matching(
    store: Store, conditions: SegmentConditions, documents: Sequence[Mapping[str, Any]], *,
    now: datetime, timezone: ZoneInfo,
) -> list[str]:
    """The ids, in the order given, of the member `documents` (with at least CHECKED_FIELDS)
    that `conditions` select at `now`; one query of their birthdays when a condition needs
    them (at most BATCH documents)."""
    birthdays: dict[str, date | None] = {}
    if conditions.needs_birthday and documents:
        accounts = store.collection(ACCOUNTS).find(
            {"_id": {"$in": [doc["_id"] for doc in documents]}}, {"birthday": 1}
        )
        birthdays = {doc["_id"]: _date(doc) async for doc in accounts}
    matching = []
    for doc in documents:
        member = state_from_document(doc["_id"], doc)
        if matches(conditions, member, birthdays.get(doc["_id"]), member.tier.tier_id, now,
                   timezone):
            matching.append(doc["_id"])
    return matching


async def with_badges_checked(
    store: Store, conditions: SegmentConditions
) -> SegmentConditions:
    """The conditions once the badges they name are checked to exist and be active
    (UnknownBadge otherwise); no query without badges."""
    badges = await require_badges(store, conditions.badges,
                                  field=("input", "conditions", "badgeIds"))
    return replace(conditions, badges=badges)


# --- documents -----------------------------------------------------------------------------


def to_document(segment: Segment) -> Document:
    return {
        "_id": segment.id, "name": segment.name, "description": segment.description,
        "conditions": _conditions_document(segment.conditions),
        "created_at": segment.created_at, "updated_at": segment.updated_at,
    }


def _window_document(minimum: WindowMinimum | None) -> dict[str, int] | None:
    return None if minimum is None else {"minimum": minimum.minimum, "months": minimum.months}


def _conditions_document(c: SegmentConditions) -> dict[str, Any]:
    return {
        "last_order_within_days": c.last_order_within_days, "lapsed_days": c.lapsed_days,
        "frequency": _window_document(c.frequency), "monetary": _window_document(c.monetary),
        "birthday_month": c.birthday_month, "birthday_this_month": c.birthday_this_month,
        "tiers": sorted(c.tiers), "favourite_category": c.favourite_category,
        "badges": sorted(c.badges),
    }


def _window(doc: Mapping[str, int] | None) -> WindowMinimum | None:
    return None if doc is None else WindowMinimum(doc["minimum"], doc["months"])


def from_document(doc: Mapping[str, Any]) -> Segment:
    c = doc["conditions"]
    return Segment(
        id=doc["_id"], name=doc["name"], description=doc.get("description", ""),
        conditions=SegmentConditions(
            last_order_within_days=c.get("last_order_within_days"),
            lapsed_days=c.get("lapsed_days"), frequency=_window(c.get("frequency")),
            monetary=_window(c.get("monetary")), birthday_month=c.get("birthday_month"),
            birthday_this_month=bool(c.get("birthday_this_month")),
            tiers=frozenset(c.get("tiers", ())),
            favourite_category=c.get("favourite_category"),
            badges=frozenset(c.get("badges", ())),
        ),
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"),
    )
