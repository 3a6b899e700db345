"""Moving members between tiers: at once on an earn, at the review date, by an admin, or
when the ladder changes (a new tier, a lower threshold, another way of qualifying).

Every change writes a zero-point TIER entry to the member's history with the reason, in the
same transaction as the member's new tier.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from events.audit import Audit, Target
from loyalty.collections import MEMBERS
from loyalty.ledger.entries import NO_TIER, SYSTEM, Actor, Entry, EntryKind, Source
from loyalty.ledger.entry_events import write_entry
from loyalty.ledger.member_state import MemberState, state_from_document
from loyalty.ledger.rollups import Tally, entry_tally
from loyalty.programme.ladder import ladder_evaluated, ladder_to_evaluate
from loyalty.programme.settings import Programme, load_programme
from loyalty.programme.tier_rules import (
    Tier,
    TierDecision,
    TierStatus,
    judged_at,
    month_key,
    qualifying,
    review,
    review_date,
    upgrade,
)
from store import Session, Store, new_id
from store.clock import Clock


@dataclass(frozen=True, slots=True)
class TierEffect:
    """What an earn or a refund changes on the member document, and any tier move."""

    member_changes: dict[str, dict[str, Any]]
    decision: TierDecision | None = None


def _bucket_increments(key: str, points: int, spend: int) -> dict[str, int]:
    increments = {}
    if points:
        increments[f"qualifying.{key}.points"] = points
    if spend:
        increments[f"qualifying.{key}.spend"] = spend
    return increments


def _merged(buckets: Mapping[str, Mapping[str, int]], key: str, points: int, spend: int) -> (
    dict[str, dict[str, int]]
):
    merged = {k: dict(v) for k, v in buckets.items()}
    bucket = merged.setdefault(key, {})
    bucket["points"] = bucket.get("points", 0) + points
    bucket["spend"] = bucket.get("spend", 0) + spend
    return merged


def earn_effect(
    member: MemberState, programme: Programme, *, points: int, spend: int,
    occurred_at: datetime, now: datetime,
) -> TierEffect:
    """Count the earn toward the tier window and move the member up if it reaches a tier."""
    key = month_key(occurred_at, programme.timezone)
    changes: dict[str, dict[str, Any]] = {"$inc": _bucket_increments(key, points, spend)}
    if not programme.tiers:
        return TierEffect(changes)
    amount = qualifying(_merged(member.qualifying or {}, key, points, spend),
                        programme.tier_policy, now, programme.timezone)
    decision = upgrade(programme.tiers, member.tier, amount)
    if decision is not None:
        changes["$set"] = _tier_fields(decision, programme, now)
    return TierEffect(changes, decision)


def refund_effect(
    programme: Programme, *, points: int, spend: int, occurred_at: datetime
) -> dict[str, dict[str, Any]]:
    """A refund takes back what the order counted toward tiers (no downgrade before the
    review date)."""
    key = month_key(occurred_at, programme.timezone)
    return {"$inc": _bucket_increments(key, -points, -spend)}


def _tier_fields(decision: TierDecision, programme: Programme, now: datetime,
                 *, manual: bool = False) -> dict[str, Any]:
    if decision.tier is None:
        return {"tier": None}
    return {"tier": {
        "id": decision.tier.id, "since": now, "manual": manual,
        "review_at": review_date(programme.tier_policy, now, programme.timezone),
    }}


async def record_tier_change(
    store: Store, session: Session, *, member_id: str, decision: TierDecision,
    previous_tier_id: str | None, now: datetime, actor: Actor = SYSTEM,
) -> Entry:
    """The history line of a tier change (zero points) from `previous_tier_id` (None: no
    tier), counted in the roll-ups' members by tier."""
    entry = _tier_entry(member_id, decision, now, actor)
    await write_entry(store, session, entry, balance=None,
                      tally=entry_tally(entry, lot_expiries={}, previous_tier=previous_tier_id))
    return entry


def _tier_entry(member_id: str, decision: TierDecision, now: datetime, actor: Actor) -> Entry:
    name = decision.tier.name if decision.tier else "none"
    return Entry(
        id=new_id(), key=f"tier:{member_id}:{new_id()}", member_id=member_id,
        kind=EntryKind.TIER, points=0, reason=decision.reason,
        source=Source("TIER", decision.tier.id if decision.tier else NO_TIER), actor=actor,
        occurred_at=now, recorded_at=now, details={"tier": name},
    )


IMPORTED = "Imported"
"""The reason of a tier move made by `kizuna import balances`."""


def imported_tiers(
    moves: Sequence[tuple[str, Tier, str | None]], *, programme: Programme, now: datetime,
) -> list[tuple[str, dict[str, Any], Entry, Tally]]:
    """Each member (id, tier, the tier id they hold now or None) given the tier the shop's
    previous programme gave them: a tier reached now, kept to its review date like any
    other (then the member must qualify), with a TIER entry "Imported". Members already
    holding that tier are left out. Returns (member id, the fields to `$set` on the members
    document, the entry, its roll-ups) for the caller to write in its transaction (with
    `entry_events.write_entries`)."""
    moved = []
    for member_id, tier, held in moves:
        if held == tier.id:
            continue
        decision = TierDecision(tier, IMPORTED)
        entry = _tier_entry(member_id, decision, now, SYSTEM)
        moved.append((member_id, _tier_fields(decision, programme, now), entry,
                      entry_tally(entry, lot_expiries={}, previous_tier=held)))
    return moved


async def set_tier_manually(
    store: Store, *, member_id: str, tier: Tier | None, reason: str, actor: Actor, clock: Clock,
    audit: Audit | None,
) -> Entry:
    """An administrator sets (or, with None, clears) a member's tier; the tier is marked
    manual and no review moves it down."""
    programme = await load_programme(store)
    now = clock()

    async def work(session: Session) -> Entry:
        if tier is None:
            doc = await store.collection(MEMBERS).find_one({"_id": member_id}, session=session)
            member = state_from_document(member_id, doc)
            amount = qualifying(member.qualifying or {}, programme.tier_policy, now,
                                programme.timezone)
            earned = upgrade(programme.tiers, TierStatus(), amount)
            decision = TierDecision(earned.tier if earned else None,
                                    f"Manual tier cleared: {reason}")
            fields = _tier_fields(decision, programme, now)
        else:
            decision = TierDecision(tier, f"Set to {tier.name} by an administrator: {reason}")
            fields = _tier_fields(decision, programme, now, manual=True)
        before = await store.collection(MEMBERS).find_one_and_update(
            {"_id": member_id}, {"$set": fields}, {"tier": 1}, upsert=True, session=session
        )
        previous = (before or {}).get("tier") or {}
        if audit is not None:
            audit.record(store, session, operation="memberTierSet",
                         target=Target("Member", member_id), at=now, member_id=member_id,
                         before={"tier": (before or {}).get("tier")}, after=fields)
        return await record_tier_change(store, session, member_id=member_id,
                                        decision=decision, previous_tier_id=previous.get("id"),
                                        now=now, actor=actor)

    return await store.transaction(work)


async def review_due_tiers(store: Store, *, clock: Clock, limit: int = 500) -> int:
    """Review every member whose review date (plus grace) has passed: keep or drop one
    level. Safe to run concurrently: each member's review is a compare-and-set on its
    review date. Returns how many members were reviewed."""
    programme = await load_programme(store)
    if not programme.tiers:
        return 0
    now = clock()
    grace = programme.tier_policy.grace_days
    cursor = store.collection(MEMBERS).find(
        {"tier.manual": False, "tier.review_at": {"$lte": now - timedelta(days=grace)}},
    ).limit(limit)
    due = [doc async for doc in cursor]
    for doc in due:
        member = state_from_document(doc["_id"], doc)
        assert member.tier.review_at is not None  # noqa: S101 - the query selects them
        amount = qualifying(member.qualifying or {}, programme.tier_policy,
                            judged_at(member.tier.review_at), programme.timezone)
        decision = review(programme.tiers, programme.tier_policy, member.tier, amount, now)
        if decision is None:
            continue

        async def work(session: Session, member: MemberState = member,
                       decision: TierDecision = decision) -> None:
            kept = decision.tier is not None and decision.tier.id == member.tier.tier_id
            fields = (
                {"tier.review_at": review_date(programme.tier_policy, now, programme.timezone)}
                if kept else _tier_fields(decision, programme, now)
            )
            result = await store.collection(MEMBERS).update_one(
                {"_id": member.member_id, "tier.review_at": member.tier.review_at},
                {"$set": fields}, session=session,
            )
            if result.modified_count and not kept:
                await record_tier_change(store, session, member_id=member.member_id,
                                         decision=decision,
                                         previous_tier_id=member.tier.tier_id, now=now)

        await store.transaction(work)
    return len(due)


async def reevaluate_ladder(store: Store, *, clock: Clock, page_size: int = 500) -> int:
    """After a ladder change, move up every member whose qualifying amount now reaches a
    higher tier, as an earn would have (nobody moves down before their review). Runs once
    per change: the next run finds nothing to do. Safe to run concurrently: each move is a
    compare-and-set on the member's tier. Returns how many members moved."""
    change = await ladder_to_evaluate(store)
    if change is None:
        return 0
    programme = await load_programme(store)
    moved = 0
    after: str | None = None
    while programme.tiers:
        query: dict[str, Any] = {"qualifying": {"$exists": True}}
        if after is not None:
            query["_id"] = {"$gt": after}
        page = await store.collection(MEMBERS).find(
            query, {"tier": 1, "qualifying": 1}
        ).sort("_id", 1).limit(page_size).to_list(page_size)
        for doc in page:
            moved += await _move_up(store, state_from_document(doc["_id"], doc), programme,
                                    clock())
        if len(page) < page_size:
            break
        after = page[-1]["_id"]
    await ladder_evaluated(store, change)
    return moved


async def _move_up(store: Store, member: MemberState, programme: Programme,
                   now: datetime) -> int:
    amount = qualifying(member.qualifying or {}, programme.tier_policy, now, programme.timezone)
    decision = upgrade(programme.tiers, member.tier, amount)
    if decision is None:
        return 0
    decision = TierDecision(decision.tier, f"{decision.reason} (the tiers changed)")

    async def work(session: Session) -> int:
        # Unchanged since it was read: an earn or another run may have moved it already.
        result = await store.collection(MEMBERS).update_one(
            {"_id": member.member_id, "tier.id": member.tier.tier_id},
            {"$set": _tier_fields(decision, programme, now)}, session=session,
        )
        if not result.modified_count:
            return 0
        await record_tier_change(store, session, member_id=member.member_id,
                                 decision=decision, previous_tier_id=member.tier.tier_id,
                                 now=now)
        return 1

    return await store.transaction(work)
