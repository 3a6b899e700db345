"""Validation of an earning rule an administrator submits (pure).

Field paths are those of the GraphQL input (camelCase) under a caller-given prefix, so a
payload error points at the exact input to fix.
"""

import math
import re
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from loyalty.conditions import Conditions
from loyalty.earning.rules.model import (
    EarningRule,
    Formula,
    FormulaKind,
    Limits,
    Stacking,
    TriggerKind,
)
from loyalty.errors import InvalidRule
from loyalty.money import check_currency
from loyalty.programme.ladder import UnknownTier
from loyalty.segments.policy import UnknownSegment
from store.errors import InputErrors, KizunaError

type Path = tuple[str, ...]

_ACTION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")
MAX_NAME = 80
MAX_DESCRIPTION = 500
MAX_POINTS = 1_000_000
MAX_PER_AMOUNT = 1_000_000_000
MAX_FACTOR = 10.0
MAX_PRIORITY = 1000
MAX_FILTER_VALUES = 200
# Campaign windows stay within dates every time zone can represent.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def validate_rule(
    rule: EarningRule,
    *,
    field: Path = ("input",),
    tiers: Collection[str] | None = None,
    segments: Collection[str] | None = None,
) -> EarningRule:
    """The rule with its text trimmed and its codes normalised (upper-case currency, action
    type and segment names); raises InvalidRule, UnknownCurrency, UnknownTier,
    UnknownSegment or InputErrors listing every problem.

    `tiers` (tier ids) and `segments` (segment names) are those that exist: a condition on
    any other would silently never hold. None skips that check (a dry run).
    """
    errors: list[KizunaError] = []

    def fail(message: str, *path: str) -> None:
        errors.append(InvalidRule(message, field=(*field, *path)))

    name = rule.name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        fail(f"Give the rule a name of 1–{MAX_NAME} characters.", "name")
    description = rule.description.strip()
    if len(description) > MAX_DESCRIPTION:
        fail(f"Keep the description under {MAX_DESCRIPTION} characters.", "description")
    action_type = _check_trigger(rule, fail)
    if not -MAX_PRIORITY <= rule.priority <= MAX_PRIORITY:
        fail(f"Priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}.", "priority")
    conditions = _check_conditions(rule, fail, errors, field)
    _check_references(conditions, tiers, segments, errors, field)
    _check_formula(rule.formula, rule.trigger, conditions, fail)
    if rule.formula.kind is FormulaKind.MULTIPLIER and rule.stacking is Stacking.EXCLUSIVE:
        fail("A multiplier multiplies the other rules' points; it cannot be exclusive.",
             "stacking")
    _check_limits(rule.limits, fail)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return replace(
        rule, name=name, description=description, action_type=action_type,
        conditions=conditions,
    )


class _Fail(Protocol):
    def __call__(self, message: str, *path: str) -> None: ...


def _check_trigger(rule: EarningRule, fail: _Fail) -> str | None:
    if rule.trigger is TriggerKind.ORDER:
        if rule.action_type is not None:
            fail("Only action rules have an action type.", "actionType")
        return None
    normalized = (rule.action_type or "").strip().upper()
    if not normalized:
        fail("An action rule needs the action type it rewards (e.g. REVIEW).", "actionType")
    elif not _ACTION_TYPE.match(normalized):
        fail("Use UPPER_SNAKE_CASE (2–40 characters) for the action type.", "actionType")
    return normalized or None


def _check_conditions(
    rule: EarningRule, fail: _Fail, errors: list[KizunaError], field: Path
) -> Conditions:
    c = rule.conditions
    where = "conditions"
    currency = c.currency
    if currency is not None:
        try:
            currency = check_currency(currency, field=(*field, where, "currency"))
        except KizunaError as error:
            errors.append(error)
    if c.min_total is not None:
        if c.min_total < 0:
            fail("The minimum total cannot be negative.", where, "minTotal")
        if c.currency is None:
            fail("Say which currency the minimum total is in.", where, "currency")
    for label, value in (("startsAt", c.starts_at), ("endsAt", c.ends_at)):
        if value is not None and value.tzinfo is None:
            fail("Give the time with its UTC offset.", where, label)
        elif value is not None and not EARLIEST <= value < LATEST:
            fail("Give a date between the years 2000 and 2199.", where, label)
    if _aware(c.starts_at) and _aware(c.ends_at) and not _before(c.starts_at, c.ends_at):
        fail("The end must come after the start.", where, "endsAt")
    if any(not 1 <= day <= 7 for day in c.weekdays):
        fail("Weekdays are 1 (Monday) to 7 (Sunday).", where, "weekdays")
    if rule.trigger is TriggerKind.ACTION:
        for label, present in (
            ("minTotal", c.min_total is not None), ("currency", c.currency is not None),
            ("categoriesInclude", bool(c.categories_include)),
            ("categoriesExclude", bool(c.categories_exclude)),
            ("skusInclude", bool(c.skus_include)), ("skusExclude", bool(c.skus_exclude)),
            ("channels", bool(c.channels)), ("firstOrderOnly", c.first_order_only),
        ):
            if present:
                fail("Order conditions do not apply to action rules.", where, label)
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
    return replace(
        c, currency=currency,
        categories_include=cleaned["categoriesInclude"],
        categories_exclude=cleaned["categoriesExclude"],
        skus_include=cleaned["skusInclude"], skus_exclude=cleaned["skusExclude"],
        tiers=cleaned["tiers"], segments=cleaned["segments"],
    )


def _check_references(
    conditions: Conditions, tiers: Collection[str] | None, segments: Collection[str] | None,
    errors: list[KizunaError], field: Path,
) -> None:
    unknown_tiers = sorted(conditions.tiers - set(tiers)) if tiers is not None else []
    if unknown_tiers:
        errors.append(UnknownTier(f"No tier has the id {unknown_tiers[0]!r}.",
                                  field=(*field, "conditions", "tiers")))
    unknown = sorted(conditions.segments - set(segments)) if segments is not None else []
    if unknown:
        errors.append(UnknownSegment(f"No segment is named {unknown[0]!r}.",
                                     field=(*field, "conditions", "segments")))


def _aware(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None


def _before(start: datetime | None, end: datetime | None) -> bool:
    return start is None or end is None or start < end


def _check_formula(
    formula: Formula, trigger: TriggerKind, conditions: Conditions, fail: _Fail
) -> None:
    where = "formula"
    if not 0 <= formula.points <= MAX_POINTS:
        fail(f"Points must be between 0 and {MAX_POINTS}.", where, "points")
    if formula.kind is FormulaKind.FIXED and formula.points <= 0:
        fail("A fixed award needs a positive number of points.", where, "points")
    elif formula.kind is FormulaKind.PER_CURRENCY_UNIT:
        if trigger is TriggerKind.ACTION:
            fail("An action has no amount to earn on; use FIXED.", where, "kind")
            return
        if formula.points <= 0:
            fail("Give the points earned per amount spent.", where, "points")
        if not 0 < formula.per_amount_minor <= MAX_PER_AMOUNT:
            fail("The amount that earns the points must be positive (100 = per €1).",
                 where, "perAmountMinor")
        if conditions.currency is None:
            fail("Say which currency the amount is in.", "conditions", "currency")
    elif formula.kind is FormulaKind.MULTIPLIER and not (
        math.isfinite(formula.factor) and 1 < formula.factor <= MAX_FACTOR
    ):
        fail(f"A multiplier must be above 1 and at most {MAX_FACTOR:g}.", where, "factor")


def _check_limits(limits: Limits, fail: _Fail) -> None:
    for label, value in (
        ("perMemberPerDay", limits.per_member_per_day),
        ("perMemberPerMonth", limits.per_member_per_month),
        ("perMemberLifetime", limits.per_member_lifetime),
        ("budget", limits.budget),
    ):
        if value is not None and value < 0:
            fail("Limits cannot be negative.", "limits", label)
