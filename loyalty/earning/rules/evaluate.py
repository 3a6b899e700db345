"""Earning-rule evaluation: which rules give how many points for one event (pure policy).

Semantics, in order:
1. Selection. Active rules are taken by descending priority (ties by id, so the result never
   depends on the order rules are given in). A rule *applies* when its trigger matches the
   event, every condition holds, none of its limits is already used up, and — unless it is
   a multiplier, whose points depend on the others — its formula gives at least one point.
   An EXCLUSIVE rule that applies stops every rule after it. (A rule that could give
   nothing must not block the rules below it: an exhausted campaign budget would otherwise
   silently switch off the base rule.)
2. Points. Non-multiplier rules first: PER_CURRENCY_UNIT on the eligible amount, FIXED as
   is. Their awards, after limits, are the *base*. Each MULTIPLIER adds base × (factor − 1),
   so factor 2 doubles the points and two campaigns each add on the same base instead of
   compounding.
3. Limits. Each award is cut to what the rule's day, month, lifetime and budget limits
   leave; `capped` says it was cut. Awards of zero points are omitted.

Eligible lines: with no product filter the eligible amount is the order total. With any
include or exclude filter it is the sum of quantity × unit price of the eligible lines: a
line is eligible when it matches an include list if there is one (its category is in the
included categories *or* its SKU in the included SKUs) and matches no exclude list. A
filtered rule whose order has no eligible line does not apply.
"""

from collections.abc import Mapping, Sequence
from fractions import Fraction
from zoneinfo import ZoneInfo

from loyalty.conditions import (
    Action,
    MemberFacts,
    Purchase,
    eligible_amount,
    has_order_conditions,
    member_conditions_hold,
    order_conditions_hold,
    time_conditions_hold,
)
from loyalty.earning.rules.model import (
    EarningRule,
    Evaluation,
    FormulaKind,
    Limits,
    Rounding,
    RuleUsage,
    Stacking,
    TriggerKind,
)
from loyalty.ledger.entries import RuleAward
from loyalty.programme.tier_rules import Tier

type Event = Purchase | Action


def evaluate(
    rules: Sequence[EarningRule],
    event: Event,
    member: MemberFacts,
    usage: Mapping[str, RuleUsage],
    *,
    timezone: ZoneInfo,
) -> Evaluation:
    """The awards `rules` give for `event`, within their limits given `usage` (points the
    rules already gave before this event; a missing rule id means nothing yet).

    Deterministic and order-independent; never negative; never above a limit. Weekday
    conditions are read in `timezone` (the programme's).
    """
    selected = _select(rules, event, member, usage, timezone)
    awards: dict[str, RuleAward] = {}
    base = 0
    for rule in selected:
        if rule.formula.kind is not FormulaKind.MULTIPLIER:
            award = _capped(rule, _raw_points(rule, event), usage.get(rule.id))
            awards[rule.id] = award
            base += award.points
    for rule in selected:
        if rule.formula.kind is FormulaKind.MULTIPLIER:
            extra = _round(base * (_exact(rule.formula.factor) - 1), rule.formula.rounding)
            awards[rule.id] = _capped(rule, extra, usage.get(rule.id))
    return Evaluation(
        awards=tuple(awards[r.id] for r in selected if awards[r.id].points > 0)
    )


def _select(
    rules: Sequence[EarningRule],
    event: Event,
    member: MemberFacts,
    usage: Mapping[str, RuleUsage],
    timezone: ZoneInfo,
) -> list[EarningRule]:
    ordered = sorted(
        (rule for rule in rules if rule.active), key=lambda rule: (-rule.priority, rule.id)
    )
    selected: list[EarningRule] = []
    seen: set[str] = set()
    for rule in ordered:
        if rule.id in seen or not applies(rule, event, member, timezone):
            continue
        if _remaining(rule.limits, usage.get(rule.id) or RuleUsage()) == 0:
            continue
        if rule.formula.kind is not FormulaKind.MULTIPLIER and _raw_points(rule, event) <= 0:
            continue
        seen.add(rule.id)
        selected.append(rule)
        if rule.stacking is Stacking.EXCLUSIVE:
            break
    return selected


def applies(rule: EarningRule, event: Event, member: MemberFacts, timezone: ZoneInfo) -> bool:
    """Whether the rule's trigger and every condition hold for this event and member."""
    if isinstance(event, Purchase):
        if rule.trigger is not TriggerKind.ORDER or not order_conditions_hold(
            rule.conditions, event, member
        ):
            return False
    elif rule.trigger is not TriggerKind.ACTION or rule.action_type != event.type:
        return False
    elif has_order_conditions(rule.conditions):
        return False  # an action has no total, lines or channel to satisfy them
    return member_conditions_hold(rule.conditions, member) and time_conditions_hold(
        rule.conditions, event.occurred_at, timezone
    )


def _raw_points(rule: EarningRule, event: Event) -> int:
    """Points of a non-multiplier formula before limits (0 when it cannot apply)."""
    formula = rule.formula
    if formula.kind is FormulaKind.FIXED:
        return max(formula.points, 0)
    if formula.kind is FormulaKind.PER_CURRENCY_UNIT:
        if not isinstance(event, Purchase) or formula.per_amount_minor <= 0:
            return 0
        amount = eligible_amount(rule.conditions, event) or 0
        return _round(
            Fraction(amount * max(formula.points, 0), formula.per_amount_minor),
            formula.rounding,
        )
    return 0


def _exact(factor: float) -> Fraction:
    # The decimal the admin typed (1.1), not the binary float nearest to it
    # (1.100000000000000088…), so that rounding UP never adds a phantom point.
    return Fraction(repr(factor))


def _round(value: Fraction, rounding: Rounding) -> int:
    if value <= 0:
        return 0
    if rounding is Rounding.UP:
        return -(-value.numerator // value.denominator)
    if rounding is Rounding.NEAREST:
        return (2 * value.numerator + value.denominator) // (2 * value.denominator)
    return value.numerator // value.denominator


def _remaining(limits: Limits, usage: RuleUsage) -> int | None:
    """What the rule's limits still allow (never below 0), or None when it has none."""
    left = [
        limit - used
        for limit, used in (
            (limits.per_member_per_day, usage.member_today),
            (limits.per_member_per_month, usage.member_this_month),
            (limits.per_member_lifetime, usage.member_lifetime),
            (limits.budget, usage.budget_spent),
        )
        if limit is not None
    ]
    return max(min(left), 0) if left else None


def _capped(rule: EarningRule, points: int, usage: RuleUsage | None) -> RuleAward:
    points = max(points, 0)
    remaining = _remaining(rule.limits, usage or RuleUsage())
    if remaining is not None and points > remaining:
        return RuleAward(rule_id=rule.id, rule_name=rule.name, points=remaining, capped=True)
    return RuleAward(rule_id=rule.id, rule_name=rule.name, points=points)


def with_tier_bonus(evaluation: Evaluation, tier: Tier | None) -> Evaluation:
    """The tier's earn multiplier, as one more line of the breakdown."""
    if tier is None or tier.earn_multiplier <= 1.0 or evaluation.points <= 0:
        return evaluation
    extra = int(evaluation.points * (tier.earn_multiplier - 1.0))
    if extra <= 0:
        return evaluation
    award = RuleAward(f"tier:{tier.id}", f"{tier.name} tier ×{tier.earn_multiplier:g}", extra)
    return Evaluation((*evaluation.awards, award))
