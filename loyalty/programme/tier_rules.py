"""Tiers: definitions, the programme's qualification policy, and the pure tier arithmetic.

Qualification counts points earned (or money spent) in a window: the last N calendar
months (rolling) or the calendar year, in the programme's time zone. Members keep monthly
buckets of what qualifies (`members.qualifying = {"2026-11": {"points": …, "spend": …}}`),
so the qualifying total is a sum over at most 36 small numbers, never a ledger scan.

Rules: a member moves up at once when the qualifying total reaches a higher threshold; a
member moves down only at the review date, one level at a time, once the grace period
after it has passed; a tier set by an administrator is kept (and shown as manual) until an
automatic upgrade passes it or the administrator clears it.
"""

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

MAX_WINDOW_MONTHS = 36


class TierMetric(StrEnum):
    POINTS_EARNED = "POINTS_EARNED"
    SPEND = "SPEND"


class TierWindow(StrEnum):
    ROLLING_MONTHS = "ROLLING_MONTHS"
    CALENDAR_YEAR = "CALENDAR_YEAR"


@dataclass(frozen=True, slots=True)
class Tier:
    id: str
    name: str
    threshold: int
    """Qualifying points (or minor units of spend) needed in the window."""
    earn_multiplier: float = 1.0
    perks: str = ""


@dataclass(frozen=True, slots=True)
class TierPolicy:
    metric: TierMetric = TierMetric.POINTS_EARNED
    window: TierWindow = TierWindow.ROLLING_MONTHS
    window_months: int = 12
    grace_days: int = 30


@dataclass(frozen=True, slots=True)
class TierStatus:
    """What the member doc says about the member's tier."""

    tier_id: str | None = None
    since: datetime | None = None
    manual: bool = False
    review_at: datetime | None = None


def status_from_document(doc: Mapping[str, Any] | None) -> TierStatus:
    tier = (doc or {}).get("tier") or {}
    return TierStatus(
        tier_id=tier.get("id"), since=tier.get("since"), manual=bool(tier.get("manual")),
        review_at=tier.get("review_at"),
    )


def month_key(moment: datetime, timezone: ZoneInfo) -> str:
    local = moment.astimezone(timezone)
    return f"{local.year:04d}-{local.month:02d}"


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def window_months(policy: TierPolicy, at: datetime, timezone: ZoneInfo) -> list[str]:
    """The month keys of the qualification window that contains `at`."""
    local = at.astimezone(timezone)
    if policy.window is TierWindow.CALENDAR_YEAR:
        return [f"{local.year:04d}-{m:02d}" for m in range(1, local.month + 1)]
    keys = []
    for back in range(policy.window_months - 1, -1, -1):
        year, month = _add_months(local.year, local.month, -back)
        keys.append(f"{year:04d}-{month:02d}")
    return keys


def _end_of_month(year: int, month: int, timezone: ZoneInfo) -> datetime:
    next_year, next_month = _add_months(year, month, 1)
    return datetime.combine(date(next_year, next_month, 1), time(), timezone)


def window_ends_at(policy: TierPolicy, at: datetime, timezone: ZoneInfo) -> datetime:
    """When the window's oldest qualifying month drops out (rolling) or the year ends."""
    local = at.astimezone(timezone)
    if policy.window is TierWindow.CALENDAR_YEAR:
        return datetime.combine(date(local.year + 1, 1, 1), time(), timezone)
    return _end_of_month(local.year, local.month, timezone)


def qualifying(
    buckets: Mapping[str, Mapping[str, int]], policy: TierPolicy, at: datetime,
    timezone: ZoneInfo,
) -> int:
    field = "points" if policy.metric is TierMetric.POINTS_EARNED else "spend"
    return sum(buckets.get(key, {}).get(field, 0) for key in window_months(policy, at, timezone))


def ordered(tiers: Sequence[Tier]) -> list[Tier]:
    return sorted(tiers, key=lambda t: (t.threshold, t.name))


def earned_tier(tiers: Sequence[Tier], amount: int) -> Tier | None:
    """The highest tier whose threshold `amount` reaches."""
    reached = [t for t in ordered(tiers) if t.threshold <= amount]
    return reached[-1] if reached else None


def rank(tiers: Sequence[Tier], tier_id: str | None) -> int:
    """0 for no tier, then 1, 2, … by threshold."""
    for index, tier in enumerate(ordered(tiers), start=1):
        if tier.id == tier_id:
            return index
    return 0


def next_tier(tiers: Sequence[Tier], tier_id: str | None) -> Tier | None:
    above = ordered(tiers)[rank(tiers, tier_id):]
    return above[0] if above else None


def review_date(policy: TierPolicy, since: datetime, timezone: ZoneInfo) -> datetime:
    """When a tier reached at `since` is reviewed: one window later (rolling), or at the end
    of the following calendar year."""
    local = since.astimezone(timezone)
    if policy.window is TierWindow.CALENDAR_YEAR:
        return datetime.combine(date(local.year + 2, 1, 1), time(), timezone)
    year, month = _add_months(local.year, local.month, policy.window_months)
    day = min(local.day, calendar.monthrange(year, month)[1])
    return datetime.combine(date(year, month, day), local.timetz().replace(tzinfo=None),
                            timezone)


def judged_at(review_at: datetime) -> datetime:
    """The moment whose window a review judges: the one just before the review date (so a
    review on 1 January judges the year that just ended)."""
    return review_at - timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class TierDecision:
    tier: Tier | None
    reason: str


def upgrade(tiers: Sequence[Tier], status: TierStatus, amount: int) -> TierDecision | None:
    """A move up when `amount` reaches a tier above the current one (manual included)."""
    target = earned_tier(tiers, amount)
    if target is None or rank(tiers, target.id) <= rank(tiers, status.tier_id):
        return None
    return TierDecision(target, f"Reached {target.name}: {amount} qualifying")


def review(
    tiers: Sequence[Tier], policy: TierPolicy, status: TierStatus, amount: int, now: datetime,
) -> TierDecision | None:
    """At or after the review date: keep the tier if still earned, else (after the grace
    period) drop one level. None when nothing is due."""
    if status.manual or status.tier_id is None or status.review_at is None:
        return None
    if now < status.review_at + timedelta(days=policy.grace_days):
        return None
    current_rank = rank(tiers, status.tier_id)
    earned = earned_tier(tiers, amount)
    if earned is not None and rank(tiers, earned.id) >= current_rank:
        return TierDecision(earned, "Tier kept at review")
    lower = ordered(tiers)[current_rank - 2] if current_rank >= 2 else None
    name = lower.name if lower else "no tier"
    return TierDecision(lower, f"Moved to {name} at review: {amount} qualifying")


@dataclass(frozen=True, slots=True)
class TierProgress:
    qualifying: int
    required: int
    remaining: int
    window_ends_at: datetime


@dataclass(frozen=True, slots=True)
class TierView:
    """What the app shows: my tier, the next one and how far it is, how to keep mine."""

    current: Tier | None
    manual: bool
    since: datetime | None
    next: Tier | None
    progress: TierProgress | None
    """Toward `next`, over the current window."""
    keep: TierProgress | None
    """To keep `current` at its review (`window_ends_at` is then the review date)."""


def tier_view(
    tiers: Sequence[Tier], policy: TierPolicy, status: TierStatus,
    buckets: Mapping[str, Mapping[str, int]], now: datetime, timezone: ZoneInfo,
) -> TierView:
    current = next((t for t in tiers if t.id == status.tier_id), None)
    upcoming = next_tier(tiers, current.id if current else None)
    amount = qualifying(buckets, policy, now, timezone)
    progress = None
    if upcoming is not None:
        progress = TierProgress(amount, upcoming.threshold, max(0, upcoming.threshold - amount),
                                window_ends_at(policy, now, timezone))
    keep = None
    if current is not None and not status.manual and status.review_at is not None:
        # What already counts toward the window that will be judged at the review date.
        at_review = qualifying(buckets, policy, judged_at(status.review_at), timezone)
        keep = TierProgress(at_review, current.threshold,
                            max(0, current.threshold - at_review), status.review_at)
    return TierView(current, status.manual, status.since, upcoming, progress, keep)
