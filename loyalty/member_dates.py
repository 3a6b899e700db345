"""Dates and times as members read them: in the programme's time zone, which the text names.

Every sentence a member (or an app on their behalf) reads formats its dates here, so that
the same instant reads the same everywhere — an offer, a rule's `howToEarn`, a reward's
ineligibility, a voucher's refusal. Machine fields (DateTime scalars) stay UTC ISO.

One format: "Sat 5 Dec 2026", with a time when it matters "Sat 5 Dec 2026, 14:02"
(24-hour), and the zone once at the end of the phrase: "(Europe/Paris time)", or "(UTC)".
The English names are fixed here rather than taken from the process locale. Pure: no I/O.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu", "GMT",
                        "Etc/GMT"})


def zone_note(zone: ZoneInfo) -> str:
    """How a text names the zone its dates are in: "(Europe/Paris time)", "(UTC)"."""
    name = str(zone)
    return "(UTC)" if name in _UTC_NAMES else f"({name} time)"


def local_day(value: datetime | date, zone: ZoneInfo) -> str:
    """The day, in `zone`, of an aware instant (or a calendar date, taken as it is), naming
    the zone: "Sat 5 Dec 2026 (Pacific/Auckland time)". Raises ValueError for a naive
    datetime."""
    day = _local(value, zone).date() if isinstance(value, datetime) else value
    return f"{_date(day)} {zone_note(zone)}"


def local_time(instant: datetime, zone: ZoneInfo) -> str:
    """An aware instant to the minute, in `zone`, naming it: "Sat 5 Dec 2026, 14:02
    (Europe/Paris time)". For what happened (a redemption) or a precise deadline. Raises
    ValueError for a naive datetime."""
    local = _local(instant, zone)
    return f"{_date(local.date())}, {local:%H:%M} {zone_note(zone)}"


def starts(start: datetime, zone: ZoneInfo) -> str:
    """An inclusive start in `zone`, naming it: the day alone when it starts at local
    midnight ("Sat 5 Dec 2026 (…)"), else the day and time."""
    return f"{_first(_local(start, zone))} {zone_note(zone)}"


def ends(end: datetime, zone: ZoneInfo) -> str:
    """An exclusive end in `zone`, naming it: its last day when it ends at local midnight
    (an end at Sun 6 Dec 00:00 reads "Sat 5 Dec 2026 (…)"), else the day and time of the
    end itself. What "until …" and "ended on …" say of a campaign, a reward or an early
    access."""
    return f"{_last(_local(end, zone))} {zone_note(zone)}"


def window(start: datetime | None, end: datetime | None, zone: ZoneInfo) -> str:
    """A period from an inclusive start to an exclusive end, naming the zone once: "from Sat
    29 Nov 2025 to Sun 30 Nov 2025 (Europe/Paris time)", "on Sat 29 Nov 2025 (…)" for one
    day, "from …" or "until …" when open on one side, "" when open on both."""
    first = _first(_local(start, zone)) if start else None
    last = _last(_local(end, zone)) if end else None
    if first and last:
        text = f"on {first}" if first == last else f"from {first} to {last}"
    elif first:
        text = f"from {first}"
    elif last:
        text = f"until {last}"
    else:
        return ""
    return f"{text} {zone_note(zone)}"


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    if instant.utcoffset() is None:
        raise ValueError("a member-facing date needs an aware datetime")
    return instant.astimezone(zone)


def _date(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _first(local: datetime) -> str:
    day = _date(local.date())
    return day if local.time() == time() else f"{day}, {local:%H:%M}"


def _last(local_end: datetime) -> str:
    """The end is exclusive: midnight means the day before was the last one."""
    if local_end.time() == time():
        return _date(local_end.date() - timedelta(days=1))
    return f"{_date(local_end.date())}, {local_end:%H:%M}"
