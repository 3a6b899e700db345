"""When earned points become spendable and when they expire (pure calendar arithmetic)."""

import calendar
from datetime import UTC, datetime, timedelta

from loyalty.programme.settings import ExpiryKind, Programme


def available_at(earned_at: datetime, programme: Programme) -> datetime:
    """Points are pending (visible, not spendable) until this instant."""
    return earned_at + timedelta(days=programme.pending_days)


def expires_at(earned_at: datetime, programme: Programme) -> datetime | None:
    """When points earned at `earned_at` expire under the programme's policy (None: never).

    Calendar arithmetic happens in the programme's time zone, so "the end of March" is the
    end of March where the shop is.
    """
    if programme.expiry_kind is ExpiryKind.NEVER:
        return None
    local = earned_at.astimezone(programme.timezone)
    months = programme.expiry_months
    if programme.expiry_kind is ExpiryKind.MONTHS_AFTER_EARNING:
        year, month = _add_months(local.year, local.month, months)
        day = min(local.day, calendar.monthrange(year, month)[1])
        return local.replace(year=year, month=month, day=day).astimezone(UTC)
    # END_OF_NTH_MONTH: the first instant of the month after the Nth month.
    year, month = _add_months(local.year, local.month, months + 1)
    start = datetime(year, month, 1, tzinfo=programme.timezone)
    return start.astimezone(UTC)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1
