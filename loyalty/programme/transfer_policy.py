"""The programme's rules for members gifting points to each other (pure policy; the use
case is loyalty/members/transfers.py, the reasoning behind each default docs/transfers.md).

Kept in the programme document under `transfers` {enabled, min_member_days, min_points,
daily_send_cap, monthly_send_cap, daily_receive_cap, monthly_receive_cap}; a cap of None is
no cap. Days and months are the programme's time zone's.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from store import KizunaError
from store.errors import InvalidInput

MAX_POINTS = 10_000_000
"""The most any transfer, minimum or cap can be."""
MAX_MEMBER_DAYS = 3_650


class TransfersDisabled(KizunaError):
    code = "TRANSFERS_DISABLED"


class SenderTooNew(KizunaError):
    code = "SENDER_TOO_NEW"


class TransferLimitExceeded(KizunaError):
    code = "TRANSFER_LIMIT_EXCEEDED"


class TransferToSelf(KizunaError):
    code = "TRANSFER_TO_SELF"


@dataclass(frozen=True, slots=True)
class TransferPolicy:
    enabled: bool = False
    """Off until the shop decides to allow gifting (and its terms say so)."""
    min_member_days: int = 30
    """How long the sender must have been a member: a fresh sign-up cannot pass on a
    welcome gift at once."""
    min_points: int = 100
    daily_send_cap: int | None = 5_000
    monthly_send_cap: int | None = 20_000
    daily_receive_cap: int | None = None
    monthly_receive_cap: int | None = 20_000
    """Bounds what many accounts can funnel into one (laundering, resale)."""


CAPS = ("daily_send_cap", "monthly_send_cap", "daily_receive_cap", "monthly_receive_cap")
NAMES = tuple(f.name for f in fields(TransferPolicy))


def policy_from_document(doc: Mapping[str, Any] | None) -> TransferPolicy:
    stored = doc or {}
    defaults = TransferPolicy()
    return TransferPolicy(**{name: stored.get(name, getattr(defaults, name)) for name in NAMES})


def with_changes(policy: TransferPolicy, changes: Mapping[str, Any]) -> TransferPolicy:
    """`policy` with the given fields (a cap given as None: no cap)."""
    unknown = set(changes) - set(NAMES)
    if unknown:
        raise ValueError(f"not transfer settings: {sorted(unknown)}")
    return replace(policy, **dict(changes))


def check_policy(policy: TransferPolicy) -> list[KizunaError]:
    """The problems of a policy, each with the input field that causes it."""
    errors: list[KizunaError] = []
    field = ("input", "transfers")
    if not 0 <= policy.min_member_days <= MAX_MEMBER_DAYS:
        errors.append(InvalidInput(f"Use 0 to {MAX_MEMBER_DAYS} days.",
                                   field=(*field, "minMemberDays")))
    if not 1 <= policy.min_points <= MAX_POINTS:
        errors.append(InvalidInput(f"Use 1 to {MAX_POINTS} points.",
                                   field=(*field, "minPoints")))
    for name in CAPS:
        cap = getattr(policy, name)
        if cap is not None and not policy.min_points <= cap <= MAX_POINTS:
            errors.append(InvalidInput(
                f"A cap is at least the minimum per transfer ({policy.min_points}) and at "
                f"most {MAX_POINTS}; null for none.", field=(*field, _camel(name))))
    for daily, monthly in (("daily_send_cap", "monthly_send_cap"),
                           ("daily_receive_cap", "monthly_receive_cap")):
        day, month = getattr(policy, daily), getattr(policy, monthly)
        if day is not None and month is not None and day > month:
            errors.append(InvalidInput("The daily cap cannot be above the monthly cap.",
                                       field=(*field, _camel(daily))))
    return errors


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


@dataclass(frozen=True, slots=True)
class Window:
    """The day and month a transfer counts in (the programme's time zone)."""

    day: str
    month: str

    @classmethod
    def at(cls, at: datetime, timezone: ZoneInfo) -> "Window":
        local: date = at.astimezone(timezone).date()
        return cls(day=local.isoformat(), month=local.isoformat()[:7])


def totals(counters: Mapping[str, Any] | None, window: Window) -> tuple[int, int]:
    """Points counted so far today and this month by a member's counters document
    {day, day_points, month, month_points} (older days and months count zero)."""
    stored = counters or {}
    day = stored.get("day_points", 0) if stored.get("day") == window.day else 0
    month = stored.get("month_points", 0) if stored.get("month") == window.month else 0
    return day, month


def counted(counters: Mapping[str, Any] | None, window: Window, points: int) -> dict[str, Any]:
    """The counters document after `points` more in `window`."""
    day, month = totals(counters, window)
    return {"day": window.day, "day_points": day + points,
            "month": window.month, "month_points": month + points}


def check_caps(
    *, points: int, daily: int | None, monthly: int | None, so_far: tuple[int, int],
    side: str,
) -> None:
    """Raise TransferLimitExceeded when `points` more would pass a cap; `side` says whose
    ("You can send" / "This member can receive")."""
    day, month = so_far
    for cap, used, period in ((daily, day, "today"), (monthly, month, "this month")):
        if cap is not None and used + points > cap:
            left = max(0, cap - used)
            raise TransferLimitExceeded(
                f"{side} at most {cap} points {period}; {left} left.",
                field=("input", "points"))


def check_sender(
    policy: TransferPolicy, *, points: int, joined_at: datetime | None, now: datetime
) -> None:
    """What the programme asks of every transfer and its sender, whatever the balances:
    raises TransfersDisabled, InvalidInput (points) or SenderTooNew."""
    if not policy.enabled:
        raise TransfersDisabled("This programme does not allow gifting points.",
                                field=("input",))
    if not policy.min_points <= points <= MAX_POINTS:
        raise InvalidInput(f"Gift at least {policy.min_points} points.",
                           field=("input", "points"))
    days = (now - joined_at).days if joined_at is not None else 0
    if days < policy.min_member_days:
        raise SenderTooNew(
            f"Members can gift points after {policy.min_member_days} days of membership.",
            field=("input",))
