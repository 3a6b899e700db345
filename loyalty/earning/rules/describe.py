"""How a member would read an earning rule: one line of plain text (pure).

"Earn 1 point per €1 spent", "Earn 50 points for a review", "Double points on orders from
Sat 29 Nov 2025 to Sun 30 Nov 2025 (Europe/Paris time)", "Earn 5 points per €1 on shoes (up to
500 points a month)", "Earn 2 points per €1 spent for Gold members in VIP".
"""

from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from loyalty import member_dates
from loyalty.badges.policy import describe_badges
from loyalty.conditions import Conditions
from loyalty.earning.rules.model import EarningRule, FormulaKind, Limits, TriggerKind
from loyalty.money import MINOR_UNITS, minor_per_unit

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
_MULTIPLES = {2.0: "Double", 3.0: "Triple", 4.0: "Quadruple"}
_ACTIONS = {
    "REVIEW": "a review",
    "SURVEY": "a survey",
    "NEWSLETTER_SIGNUP": "signing up to the newsletter",
    "SOCIAL_SHARE": "sharing on social media",
    "EVENT_VISIT": "visiting an event",
    "PROFILE_COMPLETED": "completing your profile",
    "REFERRAL": "referring a friend",
}
_WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays",
             "Sundays")
_CHANNELS = {"ONLINE": "online", "STORE": "in store"}


def describe_rule(
    rule: EarningRule, *, timezone: ZoneInfo, tier_names: Mapping[str, str] | None = None,
    badge_names: Mapping[str, str] | None = None,
) -> str:
    """One sentence saying what earns how much, when and within which limits; dates and
    weekdays are in `timezone` (the programme's, named after the dates: see
    loyalty/member_dates.py), tiers by their names in `tier_names` (tier id → name; an id
    without a name is shown as it is), badges likewise by `badge_names`."""
    parts = [_award(rule), _what(rule), *_qualifiers(rule.conditions, timezone, tier_names or {})]
    parts += _badges(rule, badge_names or {})
    text = " ".join(part for part in parts if part)
    limits = _limits(rule.limits)
    return f"{text} ({limits})" if limits else text


def _badges(rule: EarningRule, names: Mapping[str, str]) -> list[str]:
    """"if you hold the Explorer badge", "and unlock the Regular badge"."""
    parts: list[str] = []
    if rule.conditions.badges:
        held = sorted(names.get(b, b) for b in rule.conditions.badges)
        parts.append(f"if you {describe_badges(held)}")
    if rule.grants_badge is not None:
        parts.append(f"and unlock the {names.get(rule.grants_badge, rule.grants_badge)} badge")
    return parts


def points(count: int) -> str:
    return f"{count:,} point" if count == 1 else f"{count:,} points"


def money(amount_minor: int, currency: str) -> str:
    """€1, €2.50, ¥100, CHF 1,000 — whole amounts without decimals."""
    per_unit = minor_per_unit(currency) if currency in MINOR_UNITS else 1
    whole, cents = divmod(amount_minor, per_unit)
    digits = MINOR_UNITS.get(currency, 0)
    number = f"{whole:,}" if cents == 0 else f"{amount_minor / per_unit:,.{digits}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{currency} {number}"


def _award(rule: EarningRule) -> str:
    formula = rule.formula
    currency = rule.conditions.currency or ""
    if formula.kind is FormulaKind.MULTIPLIER:
        return f"{_MULTIPLES.get(formula.factor, f'{formula.factor:g}×')} points"
    if formula.kind is FormulaKind.FIXED:
        return f"Earn {points(formula.points)}"
    return f"Earn {points(formula.points)} per {money(formula.per_amount_minor, currency)}"


def _what(rule: EarningRule) -> str:
    """What the points are for: spending, an order, some products, an action."""
    c = rule.conditions
    if rule.trigger is TriggerKind.ACTION:
        action = rule.action_type or ""
        return f"for {_ACTIONS.get(action, action.replace('_', ' ').lower())}"
    items = _products(c)
    noun = "your first order" if c.first_order_only else "orders"
    if c.min_total is not None and c.currency is not None:
        noun = f"{noun} of {money(c.min_total, c.currency)} or more"
    qualified = c.first_order_only or c.min_total is not None
    kind = rule.formula.kind
    if kind is FormulaKind.PER_CURRENCY_UNIT or (kind is FormulaKind.MULTIPLIER and items):
        head = f"on {items}" if items else "spent"
        return f"{head} {'in' if items else 'on'} {noun}" if qualified else head
    if kind is FormulaKind.FIXED and not qualified and not items:
        noun = "every order"
    return f"on {noun} with {items}" if items else f"on {noun}"


def _products(c: Conditions) -> str | None:
    """The eligible products in words, or None without a product filter."""
    if not (c.categories_include or c.skus_include or c.categories_exclude or c.skus_exclude):
        return None
    included = sorted(c.categories_include)
    if c.skus_include:
        included.append("selected products")
    text = _join(included, "and") if included else "everything"
    excluded = sorted(c.categories_exclude)
    if c.skus_exclude:
        excluded.append("some products")
    return f"{text} except {_join(excluded, 'and')}" if excluded else text


def _qualifiers(c: Conditions, timezone: ZoneInfo, tier_names: Mapping[str, str]) -> list[str]:
    parts: list[str] = []
    if c.channels and set(c.channels) != set(_CHANNELS):
        parts.append(_join(sorted(_CHANNELS.get(ch, ch.lower()) for ch in c.channels), "or"))
    if c.tiers or c.segments:
        parts.append(_audience(c, tier_names))
    if c.weekdays and len(c.weekdays) < 7:
        days = sorted(c.weekdays)
        named = "at weekends" if days == [6, 7] else (
            f"on {_join([_WEEKDAYS[d - 1] for d in days], 'and')}"
        )
        parts.append(named)
    window = member_dates.window(c.starts_at, c.ends_at, timezone)
    if window:
        parts.append(window)
    return parts


def _audience(c: Conditions, tier_names: Mapping[str, str]) -> str:
    """"for Gold or Silver members", "for members in VIP", "for Gold members in VIP"."""
    tiers = _join(sorted(tier_names.get(t, t) for t in c.tiers), "or")
    members = f"{tiers} members" if tiers else "members"
    segments = _join(sorted(c.segments), "or")
    return f"for {members} in {segments}" if segments else f"for {members}"


def _limits(limits: Limits) -> str:
    caps = [
        (limit, period)
        for limit, period in (
            (limits.per_member_per_day, "a day"), (limits.per_member_per_month, "a month"),
            (limits.per_member_lifetime, "in total"),
        )
        if limit is not None
    ]
    parts: list[str] = []
    if caps:
        first_limit, first_period = caps[0]
        rest = [f"{limit:,} {period}" for limit, period in caps[1:]]
        parts.append(_join([f"up to {points(first_limit)} {first_period}", *rest], "and"))
    if limits.budget is not None:
        parts.append("while the campaign budget lasts")
    return ", ".join(parts)


def _join(items: Iterable[str], word: str) -> str:
    values = list(items)
    if len(values) <= 1:
        return "".join(values)
    return f"{', '.join(values[:-1])} {word} {values[-1]}"
