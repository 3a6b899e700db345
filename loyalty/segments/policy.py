"""Segments as pure policy: what a segment is, when a member belongs to it, which member
statistics an order or a refund changes, and what a valid segment is. No I/O;
`loyalty/segments/definitions.py` stores segments and reads members.

A member belongs to a segment when every one of its conditions holds, as of `now`:
- recency: the last order was less than N days ago;
- lapsed: there was an order once, but none for N days or more;
- frequency: at least N orders in the last M calendar months (this month included, in the
  programme's time zone: the monthly buckets `qualifying.<YYYY-MM>.orders` the member
  document keeps make the window exact to the month, never a scan of orders; an order
  refunded later still counts as a visit);
- monetary: at least X minor units spent in the last M calendar months (the tier buckets
  `qualifying.<YYYY-MM>.spend`, net of refunds);
- birthday: born in a given month, or in the current month (programme's time zone);
- tier: holds one of the given tiers;
- favourite category: C is the category the member spent the most on (net of refunds; every
  category tied at the top counts as a favourite);
- badges: holds every one of the given badges (`members.badges.<badge id>`).
"""

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.ledger.member_state import MemberState
from loyalty.programme.ladder import UnknownTier
from loyalty.programme.tier_rules import MAX_WINDOW_MONTHS, TierPolicy, TierWindow, window_months
from loyalty.purchases import OrderLine
from store import InputErrors, InvalidInput, KizunaError, NotFound

type Path = tuple[str, ...]

_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")
MAX_DESCRIPTION = 500
MAX_DAYS = 3650
MAX_ORDERS = 100_000
MAX_SPEND = 10**15
MAX_TIERS = 50
MAX_CATEGORY = 100
# Characters a MongoDB field name cannot hold (a dot is a path, a leading $ an operator),
# and the escape character itself, so that the encoding can be reversed.
_UNSAFE_IN_KEYS = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}


class InvalidSegment(InvalidInput):
    """A segment whose fields are missing, out of range or contradict each other."""

    code = "INVALID_SEGMENT"


class UnknownSegment(NotFound):
    code = "UNKNOWN_SEGMENT"


class SegmentNameTaken(KizunaError):
    code = "SEGMENT_NAME_TAKEN"


class SegmentInUse(KizunaError):
    """Earning rules refer to the segment: deleting it would silently switch them off."""

    code = "SEGMENT_IN_USE"


@dataclass(frozen=True, slots=True)
class WindowMinimum:
    """At least `minimum` (orders, or minor units of spend) in the last `months` months."""

    minimum: int
    months: int


@dataclass(frozen=True, slots=True)
class SegmentConditions:
    """All must hold; None (or empty) means the condition is not asked."""

    last_order_within_days: int | None = None
    lapsed_days: int | None = None
    frequency: WindowMinimum | None = None
    monetary: WindowMinimum | None = None
    birthday_month: int | None = None
    birthday_this_month: bool = False
    tiers: frozenset[str] = frozenset()
    favourite_category: str | None = None
    badges: frozenset[str] = frozenset()
    """Badge ids the member must all hold."""

    @property
    def needs_birthday(self) -> bool:
        return self.birthday_month is not None or self.birthday_this_month

    @property
    def needs_orders(self) -> bool:
        """Whether only a member with a member document (orders, a tier) can match."""
        return any((
            self.last_order_within_days is not None, self.lapsed_days is not None,
            self.frequency is not None, self.monetary is not None, bool(self.tiers),
            self.favourite_category is not None, bool(self.badges),
        ))


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    name: str
    """UPPER_SNAKE_CASE and unique: earning rules (and rewards) refer to it by name."""
    conditions: SegmentConditions
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


# --- membership ----------------------------------------------------------------------------


def category_key(category: str) -> str:
    """`category` as a MongoDB field name (`category_spend.<key>`): reversible, no dots, no $."""
    return "".join(_UNSAFE_IN_KEYS.get(char, char) for char in category)


def recent_months(months: int, now: datetime, timezone: ZoneInfo) -> list[str]:
    """The month keys (YYYY-MM) of the last `months` calendar months, this one included."""
    return window_months(TierPolicy(window=TierWindow.ROLLING_MONTHS, window_months=months),
                         now, timezone)


def window_total(
    buckets: Mapping[str, Mapping[str, int]], what: str, months: int, now: datetime,
    timezone: ZoneInfo,
) -> int:
    return sum(buckets.get(key, {}).get(what, 0) for key in recent_months(months, now, timezone))


def favourite_categories(category_spend: Mapping[str, int]) -> frozenset[str]:
    """The keys of the categories with the highest (positive) spend; ties are all kept."""
    top = max(category_spend.values(), default=0)
    if top <= 0:
        return frozenset()
    return frozenset(key for key, spent in category_spend.items() if spent == top)


def matches(
    conditions: SegmentConditions, member: MemberState, birthday: date | None,
    tier_id: str | None, now: datetime, timezone: ZoneInfo,
) -> bool:
    """Whether every condition holds for the member as of `now`."""
    c = conditions
    last = member.last_order_at
    if c.last_order_within_days is not None and (
        last is None or last <= now - timedelta(days=c.last_order_within_days)
    ):
        return False
    if c.lapsed_days is not None and (
        last is None or last > now - timedelta(days=c.lapsed_days)
    ):
        return False
    buckets = member.qualifying or {}
    for minimum, what in ((c.frequency, "orders"), (c.monetary, "spend")):
        if minimum is not None and (
            window_total(buckets, what, minimum.months, now, timezone) < minimum.minimum
        ):
            return False
    if c.needs_birthday:
        month = now.astimezone(timezone).month if c.birthday_this_month else c.birthday_month
        if birthday is None or birthday.month != month:
            return False
    if c.tiers and tier_id not in c.tiers:
        return False
    if not c.badges <= frozenset(member.badges or {}):
        return False
    return c.favourite_category is None or category_key(c.favourite_category) in (
        favourite_categories(member.category_spend or {})
    )


def segments_of(
    definitions: Iterable[Segment], member_state: MemberState, birthday: date | None,
    tier_id: str | None, now: datetime, timezone: ZoneInfo,
) -> frozenset[str]:
    """The names of the segments among `definitions` the member belongs to as of `now`."""
    return frozenset(
        segment.name for segment in definitions
        if matches(segment.conditions, member_state, birthday, tier_id, now, timezone)
    )


# --- member statistics ---------------------------------------------------------------------


def _category_gross(lines: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    gross: dict[str, int] = {}
    for category, amount in lines:
        if category and amount > 0:
            key = category_key(category)
            gross[key] = gross.get(key, 0) + amount
    return gross


def order_stat_increments(
    *, total: int, lines: Sequence[OrderLine], month: str
) -> dict[str, int]:
    """The `$inc` an order adds to the member document: its orders count in its month,
    the spend total and each category's line amounts (quantity × unit price)."""
    gross = _category_gross((ln.category, ln.quantity * ln.unit_price) for ln in lines)
    return {
        f"qualifying.{month}.orders": 1, "spend_total": total,
        **{f"category_spend.{key}": amount for key, amount in gross.items()},
    }


def refund_stat_increments(
    *, order: Mapping[str, Any], refunded_now: int, returned: Sequence[tuple[str, int]],
) -> dict[str, int]:
    """The `$inc` a refund of `refunded_now` makes to the member document of the stored
    `order` (before the refund is applied to it): the spend total goes down by the money
    refunded; returned items (`returned`: SKU, quantity) take back their own category's line
    amounts, and a refund of an amount takes back each category's in proportion to it.

    Both are cumulative, like the points: returning every unit of a line, or refunding the
    whole order, takes back exactly what the order added. (Mixing amount and item refunds
    on one order can leave a small remainder in a category; it only ranks categories.)
    """
    taken = (_returned_by_category(order, returned) if returned
             else _refunded_by_category(order, refunded_now))
    changes = {"spend_total": -refunded_now}
    changes.update({f"category_spend.{key}": -amount
                    for key, amount in taken.items() if amount})
    return changes


def _refunded_by_category(order: Mapping[str, Any], refunded_now: int) -> dict[str, int]:
    total, before = int(order["total"]), int(order["refunded_amount"])
    if total <= 0:
        return {}
    gross = _category_gross(
        (item.get("category"), int(item["quantity"]) * int(item["unit_price"]))
        for item in order["items"]
    )
    return {key: amount * (before + refunded_now) // total - amount * before // total
            for key, amount in gross.items()}


def _returned_by_category(
    order: Mapping[str, Any], returned: Sequence[tuple[str, int]]
) -> dict[str, int]:
    ordered: Counter[str] = Counter()
    gross: Counter[str] = Counter()
    category: dict[str, str | None] = {}
    for item in order["items"]:
        ordered[item["sku"]] += int(item["quantity"])
        gross[item["sku"]] += int(item["quantity"]) * int(item["unit_price"])
        category.setdefault(item["sku"], item.get("category"))
    before: Counter[str] = Counter()
    for item in order.get("refunded_items", ()):
        before[item["sku"]] += int(item["quantity"])
    now: Counter[str] = Counter()
    for sku, quantity in returned:
        now[sku] += quantity
    taken: Counter[str] = Counter()
    for sku, quantity in now.items():
        name = category.get(sku)
        if name and ordered[sku]:
            taken[category_key(name)] += (gross[sku] * (before[sku] + quantity) // ordered[sku]
                                          - gross[sku] * before[sku] // ordered[sku])
    return dict(taken)


# --- validation ----------------------------------------------------------------------------


def check_name(name: str, *, field: Path = ("input", "name")) -> str:
    normalized = name.strip().upper()
    if not _NAME.match(normalized):
        raise InvalidSegment("Use UPPER_SNAKE_CASE (2–40 letters, digits or _, starting with "
                             "a letter) for the segment's name.", field=field)
    return normalized


def validate_conditions(
    conditions: SegmentConditions, *, tier_ids: Collection[str],
    field: Path = ("input", "conditions"),
) -> SegmentConditions:
    """The conditions with their text trimmed; raises InvalidSegment, UnknownTier or
    InputErrors listing every problem."""
    errors: list[KizunaError] = []

    def fail(message: str, *path: str) -> None:
        errors.append(InvalidSegment(message, field=(*field, *path)))

    c = conditions
    for label, days in (("lastOrderWithinDays", c.last_order_within_days),
                        ("lapsedDays", c.lapsed_days)):
        if days is not None and not 1 <= days <= MAX_DAYS:
            fail(f"Give 1–{MAX_DAYS} days.", label)
    if (c.last_order_within_days is not None and c.lapsed_days is not None
            and c.lapsed_days >= c.last_order_within_days):
        fail("No member can have ordered within the last "
             f"{c.last_order_within_days} days and not for {c.lapsed_days}.", "lapsedDays")
    for label, minimum, most in (("frequency", c.frequency, MAX_ORDERS),
                                 ("monetary", c.monetary, MAX_SPEND)):
        if minimum is None:
            continue
        if not 1 <= minimum.minimum <= most:
            fail(f"Give a minimum of 1 to {most}.", label, "minimum")
        if not 1 <= minimum.months <= MAX_WINDOW_MONTHS:
            fail(f"Give a window of 1–{MAX_WINDOW_MONTHS} months.", label, "months")
    if c.birthday_month is not None and c.birthday_this_month:
        fail("Ask for a birthday month or for this month, not both.", "birthdayThisMonth")
    elif c.birthday_month is not None and not 1 <= c.birthday_month <= 12:
        fail("Months are 1 (January) to 12 (December).", "birthdayMonth")
    tiers = frozenset(t.strip() for t in c.tiers if t.strip())
    if len(tiers) > MAX_TIERS:
        fail(f"At most {MAX_TIERS} tiers.", "tiers")
    unknown = sorted(tiers - set(tier_ids))
    if unknown:
        errors.append(UnknownTier(f"No tier has the id {unknown[0]!r}.", field=(*field, "tiers")))
    category = c.favourite_category.strip() if c.favourite_category is not None else None
    if category is not None and not 1 <= len(category) <= MAX_CATEGORY:
        fail(f"Give a category of 1–{MAX_CATEGORY} characters.", "favouriteCategory")
    cleaned = replace(c, tiers=tiers, favourite_category=category)
    if not errors and not (cleaned.needs_orders or cleaned.needs_birthday):
        fail("Give at least one condition.")
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return cleaned


@dataclass(frozen=True, slots=True)
class SegmentDraft:
    """What an administrator writes, before validation."""

    name: str
    conditions: SegmentConditions
    description: str = ""


def validate_segment(
    draft: SegmentDraft, *, tier_ids: Collection[str]
) -> tuple[str, str, SegmentConditions]:
    """The draft's name (normalised), description (trimmed) and conditions (`tier_ids`: the
    programme's tiers); raises InvalidSegment, UnknownTier or InputErrors listing every
    problem."""
    errors: list[KizunaError] = []
    name = draft.name
    try:
        name = check_name(draft.name)
    except KizunaError as error:
        errors.append(error)
    description = check_description(draft.description, errors)
    conditions = draft.conditions
    try:
        conditions = validate_conditions(draft.conditions, tier_ids=tier_ids)
    except InputErrors as group:
        errors += group.errors
    except KizunaError as error:
        errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return name, description, conditions


def check_description(description: str, errors: list[KizunaError]) -> str:
    cleaned = description.strip()
    if len(cleaned) > MAX_DESCRIPTION:
        errors.append(InvalidSegment(f"Keep the description under {MAX_DESCRIPTION} characters.",
                                     field=("input", "description")))
    return cleaned
