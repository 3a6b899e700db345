"""Challenges in MongoDB: administrators define them at run time, members join the opt-in
ones; the earn path reads the live definitions through the read cache (`store.reads`)."""

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from events import audit as audit_log
from events.audit import Audit, Target
from loyalty.badges.catalogue import require_badges
from loyalty.collections import MEMBERS
from loyalty.conditions import MemberFacts, member_conditions_hold
from loyalty.ledger.member_state import read_member
from loyalty.play.challenge_validate import check_unchanged, validate_challenge
from loyalty.play.challenges import (
    Challenge,
    ChallengeNotJoinable,
    UnknownChallenge,
    from_document,
    to_document,
)
from loyalty.programme.settings import load_programme
from loyalty.segments.definitions import member_segments, rule_references
from store import IndexSpec, Store, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

CHALLENGES = "challenges"
CHALLENGE = "Challenge"
"""Challenges' type in the audit trail (their GraphQL node type)."""

INDEXES = (IndexSpec(CHALLENGES, (("active", 1),), name="active"),)
_ID = ("input", "challenge")


async def create_challenge(
    store: Store, *, draft: Challenge, clock: Clock, audit: Audit | None
) -> Challenge:
    """Store a new, active challenge from `draft` (its id, active flag and times are
    ignored); raises the validation errors, writing nothing."""
    now = clock()
    checked = await _validated(store, draft, now)
    challenge = replace(checked, id=new_id(), active=True, created_at=now, updated_at=now,
                        archived_at=None)
    await audit_log.insert(
        store, audit, operation="challengeCreate", target=Target(CHALLENGE, challenge.id),
        collection=CHALLENGES, document=to_document(challenge), at=now)
    store.reads.forget(CHALLENGES)
    return challenge


async def update_challenge(
    store: Store, *, challenge_id: str, draft: Challenge, clock: Clock, audit: Audit | None
) -> Challenge:
    """Replace the fields of the challenge that may change (see `challenge_validate.
    check_unchanged`); progress made so far is kept. Raises UnknownChallenge, the validation
    errors, or InvalidChallenge for a change of what its counters and completions mean."""
    now = clock()
    checked = await _validated(store, draft, now)
    current = (await get_challenges(store, [challenge_id])).get(challenge_id)
    if current is None:
        raise UnknownChallenge("No challenge has this id.", field=_ID)
    check_unchanged(current, checked)
    fields = {
        key: value for key, value in to_document(checked).items()
        if key not in {"_id", "active", "created_at", "archived_at"}
    }
    return await _change(store, challenge_id, {**fields, "updated_at": now}, now=now,
                         audit=audit, operation="challengeUpdate")


async def archive_challenge(
    store: Store, *, challenge_id: str, clock: Clock, audit: Audit | None
) -> Challenge:
    """Stop the challenge: no more progress, members no longer see it. Rewards given stay."""
    now = clock()
    return await _change(store, challenge_id,
                         {"active": False, "archived_at": now, "updated_at": now},
                         now=now, audit=audit, operation="challengeArchive")


async def _validated(store: Store, draft: Challenge, now: datetime) -> Challenge:
    if draft.conditions.starts_at is None:
        draft = replace(draft, conditions=replace(draft.conditions, starts_at=now))
    tiers, segments = await rule_references(
        store, tiers=draft.conditions.tiers,
        segments=frozenset(s.strip().upper() for s in draft.conditions.segments))
    programme = await load_programme(store)
    checked = validate_challenge(draft, now=now, timezone=programme.timezone, tiers=tiers,
                                 segments=segments)
    # The badges must exist and be active: checked after the pure rules, which also check
    # their number and format.
    await require_badges(store, checked.reward.badges, field=("input", "reward", "badgeIds"))
    return checked


async def _change(
    store: Store, challenge_id: str, fields: Mapping[str, Any], *, now: datetime,
    audit: Audit | None, operation: str,
) -> Challenge:
    exists = await store.collection(CHALLENGES).find_one({"_id": challenge_id}, {"_id": 1})
    if exists is None:
        raise UnknownChallenge("No challenge has this id.", field=_ID)
    doc = await audit_log.update(
        store, audit, operation=operation, target=Target(CHALLENGE, challenge_id),
        collection=CHALLENGES, fields=fields, at=now)
    store.reads.forget(CHALLENGES)
    if doc is None:
        raise UnknownChallenge("No challenge has this id.", field=_ID)
    return from_document(doc)


async def get_challenges(store: Store, ids: list[str]) -> dict[str, Challenge]:
    cursor = store.collection(CHALLENGES).find({"_id": {"$in": ids}})
    return {doc["_id"]: from_document(doc) async for doc in cursor}


async def list_challenges(
    store: Store, *, first: int, after_id: str | None
) -> tuple[list[Challenge], Page]:
    """Every challenge, archived ones too, newest first (keyset pages of up to 100)."""
    page = await fetch_page(store.collection(CHALLENGES), filter={}, first=first,
                            after_id=after_id, descending=True)
    return [from_document(doc) for doc in page.documents], page


async def active_challenges(store: Store) -> tuple[Challenge, ...]:
    cursor = store.collection(CHALLENGES).find({"active": True}).sort("_id", 1)
    return tuple([from_document(doc) async for doc in cursor])


async def live_challenges(store: Store) -> tuple[Challenge, ...]:
    """The active challenges, from the read cache: the earn path's copy (an archive made
    through another instance stops counting within the cache's few seconds)."""
    return await store.reads.get(CHALLENGES, lambda: active_challenges(store))


def challenge_segment_names(challenges: tuple[Challenge, ...]) -> frozenset[str]:
    """The segments the challenges' audiences name (what an earn must work out)."""
    return frozenset(name for c in challenges for name in c.conditions.segments)


async def join_challenge(
    store: Store, *, member_id: str, challenge_id: str, clock: Clock
) -> tuple[Challenge, datetime]:
    """Join the opt-in challenge (joining again keeps the first time); events from then on
    count. Raises UnknownChallenge or ChallengeNotJoinable, writing nothing."""
    now = clock()
    found = (await get_challenges(store, [challenge_id])).get(challenge_id)
    if found is None or not found.active:
        raise UnknownChallenge("No challenge has this id.", field=_ID)
    if not found.opt_in:
        raise ChallengeNotJoinable("This challenge needs no joining: it counts for everyone "
                                   "it is for.", field=_ID)
    if found.conditions.ends_at is not None and found.conditions.ends_at <= now:
        raise ChallengeNotJoinable("This challenge is over.", field=_ID)
    member = await read_member(store, member_id)
    segments = await member_segments(store, member_id, now=now) \
        if found.conditions.segments else frozenset()
    facts = MemberFacts(member_id=member_id, tier=member.tier.tier_id, segments=segments)
    if not member_conditions_hold(found.conditions, facts):
        raise ChallengeNotJoinable("This challenge is for other members.", field=_ID)
    await store.collection(MEMBERS).update_one(
        {"_id": member_id, f"challenges_joined.{challenge_id}": {"$exists": False}},
        {"$set": {f"challenges_joined.{challenge_id}": now}},
    )
    joined = (await read_member(store, member_id)).challenges_joined or {}
    return found, joined.get(challenge_id, now)
