"""Validation of a challenge an administrator submits (pure).

Field paths are those of the GraphQL input (camelCase) under `input`, so a payload error
points at the exact input to fix. The voucher of a reward is checked by `scanner.gifts`
in the schema layer (loyalty may not import scanner).
"""

import re
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from loyalty.conditions import Conditions
from loyalty.engagement.gifts import MAX_GIFT_POINTS
from loyalty.money import check_currency
from loyalty.play.challenge_periods import week_key, week_monday
from loyalty.play.challenges import (
    Challenge,
    ChallengeKind,
    InvalidChallenge,
    Recurrence,
)
from loyalty.programme.ladder import UnknownTier
from loyalty.segments.policy import UnknownSegment
from store.errors import InputErrors, KizunaError

type Path = tuple[str, ...]

_ACTION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")
_BADGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TITLE = 80
MAX_DESCRIPTION = 500
MAX_COUNT = 1_000
"""Orders, actions or stores: more than a member could sensibly pursue in a window."""
MAX_SPEND = 10**10
MAX_WINDOW = timedelta(days=731)
MAX_BADGES = 10
MAX_FILTER_VALUES = 200
_FIELD: Path = ("input",)


class _Fail(Protocol):
    def __call__(self, message: str, *path: str) -> None: ...


def validate_challenge(
    challenge: Challenge,
    *,
    now: datetime,
    timezone: ZoneInfo,
    tiers: Collection[str],
    segments: Collection[str],
) -> Challenge:
    """The challenge with its text trimmed and codes normalised; raises InvalidChallenge,
    UnknownCurrency, UnknownTier, UnknownSegment or InputErrors listing every problem.
    `tiers` and `segments` are the tier ids and segment names that exist."""
    errors: list[KizunaError] = []

    def fail(message: str, *path: str) -> None:
        errors.append(InvalidChallenge(message, field=(*_FIELD, *path)))

    title = challenge.title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        fail(f"Give the challenge a title of 1–{MAX_TITLE} characters.", "title")
    description = challenge.description.strip()
    if len(description) > MAX_DESCRIPTION:
        fail(f"Keep the description under {MAX_DESCRIPTION} characters.", "description")
    action_type = _check_kind(challenge, fail)
    conditions = _check_conditions(challenge, fail, errors)
    _check_window(conditions, now, fail)
    _check_target(replace(challenge, conditions=conditions), timezone, fail)
    _check_reward(challenge, fail)
    unknown_tiers = sorted(conditions.tiers - set(tiers))
    if unknown_tiers:
        errors.append(UnknownTier(f"No tier has the id {unknown_tiers[0]!r}.",
                                  field=(*_FIELD, "tiers")))
    unknown = sorted(conditions.segments - set(segments))
    if unknown:
        errors.append(UnknownSegment(f"No segment is named {unknown[0]!r}.",
                                     field=(*_FIELD, "segments")))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return replace(challenge, title=title, description=description, action_type=action_type,
                   conditions=conditions)


def _check_kind(challenge: Challenge, fail: _Fail) -> str | None:
    if challenge.kind is not ChallengeKind.ACTION_COUNT:
        if challenge.action_type is not None:
            fail("Only ACTION_COUNT challenges have an action type.", "actionType")
        return None
    normalized = (challenge.action_type or "").strip().upper()
    if not normalized:
        fail("An ACTION_COUNT challenge needs the action type it counts (e.g. REVIEW).",
             "actionType")
    elif not _ACTION_TYPE.match(normalized):
        fail("Use UPPER_SNAKE_CASE (2–40 characters) for the action type.", "actionType")
    return normalized or None


def _check_conditions(challenge: Challenge, fail: _Fail, errors: list[KizunaError]) -> (
    Conditions
):
    c = challenge.conditions
    where = "conditions"
    currency = c.currency
    if currency is not None:
        try:
            currency = check_currency(currency, field=(*_FIELD, where, "currency"))
        except KizunaError as error:
            errors.append(error)
    if c.min_total is not None:
        if c.min_total < 0:
            fail("The minimum total cannot be negative.", where, "minTotal")
        if c.currency is None:
            fail("Say which currency the minimum total is in.", where, "currency")
    if challenge.kind is ChallengeKind.SPEND and c.currency is None:
        fail("Say which currency the spending is counted in.", where, "currency")
    cleaned = {
        label: frozenset(v for v in (value.strip() for value in values) if v)
        for label, values in (
            ("categoriesInclude", c.categories_include),
            ("categoriesExclude", c.categories_exclude),
            ("skusInclude", c.skus_include), ("skusExclude", c.skus_exclude),
            ("tiers", c.tiers), ("segments", frozenset(s.upper() for s in c.segments)),
        )
    }
    for label, values in cleaned.items():
        if len(values) > MAX_FILTER_VALUES:
            fail(f"At most {MAX_FILTER_VALUES} values.", where, label)
    both = cleaned["categoriesInclude"] & cleaned["categoriesExclude"]
    if both:
        fail(f"Category {sorted(both)[0]!r} is both included and excluded.", where,
             "categoriesExclude")
    both = cleaned["skusInclude"] & cleaned["skusExclude"]
    if both:
        fail(f"SKU {sorted(both)[0]!r} is both included and excluded.", where, "skusExclude")
    if challenge.kind is ChallengeKind.ACTION_COUNT:
        for label, present in (
            ("minTotal", c.min_total is not None), ("currency", c.currency is not None),
            ("categoriesInclude", bool(c.categories_include)),
            ("categoriesExclude", bool(c.categories_exclude)),
            ("skusInclude", bool(c.skus_include)), ("skusExclude", bool(c.skus_exclude)),
            ("channels", bool(c.channels)),
        ):
            if present:
                fail("Order conditions do not apply to actions.", where, label)
    if any(not name.strip() for name in c.segments):
        fail("Name each segment: a blank name is no segment.", "segments")
    if challenge.kind is ChallengeKind.STORE_COUNT and c.channels == frozenset({"ONLINE"}):
        fail("Online orders have no store: they cannot count towards different stores.",
             where, "channels")
    return replace(
        c, currency=currency,
        categories_include=cleaned["categoriesInclude"],
        categories_exclude=cleaned["categoriesExclude"],
        skus_include=cleaned["skusInclude"], skus_exclude=cleaned["skusExclude"],
        tiers=cleaned["tiers"], segments=cleaned["segments"],
    )


def _check_window(c: Conditions, now: datetime, fail: _Fail) -> None:
    for label, value in (("startsAt", c.starts_at), ("endsAt", c.ends_at)):
        if value is not None and value.tzinfo is None:
            fail("Give the time with its UTC offset.", label)
            return
    if c.ends_at is None or c.starts_at is None:
        fail("Give the challenge an end.", "endsAt")
        return
    if c.ends_at <= c.starts_at:
        fail("The end must come after the start.", "endsAt")
    elif c.ends_at <= now:
        fail("The end is already past.", "endsAt")
    elif c.ends_at - c.starts_at > MAX_WINDOW:
        fail(f"A challenge lasts at most {MAX_WINDOW.days} days.", "endsAt")


def _check_target(challenge: Challenge, timezone: ZoneInfo, fail: _Fail) -> None:
    limit = MAX_SPEND if challenge.kind is ChallengeKind.SPEND else MAX_COUNT
    if not 0 < challenge.target <= limit:
        fail(f"The target must be between 1 and {limit:,}.", "target")
        return
    if challenge.kind is ChallengeKind.STREAK_WEEKS:
        room = streak_room(challenge, timezone)
        if room is not None and challenge.target > room:
            fail(f"Only {room} week(s) in a row fit in the challenge's window or period.",
                 "target")


def streak_room(challenge: Challenge, timezone: ZoneInfo) -> int | None:
    """The most consecutive ISO weeks a period of the challenge can hold (None: unknown)."""
    start, end = challenge.conditions.starts_at, challenge.conditions.ends_at
    if start is None or end is None or end <= start:
        return None
    first = week_monday(week_key(start, timezone))
    last = week_monday(week_key(end - timedelta(microseconds=1), timezone))
    room = (last - first).days // 7 + 1
    if challenge.recurrence is Recurrence.WEEK:
        return 1
    if challenge.recurrence is Recurrence.MONTH:
        return min(room, 6)  # a month touches at most six ISO weeks
    return room


def _check_reward(challenge: Challenge, fail: _Fail) -> None:
    reward = challenge.reward
    if reward.points is None and reward.voucher is None and not reward.badges:
        fail("Give a reward: points, a voucher or badges (or several).", "reward")
    if reward.points is not None and not 0 < reward.points <= MAX_GIFT_POINTS:
        fail(f"Reward points are 1 to {MAX_GIFT_POINTS:,}.", "reward", "points")
    if len(reward.badges) > MAX_BADGES:
        fail(f"At most {MAX_BADGES} badges.", "reward", "badgeIds")
    if any(not _BADGE_ID.match(badge) for badge in reward.badges):
        fail("Badge ids are 1–64 letters, digits, '-' or '_'.", "reward", "badgeIds")
    if len(set(reward.badges)) != len(reward.badges):
        fail("A badge is listed twice.", "reward", "badgeIds")


_FIXED: tuple[tuple[str, str], ...] = (
    ("kind", "kind"), ("recurrence", "recurrence"), ("target", "target"),
    ("action_type", "actionType"),
)


def check_unchanged(current: Challenge, draft: Challenge) -> None:
    """Refuse an update that changes what the counters and completions mean: the kind
    (counters would be read as another kind's), the recurrence (a completed ONCE period would
    pay again as weekly ones), the target (below a member's progress it could never be
    crossed), the action type and the currency (the counters are in it). Raises
    InvalidChallenge or InputErrors at those fields."""
    errors: list[KizunaError] = []
    why = "cannot change once the challenge exists: archive it and create a new challenge."
    for attribute, label in _FIXED:
        if getattr(current, attribute) != getattr(draft, attribute):
            errors.append(InvalidChallenge(f"The {_WORDS[label]} {why}",
                                           field=(*_FIELD, label)))
    if current.conditions.currency != draft.conditions.currency:
        errors.append(InvalidChallenge(f"The currency {why}",
                                       field=(*_FIELD, "conditions", "currency")))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)


_WORDS = {"kind": "kind", "recurrence": "recurrence", "target": "target",
          "actionType": "action type"}
