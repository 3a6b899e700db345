"""Birthday gifts: the programme's setting, and when a member's gift is due.

A member gets the birthday gift once per year, on the local date (programme time zone)
`days_before` days ahead of their birthday; 29 February counts as 28 February in other
years. A birthday set or changed less than 30 days before its gift is given only counts
from the next year, so nobody can type a date to collect a gift at once (the notice is
measured against the gift's day, not the birthday: with gifts 30 days ahead, a birthday
set 30 days ahead waits a year). The once-per-year key is
`birthday:<member>:<year of the birthday>`, whatever the date (a member who changes their
birthday after this year's gift waits for next year's).

The job (`scanner.gifts.grant_birthday_gifts`, which can also give vouchers) looks at the
birthdays of the last few days too, so a server that was down on the day still gives the
gift late rather than never; it never looks back past the moment the gift was switched on.
"""

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from events.audit import Audit
from loyalty.engagement.gifts import (
    Gift,
    Occasion,
    gift_document,
    gift_from_document,
    grant_points,
    load_settings,
    save_settings,
)
from loyalty.programme.settings import load_programme
from store import InvalidInput, Session, Store, is_duplicate_key
from store.clock import Clock

MIN_NOTICE = timedelta(days=30)
MAX_DAYS_BEFORE = 30
CATCH_UP_DAYS = 7
_SETTINGS = "birthday"


@dataclass(frozen=True, slots=True)
class BirthdayGift:
    gift: Gift
    days_before: int = 0
    """Give it this many days ahead (a voucher to use on the day)."""
    since: datetime | None = None
    """When it was last set: the job never gives gifts for days before this."""


def birthday_in(year: int, birthday: date) -> date:
    """The member's birthday in `year` (29 February → 28 February in non-leap years)."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


def month_days(day: date) -> list[str]:
    """The stored "MM-DD" birthdays that fall on `day` (28 Feb includes 29 Feb in non-leap
    years)."""
    found = [day.strftime("%m-%d")]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        found.append("02-29")
    return found


def gift_key(member_id: str, year: int) -> str:
    return f"birthday:{member_id}:{year}"


def gift_is_due(
    *, birthday: date, set_at: datetime, day: date, days_before: int, timezone: ZoneInfo
) -> bool:
    """Whether the birthday falling on `day` earns its gift (given `days_before` days
    ahead): it is the member's birthday that year, and the birthday was known at least 30
    days before the gift's day (local dates)."""
    gift_day = day - timedelta(days=days_before)
    return (birthday_in(day.year, birthday) == day
            and set_at.astimezone(timezone).date() <= gift_day - MIN_NOTICE)


def birthdays_to_celebrate(today: date, setting: BirthdayGift, timezone: ZoneInfo) -> (
    Iterator[date]
):
    """The birthdays whose gift is due on `today` (local), then those of the previous days
    of the catch-up window, not before the gift was switched on."""
    since = setting.since.astimezone(timezone).date() if setting.since else today
    for offset in range(CATCH_UP_DAYS):
        gift_day = today - timedelta(days=offset)
        if gift_day < since:
            return
        yield gift_day + timedelta(days=setting.days_before)


async def load_birthday_gift(store: Store) -> BirthdayGift | None:
    doc = await load_settings(store, _SETTINGS)
    gift = gift_from_document(doc)
    if doc is None or gift is None:
        return None
    return BirthdayGift(gift=gift, days_before=doc.get("days_before", 0),
                        since=doc.get("updated_at"))


async def save_birthday_gift(
    store: Store, setting: BirthdayGift | None, *, clock: Clock, audit: Audit | None
) -> BirthdayGift | None:
    """Store the (already checked) setting; None switches birthday gifts off."""
    if setting is not None and not 0 <= setting.days_before <= MAX_DAYS_BEFORE:
        raise InvalidInput(f"Give the gift 0 to {MAX_DAYS_BEFORE} days before the birthday.",
                           field=("input", "daysBefore"))
    now = clock()
    await save_settings(store, _SETTINGS, None if setting is None else {
        **gift_document(setting.gift), "days_before": setting.days_before,
    }, now=now, audit=audit, operation="birthdayGiftSet")
    return None if setting is None else BirthdayGift(setting.gift, setting.days_before, now)


async def grant_birthday_points(
    store: Store, *, member_id: str, year: int, points: int, clock: Clock
) -> bool:
    """Credit the birthday points of `year`, once: False when they were given already
    (by an earlier or a concurrent run)."""
    programme = await load_programme(store)
    key = gift_key(member_id, year)

    async def work(session: Session) -> None:
        await grant_points(store, session, key=key, member_id=member_id,
                           occasion=Occasion.BIRTHDAY, points=points, reason="Happy birthday!",
                           now=clock(), programme=programme, details={"year": year})

    try:
        await store.transaction(work)
    except Exception as error:
        if not is_duplicate_key(error):
            raise
        return False
    return True
