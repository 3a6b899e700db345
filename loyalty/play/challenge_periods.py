"""A challenge's periods and how its progress is counted from a member's counters (pure).

A member's counters for one challenge and period (see `challenge_progress`) are
{"n": qualifying events, "a": amount spent, "w": {ISO week: orders}, "s": {store: orders}}.
Weeks and months are the programme's (its time zone); weeks are ISO weeks, Monday first.
"""

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.play.challenges import Challenge, ChallengeKind, Recurrence

ONCE_PERIOD = "all"


def week_key(moment: datetime, zone: ZoneInfo) -> str:
    year, week, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def week_monday(key: str) -> date:
    year, week = key.split("-W")
    return date.fromisocalendar(int(year), int(week), 1)


def period_key(challenge: Challenge, moment: datetime, zone: ZoneInfo) -> str:
    """The period `moment` falls in: "all" for a once-only challenge, "2026-W49" for a
    weekly one, "2026-12" for a monthly one (in the programme's time zone)."""
    if challenge.recurrence is Recurrence.WEEK:
        return week_key(moment, zone)
    if challenge.recurrence is Recurrence.MONTH:
        return f"{moment.astimezone(zone):%Y-%m}"
    return ONCE_PERIOD


def period_end(challenge: Challenge, moment: datetime, zone: ZoneInfo) -> datetime | None:
    """When the period `moment` falls in ends (exclusive, UTC-aware), capped by the
    challenge's window; None for a once-only challenge without an end."""
    local = moment.astimezone(zone)
    end: datetime | None = None
    if challenge.recurrence is Recurrence.WEEK:
        monday = local.date() - timedelta(days=local.weekday()) + timedelta(days=7)
        end = datetime.combine(monday, time(), zone)
    elif challenge.recurrence is Recurrence.MONTH:
        first = (local.date().replace(day=1) + timedelta(days=32)).replace(day=1)
        end = datetime.combine(first, time(), zone)
    window_end = challenge.conditions.ends_at
    if end is None or (window_end is not None and window_end < end):
        return window_end
    return end


def encode_key(value: str) -> str:
    """A store id as a field name: no dots or dollars (they would be paths or operators)."""
    return value.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def progress_of(kind: ChallengeKind, counters: Mapping[str, Any] | None) -> int:
    """How far the counters go towards the target, in the kind's unit."""
    if not counters:
        return 0
    if kind is ChallengeKind.SPEND:
        return max(int(counters.get("a", 0)), 0)
    if kind is ChallengeKind.STREAK_WEEKS:
        return longest_streak(k for k, v in (counters.get("w") or {}).items() if v > 0)
    if kind is ChallengeKind.STORE_COUNT:
        return sum(1 for v in (counters.get("s") or {}).values() if v > 0)
    return max(int(counters.get("n", 0)), 0)


def longest_streak(weeks: Any) -> int:
    """The longest run of consecutive ISO weeks among `weeks` (keys like "2026-W49")."""
    mondays = sorted(week_monday(key) for key in weeks)
    best = run = 0
    previous: date | None = None
    for monday in mondays:
        run = run + 1 if previous is not None and monday - previous == timedelta(days=7) else 1
        best = max(best, run)
        previous = monday
    return best


def minus(counters: Mapping[str, Any] | None, increments: Mapping[str, int]) -> dict[str, Any]:
    """`counters` as they were before `increments` (relative paths "n", "a", "w.<week>",
    "s.<store>") were added."""
    before: dict[str, Any] = {
        "n": (counters or {}).get("n", 0), "a": (counters or {}).get("a", 0),
        "w": dict((counters or {}).get("w") or {}), "s": dict((counters or {}).get("s") or {}),
    }
    for path, amount in increments.items():
        if "." in path:
            group, key = path.split(".", 1)
            before[group][key] = before[group].get(key, 0) - amount
        else:
            before[path] = before[path] - amount
    return before


def max_streak_weeks(challenge: Challenge) -> int:
    """The longest streak the challenge's periods and window leave room for."""
    if challenge.recurrence is Recurrence.WEEK:
        return 1
    limit = 6 if challenge.recurrence is Recurrence.MONTH else 10_000
    start, end = challenge.conditions.starts_at, challenge.conditions.ends_at
    if start is not None and end is not None:
        limit = min(limit, (end - start).days // 7 + 2)
    return limit
