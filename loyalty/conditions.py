"""Conditions on an order, an action and the member, and the events and facts they are
checked against (pure data and policy, shared by earning rules and challenges).

Eligible lines: with no product filter the eligible amount is the order total. With any
include or exclude filter it is the sum of quantity × unit price of the eligible lines: a
line is eligible when it matches an include list if there is one (its category is in the
included categories *or* its SKU in the included SKUs) and matches no exclude list.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from loyalty.purchases import Channel, OrderLine


@dataclass(frozen=True, slots=True)
class Conditions:
    """All must hold for the rule to apply. Empty collections mean "any"."""

    min_total: int | None = None
    """Minimum order total in minor units of `currency`."""
    currency: str | None = None
    """The currency this rule applies to (orders in other currencies do not qualify)."""
    categories_include: frozenset[str] = frozenset()
    categories_exclude: frozenset[str] = frozenset()
    skus_include: frozenset[str] = frozenset()
    skus_exclude: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    first_order_only: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: frozenset[int] = frozenset()
    """ISO weekdays (1 = Monday … 7 = Sunday) in the programme's time zone."""
    badges: frozenset[str] = frozenset()
    """Badge ids the member must all hold (see loyalty/badges)."""


@dataclass(frozen=True, slots=True)
class Purchase:
    """An order as the rules see it."""

    order_id: str
    channel: Channel
    total: int
    currency: str
    lines: tuple[OrderLine, ...]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Action:
    """A non-purchase action as the rules see it."""

    type: str
    reference: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What rule conditions may ask about the member, as of the event."""

    member_id: str
    tier: str | None = None
    segments: frozenset[str] = frozenset()
    is_first_order: bool = False
    badges: frozenset[str] = frozenset()
    """The ids of the badges the member holds (MemberState.badges)."""


def eligible_amount(conditions: Conditions, purchase: Purchase) -> int | None:
    """The amount (minor units) the rule earns on, or None when no line is eligible."""
    if not has_product_filter(conditions):
        return max(purchase.total, 0)
    lines = [line for line in purchase.lines if _eligible(conditions, line)]
    if not lines:
        return None
    gross = sum(max(line.quantity, 0) * max(line.unit_price, 0) for line in purchase.lines)
    eligible = sum(max(line.quantity, 0) * max(line.unit_price, 0) for line in lines)
    # Discounts and shipping are shared pro rata: a product rule never earns on more money
    # than the order's total, whatever the lines claim.
    return eligible * max(purchase.total, 0) // gross if gross else 0


def order_conditions_hold(conditions: Conditions, purchase: Purchase, member: MemberFacts) -> bool:
    """Whether the order-level conditions (currency, minimum total, channels, first order,
    eligible lines) hold for `purchase`."""
    if conditions.currency is not None and conditions.currency != purchase.currency:
        return False
    if conditions.min_total is not None and purchase.total < conditions.min_total:
        return False
    if conditions.channels and purchase.channel.value not in conditions.channels:
        return False
    if conditions.first_order_only and not member.is_first_order:
        return False
    return eligible_amount(conditions, purchase) is not None


def member_conditions_hold(conditions: Conditions, member: MemberFacts) -> bool:
    if conditions.tiers and member.tier not in conditions.tiers:
        return False
    if not conditions.badges <= member.badges:
        return False
    return not conditions.segments or bool(conditions.segments & member.segments)


def time_conditions_hold(conditions: Conditions, occurred_at: datetime, timezone: ZoneInfo) -> bool:
    if conditions.starts_at is not None and occurred_at < conditions.starts_at:
        return False
    if conditions.ends_at is not None and occurred_at >= conditions.ends_at:
        return False
    return (
        not conditions.weekdays
        or occurred_at.astimezone(timezone).isoweekday() in conditions.weekdays
    )


def has_product_filter(conditions: Conditions) -> bool:
    return bool(
        conditions.categories_include or conditions.categories_exclude
        or conditions.skus_include or conditions.skus_exclude
    )


def has_order_conditions(conditions: Conditions) -> bool:
    return (
        has_product_filter(conditions) or conditions.min_total is not None
        or conditions.currency is not None or bool(conditions.channels)
        or conditions.first_order_only
    )


def line_eligible(conditions: Conditions, line: OrderLine) -> bool:
    """Whether the order line counts under the conditions' product filters."""
    return _eligible(conditions, line)


def _eligible(conditions: Conditions, line: OrderLine) -> bool:
    if conditions.categories_include or conditions.skus_include:
        included = (
            line.category is not None and line.category in conditions.categories_include
        ) or line.sku in conditions.skus_include
        if not included:
            return False
    if line.category is not None and line.category in conditions.categories_exclude:
        return False
    return line.sku not in conditions.skus_exclude
