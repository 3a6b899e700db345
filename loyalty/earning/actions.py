"""Non-purchase actions (review, survey, newsletter sign-up, …) that earn points once."""

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from events.audit import Audit, Target
from loyalty.conditions import Action, MemberFacts
from loyalty.earning.orders import MAX_BACKDATING, MAX_CLOCK_SKEW
from loyalty.earning.rules.badges import grant_rule_badges
from loyalty.earning.rules.evaluate import evaluate, with_tier_bonus
from loyalty.earning.rules.model import segments_named
from loyalty.earning.rules.store import active_rules
from loyalty.earning.rules.usage import load_usage, record_usage
from loyalty.idempotency import check_external_id, fingerprint
from loyalty.ledger.audit import record_entry
from loyalty.ledger.entries import Actor, Entry, EntryKind, Source, first_entry
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, credit
from loyalty.play.challenge_progress import progress_action
from loyalty.play.challenge_store import challenge_segment_names, live_challenges
from loyalty.play.draw_entries import action_draws, grant_action_entries
from loyalty.play.leaderboard_scores import record_scores
from loyalty.programme.settings import load_programme
from loyalty.segments.definitions import rule_audience
from loyalty.tiers.moves import earn_effect, record_tier_change
from store import InvalidInput, Session, Store, is_duplicate_key
from store.clock import Clock

_ACTION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")


class StandardAction(StrEnum):
    REVIEW = "REVIEW"
    SURVEY = "SURVEY"
    NEWSLETTER_SIGNUP = "NEWSLETTER_SIGNUP"
    SOCIAL_SHARE = "SOCIAL_SHARE"
    EVENT_VISIT = "EVENT_VISIT"
    PROFILE_COMPLETED = "PROFILE_COMPLETED"


@dataclass(frozen=True, slots=True)
class ActionRecorded:
    entry: Entry
    replayed: bool
    gifts_pending: tuple[str, ...] = ()
    """Keys of the voucher gifts (challenge rewards) this action decided, to issue now."""


def check_action_type(value: str) -> str:
    """A standard type or a custom one in UPPER_SNAKE_CASE."""
    normalized = value.strip().upper()
    if not _ACTION_TYPE.match(normalized):
        raise InvalidInput("Use UPPER_SNAKE_CASE (2–40 characters) for the action type.",
                           field=("input", "type"))
    return normalized


async def record_action(
    store: Store,
    *,
    member_id: str,
    action_type: str,
    reference: str,
    occurred_at: datetime | None,
    actor: Actor,
    clock: Clock,
    audit: Audit | None,
) -> ActionRecorded:
    """Earn what the rules give for this action, once per (type, reference)."""
    now = clock()
    kind = check_action_type(action_type)
    ref = check_external_id(reference, field=("input", "reference"), what="reference")
    when = occurred_at or now
    if when.tzinfo is None or not now - MAX_BACKDATING <= when <= now + MAX_CLOCK_SKEW:
        raise InvalidInput("The action time must be within the last year, not in the future.",
                           field=("input", "occurredAt"))
    action = Action(type=kind, reference=ref, occurred_at=when)
    payload_hash = fingerprint({"member": member_id, "type": kind, "reference": ref})
    key = f"action:{kind}:{ref}"
    rules = await active_rules(store)
    programme = await load_programme(store)
    audience = await rule_audience(
        store, segment_names=segments_named(rules)
        | challenge_segment_names(await live_challenges(store)), member_id=member_id
    )
    draws = await action_draws(store, kind)

    async def work(session: Session) -> tuple[Entry, tuple[str, ...]]:
        member = await read_member(store, member_id, session=session)
        local_date = when.astimezone(programme.timezone).date()
        usage = await load_usage(store, session, rules, member_id=member_id,
                                 local_date=local_date)
        now = clock()
        facts = MemberFacts(
            member_id=member_id, tier=member.tier.tier_id,
            segments=audience.segments(member, now=now, timezone=programme.timezone),
            badges=frozenset(member.badges or {}),
        )
        evaluation = with_tier_bonus(
            evaluate(rules, action, facts, usage, timezone=programme.timezone),
            programme.tier(member.tier.tier_id),
        )
        effect = earn_effect(member, programme, points=evaluation.points, spend=0,
                             occurred_at=when, now=now)
        movement = Movement(
            key=key, kind=EntryKind.EARN, reason=f"{kind.replace('_', ' ').capitalize()}",
            source=Source("ACTION", f"{kind}:{ref}"), actor=actor, occurred_at=when,
            recorded_at=now, payload_hash=payload_hash, breakdown=evaluation.awards,
        )
        entry = await credit(store, session, movement, member=member,
                             points=evaluation.points, programme=programme,
                             member_changes=effect.member_changes)
        if effect.decision is not None:
            await record_tier_change(store, session, member_id=member_id,
                                     decision=effect.decision,
                                     previous_tier_id=member.tier.tier_id, now=now)
        await record_usage(store, session, evaluation.awards, rules, member_id=member_id,
                           local_date=local_date, usage=usage)
        await grant_action_entries(store, session, draws=draws, member_id=member_id,
                                   action_type=kind, reference=ref, now=now,
                                   occurred_at=when)
        await grant_rule_badges(store, session, rules=rules, evaluation=evaluation,
                                member_id=member_id, held=member.badges or {}, now=now)
        record_entry(audit, store, session, operation="actionRecord",
                     target=Target("Member", member_id), member=member, entry=entry,
                     details={"action": {"type": kind, "reference": ref}})
        challenges = await progress_action(store, session, member=member, facts=facts,
                                           action=action, programme=programme, now=now)
        await record_scores(store, session, member=member, points=evaluation.points, at=when,
                            now=now, programme=programme, progress=challenges.changes)
        return entry, challenges.gifts_pending

    try:
        entry, gifts = await store.transaction(work)
        return ActionRecorded(entry, replayed=False, gifts_pending=gifts)
    except Exception as error:
        if not is_duplicate_key(error):
            raise
    first = await first_entry(store, key, payload_hash, what="action")
    return ActionRecorded(first, replayed=True)
