"""A member's challenges as the member reads them: progress, deadline, reward and the next
step in their words ("Place 2 more orders with coffee before Sun 6 Dec 2026 (UTC)")."""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from loyalty import member_dates
from loyalty.badges.catalogue import catalogue
from loyalty.conditions import Conditions, MemberFacts, member_conditions_hold
from loyalty.ledger.member_state import read_member
from loyalty.money import MINOR_UNITS, minor_per_unit
from loyalty.play.challenge_completion import (
    COMPLETED,
    COMPLETIONS,
    completion_id,
    voucher_given,
)
from loyalty.play.challenge_periods import period_end, period_key, progress_of
from loyalty.play.challenge_progress import PROGRESS
from loyalty.play.challenge_store import live_challenges
from loyalty.play.challenges import Challenge, ChallengeKind, ChallengeReward
from loyalty.programme.settings import load_programme
from loyalty.segments.definitions import member_segments
from store import Store

_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
_ACTIONS = {"REVIEW": ("Write", "review"), "SURVEY": ("Answer", "survey"),
            "SOCIAL_SHARE": ("Share", "post"), "EVENT_VISIT": ("Visit", "event")}


@dataclass(frozen=True, slots=True)
class MemberChallenge:
    challenge: Challenge
    period: str
    progress: int
    ends_at: datetime | None
    completed_at: datetime | None
    joined_at: datetime | None
    reward: str
    next_step: str

    @property
    def needs_joining(self) -> bool:
        return self.challenge.opt_in and self.joined_at is None


async def member_challenges(store: Store, *, member_id: str, now: datetime) -> (
    list[MemberChallenge]
):
    """The live challenges the member's audience allows that have started and not ended,
    with the member's progress in the current period (a few reads, none per challenge)."""
    challenges = [
        c for c in await live_challenges(store)
        if (c.conditions.starts_at is None or c.conditions.starts_at <= now)
        and (c.conditions.ends_at is None or now < c.conditions.ends_at)
    ]
    if not challenges:
        return []
    programme, member, progress = await asyncio.gather(
        load_programme(store), read_member(store, member_id),
        store.collection(PROGRESS).find_one({"_id": member_id}))
    zone = programme.timezone
    segments = await member_segments(store, member_id, now=now) if any(
        c.conditions.segments for c in challenges) else frozenset()
    facts = MemberFacts(member_id=member_id, tier=member.tier.tier_id, segments=segments)
    names = await badge_names(store) if any(c.reward.badges for c in challenges) else {}
    mine = [c for c in challenges if member_conditions_hold(c.conditions, facts)]
    periods = {c.id: period_key(c, now, zone) for c in mine}
    ids = [completion_id(c.id, periods[c.id], member_id) for c in mine]
    done = {doc["_id"]: doc async for doc in store.collection(COMPLETIONS).find(
        {"_id": {"$in": ids}}, {"status": 1, "completed_at": 1, "rounds.voucher": 1})}
    counters = (progress or {}).get("c") or {}
    found = []
    for challenge in mine:
        period = periods[challenge.id]
        completion = done.get(completion_id(challenge.id, period, member_id))
        completed_at = completion["completed_at"] if completion and \
            completion["status"] == COMPLETED else None
        value = progress_of(challenge.kind, (counters.get(challenge.id) or {}).get(period))
        joined = (member.challenges_joined or {}).get(challenge.id)
        ends = period_end(challenge, now, zone)
        reward = reward_words(challenge.reward, names,
                              voucher_given=completed_at is None and voucher_given(completion))
        found.append(MemberChallenge(
            challenge=challenge, period=period, progress=min(value, challenge.target),
            ends_at=ends, completed_at=completed_at, joined_at=joined, reward=reward,
            next_step=next_step(challenge, value, completed=completed_at is not None,
                                needs_joining=challenge.opt_in and joined is None,
                                ends_at=ends, zone=zone, reward=reward)))
    return found


def reward_words(reward: ChallengeReward, badge_names: Mapping[str, str], *,
                 voucher_given: bool = False) -> str:
    """"150 points, a voucher (10% off coffee) and the Coffee lover badge" (`badge_names`:
    the catalogue's names by badge id). `voucher_given`: a refund revoked the period's
    completion after its voucher was issued, so completing it again gives no second one."""
    parts = []
    if reward.points:
        parts.append(_plural(reward.points, "point"))
    if reward.voucher is not None and not voucher_given:
        parts.append(f"a voucher ({reward.voucher.title})")
    parts += [f"the {badge_names.get(badge, 'secret')} badge" for badge in reward.badges]
    words = "".join(parts) if len(parts) <= 1 else \
        f"{', '.join(parts[:-1])} and {parts[-1]}"
    if reward.voucher is not None and voucher_given:
        note = "you already have this challenge's voucher"
        return f"{words} ({note})" if words else f"no more ({note})"
    return words


def next_step(challenge: Challenge, progress: int, *, completed: bool, needs_joining: bool,
              ends_at: datetime | None, zone: ZoneInfo, reward: str) -> str:
    if completed:
        return f"Done! You earned {reward}."
    left = max(challenge.target - progress, 0)
    goal = _goal(challenge, left, more=progress > 0 and not needs_joining)
    deadline = f" before {member_dates.ends(ends_at, zone)}" if ends_at else ""
    if needs_joining:
        return f"Join, then {goal[0].lower()}{goal[1:]}{deadline} to earn {reward}."
    return f"{goal}{deadline} to earn {reward}."


def _goal(challenge: Challenge, left: int, *, more: bool) -> str:
    extra = " more" if more else ""
    what = _qualifier(challenge.conditions)
    kind = challenge.kind
    if kind is ChallengeKind.SPEND:
        return f"Spend {_money(left, challenge.conditions.currency or '')}{extra}{what}"
    if kind is ChallengeKind.ACTION_COUNT:
        action = challenge.action_type or ""
        verb, noun = _ACTIONS.get(action, ("Do", action.replace("_", " ").lower()))
        return f"{verb} {left}{extra} {noun if left == 1 else noun + 's'}"
    if kind is ChallengeKind.STREAK_WEEKS:
        if more:
            return f"Place an order{what} in {left} more {'week' if left == 1 else 'weeks'} " \
                   "in a row"
        return f"Place an order{what} in each of {left} weeks in a row"
    if kind is ChallengeKind.STORE_COUNT:
        return f"Shop{what} in {left}{extra} different {'store' if left == 1 else 'stores'}"
    return f"Place {left}{extra} {'order' if left == 1 else 'orders'}{what}"


def _qualifier(c: Conditions) -> str:
    parts = []
    products = sorted(c.categories_include) + sorted(c.skus_include)
    if products:
        parts.append(" with " + " or ".join(products))
    if c.min_total is not None and c.currency is not None:
        parts.append(f" of {_money(c.min_total, c.currency)} or more")
    if c.channels == frozenset({"ONLINE"}):
        parts.append(" online")
    elif c.channels == frozenset({"STORE"}):
        parts.append(" in store")
    return "".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _money(amount_minor: int, currency: str) -> str:
    per_unit = minor_per_unit(currency) if currency in MINOR_UNITS else 1
    whole, cents = divmod(amount_minor, per_unit)
    digits = MINOR_UNITS.get(currency, 0)
    number = f"{whole:,}" if cents == 0 else f"{amount_minor / per_unit:,.{digits}f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{currency} {number}"


async def badge_names(store: Store) -> dict[str, str]:
    """The catalogue's badge names by id, from the read cache (no round trip)."""
    return {badge.id: badge.draft.name for badge in await catalogue(store)}
