"""The member directory: the administrators' list of members, filtered by tier, segment and
join date, sorted by join date, balance or last activity, a keyset page at a time.

Every query of the list runs on one collection, `members`, so that each filter and sort is
one indexed find. For that, every member has a members document from registration on (it
used to appear with the first points), and it carries the one account field the list needs,
`joined_at` (the account's `created_at`, which never changes), next to what the ledger keeps
there: `points` (the balance), `last_activity_at` (the last earn or redemption, missing
until there is one) and `tier.id`. `enrolment` writes it in the transaction that creates the
account; `enrol` writes it for accounts older than this (a start-up backfill). Its `points`
starts at 0 by `$inc` — the ledger's own operator, so enrolling an account that already has
points changes nothing.

Sorting and paging: a page is `find(filter).sort([(key, d), (_id, d)]).limit(n + 1)` read in
the order of the index on (key, _id) from the position after the cursor (key value and id):
constant round trips and, on both engines, a walk of the index rather than a sort. A member
without the key (no activity yet) sorts first ascending and last descending, as MongoDB
sorts missing values; those members are a second region of the same order, read by a second
query when a page reaches it, so each region's filter stays a range the index seeks to.
Tier and join-date filters are conditions on the same walk (on a page sorted by join date,
the join-date range is the walk's bounds); a search's members are an `_id` `$in`. Segments
reuse the segment preview's filter (loyalty/segments/definitions.py); a segment with a
favourite-category or birthday condition is checked in the app on a batch of candidates, so
such a page may hold fewer members than asked and say there is more.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.collections import MEMBERS
from loyalty.engagement.referrals import normalize_referral_code
from loyalty.ledger import rollups
from loyalty.segments.definitions import (
    CHECKED_FIELDS,
    checked_in_app,
    member_filter,
    members_matching,
)
from loyalty.segments.policy import Segment
from store import IndexSpec, Session, Store, UpdateOne
from store.pagination import after_key

type Enrolment = Callable[[Session, str, datetime], Awaitable[None]]

INDEXES = (
    IndexSpec(MEMBERS, (("joined_at", 1), ("_id", 1)), name="directory_joined"),
    IndexSpec(MEMBERS, (("points", 1), ("_id", 1)), name="directory_balance"),
    IndexSpec(MEMBERS, (("last_activity_at", 1), ("_id", 1)), name="directory_activity"),
)

SEGMENT_BATCH = 200
"""Candidates read for a page filtered by a segment checked in the app (≤ 250: `$in`)."""

# Below every value a key holds: the values region of a page is then a range on the index.
_LOWEST: dict[str, Any] = {
    "joined_at": datetime(1, 1, 1, tzinfo=UTC),
    "last_activity_at": datetime(1, 1, 1, tzinfo=UTC),
    "points": float("-inf"),  # a double: an int64 bound would keep the engine off the index
}


class MemberOrder(StrEnum):
    """What the list is sorted by (the members document's field)."""

    JOINED = "joined_at"
    BALANCE = "points"
    LAST_ACTIVITY = "last_activity_at"


ALWAYS_SET = frozenset({MemberOrder.JOINED, MemberOrder.BALANCE})
"""Keys every members document has from its enrolment on (no missing-key region)."""


type SortValue = int | float | datetime | None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a member is in an order: its sort key's value (None: missing) and its id."""

    value: SortValue
    member_id: str


@dataclass(frozen=True, slots=True)
class MemberFilter:
    """Conditions all listed members meet (None: no condition)."""

    member_ids: Sequence[str] | None = None
    """A search's members (at most 250)."""
    tier_id: str | None = None
    joined_from: datetime | None = None
    """Inclusive."""
    joined_to: datetime | None = None
    """Exclusive."""
    segment: Segment | None = None


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    positions: list[Position]
    """The page's members in order."""
    has_next: bool
    end: Position | None
    """Where the next page starts after (the last member read, listed or not)."""


async def enrol(store: Store, members: Sequence[tuple[str, datetime]]) -> None:
    """Give members (id, joined at) their members document if they have none (idempotent:
    an existing one keeps its values); one write."""
    if members:
        await store.collection(MEMBERS).bulk_write(
            [UpdateOne({"_id": member_id}, _enrolled(joined_at), upsert=True)
             for member_id, joined_at in members], ordered=False)


def enrolment(store: Store, *then: Enrolment) -> Enrolment:
    """What a new member's account transaction writes for the programme: the members
    document, the new member in the roll-ups, then each of `then` (a referral link)."""
    async def enrol_new(session: Session, member_id: str, joined_at: datetime) -> None:
        await store.collection(MEMBERS).update_one(
            {"_id": member_id}, _enrolled(joined_at), upsert=True, session=session)
        await rollups.add(store, session, rollups.joined_tally(joined_at), member_id=member_id)
        for step in then:
            await step(session, member_id, joined_at)

    return enrol_new


async def enrol_many(store: Store, session: Session,
                    members: Sequence[tuple[str, datetime]]) -> None:
    """`enrolment`'s writes for a batch of members just created (id, joined at) in the
    caller's transaction: their members documents (inserted: as `enrolment`'s upsert
    leaves them, for ids that have none) and the roll-ups, one command each."""
    if not members:
        return
    await store.collection(MEMBERS).insert_many(
        [{"_id": member_id, "joined_at": joined_at, "points": 0}
         for member_id, joined_at in members], session=session)
    await rollups.add_tallies(store, session, [
        (member_id, rollups.joined_tally(joined_at)) for member_id, joined_at in members])


def _enrolled(joined_at: datetime) -> dict[str, Any]:
    return {"$min": {"joined_at": joined_at}, "$inc": {"points": 0}}


async def members_by_reference(store: Store, typed: str, *, codes: bool = True) -> list[str]:
    """Members whose id or (with `codes`) referral code is `typed` (at most two); one query
    for each that `typed` can be, concurrently (an `$or` would read every member on the
    embedded engine)."""
    code = normalize_referral_code(typed) if codes else None
    lookups = [_ids(store, {"_id": typed.strip()})]
    if code is not None:
        lookups.append(_ids(store, {"referral_code": code}))
    found = await asyncio.gather(*lookups)
    return list(dict.fromkeys(member_id for ids in found for member_id in ids))


async def _ids(store: Store, query: dict[str, Any]) -> list[str]:
    return [doc["_id"] async for doc in store.collection(MEMBERS).find(query, {"_id": 1})]


async def list_members(
    store: Store, *, where: MemberFilter, order: MemberOrder, descending: bool, first: int,
    after: Position | None, now: datetime, timezone: ZoneInfo,
) -> DirectoryPage:
    """A page of up to `first` members meeting `where`, in `order` (then by id, the same
    direction), after the position `after`. One or two queries (two when the page reaches
    the members never active, by last activity), plus one for birthdays when a segment asks."""
    base, checked = _base_filter(where, now, timezone)
    key, direction = order.value, -1 if descending else 1
    wanted = SEGMENT_BATCH if checked else first + 1
    if where.member_ids is not None and not where.member_ids:
        return DirectoryPage([], False, None)  # a search that found no one
    regions = [False, True] if descending else [True, False]  # True: the missing-key region
    if order in ALWAYS_SET:
        regions = [False]
    if after is not None:
        regions = regions[regions.index(after.value is None):]
    documents: list[dict[str, Any]] = []
    projection = {key: 1, **(CHECKED_FIELDS if checked else {})}
    for number, missing in enumerate(regions):
        # The page starts in the first region (after the cursor), the next from its start.
        region = _region(key, missing, after if number == 0 else None, descending)
        cursor = store.collection(MEMBERS).find(
            {"$and": [base, region]} if base else region, projection,
        ).sort([(key, direction), ("_id", direction)]).limit(wanted - len(documents))
        documents += await cursor.to_list(None)
        if len(documents) >= wanted:
            break
    return await _page(store, documents, where, key=key, first=first, read_all=(
        len(documents) < wanted), now=now, timezone=timezone)


async def _page(
    store: Store, documents: list[dict[str, Any]], where: MemberFilter, *, key: str,
    first: int, read_all: bool, now: datetime, timezone: ZoneInfo,
) -> DirectoryPage:
    listed = documents
    if where.segment is not None and checked_in_app(where.segment.conditions):
        chosen = set(await members_matching(store, where.segment.conditions, documents,
                                            now=now, timezone=timezone))
        listed = [doc for doc in documents if doc["_id"] in chosen]
    positions = [Position(doc.get(key), doc["_id"]) for doc in listed]
    if len(positions) > first:
        return DirectoryPage(positions[:first], True, positions[first - 1] if first else None)
    last = documents[-1] if documents else None
    end = Position(last.get(key), last["_id"]) if last is not None and not read_all else (
        positions[-1] if positions else None)
    return DirectoryPage(positions, not read_all, end)


def _base_filter(where: MemberFilter, now: datetime, timezone: ZoneInfo) -> (
    tuple[dict[str, Any], bool]
):
    clauses: list[dict[str, Any]] = []
    if where.member_ids is not None:
        clauses.append({"_id": {"$in": list(where.member_ids)}})
    if where.tier_id is not None:
        clauses.append({"tier.id": where.tier_id})
    joined: dict[str, datetime] = {}
    if where.joined_from is not None:
        joined["$gte"] = where.joined_from
    if where.joined_to is not None:
        joined["$lt"] = where.joined_to
    if joined:
        clauses.append({"joined_at": joined})
    checked = False
    if where.segment is not None:
        conditions = where.segment.conditions
        checked = checked_in_app(conditions)
        if segment_query := member_filter(conditions, now, timezone):
            clauses.append(segment_query)
    if len(clauses) <= 1:
        return (clauses[0] if clauses else {}), checked
    return {"$and": clauses}, checked


def _region(key: str, missing: bool, after: Position | None, descending: bool) -> (
    dict[str, Any]
):
    """The filter of one region of the order (members without the key, or with it), after
    `after` when the page starts in it."""
    if missing:
        region: dict[str, Any] = {key: None}
        if after is not None:
            region["_id"] = {"$lt" if descending else "$gt": after.member_id}
        return region
    if after is None:
        return {key: {"$gte": _LOWEST[key]}}
    return after_key(key, after.value, after.member_id, descending=descending)
