"""The shape of earning rules and of what they are evaluated against (pure data)."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from loyalty.conditions import Conditions
from loyalty.ledger.entries import RuleAward


class TriggerKind(StrEnum):
    ORDER = "ORDER"
    ACTION = "ACTION"


class FormulaKind(StrEnum):
    PER_CURRENCY_UNIT = "PER_CURRENCY_UNIT"
    """`points` per whole major currency unit of the eligible amount (1 point per €1)."""
    FIXED = "FIXED"
    """`points` once per qualifying order or action."""
    MULTIPLIER = "MULTIPLIER"
    """`factor` times the base points of the same event (2.0 = double points)."""


class Rounding(StrEnum):
    DOWN = "DOWN"
    NEAREST = "NEAREST"
    UP = "UP"


class Stacking(StrEnum):
    STACK = "STACK"
    """Applies together with other rules."""
    EXCLUSIVE = "EXCLUSIVE"
    """When it applies, rules of lower priority do not."""


@dataclass(frozen=True, slots=True)
class Formula:
    kind: FormulaKind
    points: int = 0
    per_amount_minor: int = 0
    """For PER_CURRENCY_UNIT: the amount (minor units) that earns `points` (100 = per €1)."""
    factor: float = 1.0
    rounding: Rounding = Rounding.DOWN


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on the points this rule gives; None means no cap."""

    per_member_per_day: int | None = None
    per_member_per_month: int | None = None
    per_member_lifetime: int | None = None
    budget: int | None = None
    """Total points the rule may ever give, across all members."""


@dataclass(frozen=True, slots=True)
class EarningRule:
    id: str
    name: str
    description: str
    """How a member would say it: 'Double points this weekend'."""
    trigger: TriggerKind
    action_type: str | None
    """For ACTION rules: which action type (REVIEW, SURVEY, … or a custom one)."""
    conditions: Conditions
    formula: Formula
    limits: Limits
    priority: int = 0
    stacking: Stacking = Stacking.STACK
    active: bool = True
    created_at: datetime | None = None
    budget_used_up: bool = False
    """Its budget is spent: it gives nothing more, and is no longer offered, until the
    budget is raised."""
    grants_badge: str | None = None
    """A badge id the member earns (once) when the rule gives points on an order or action
    (loyalty/earning/rules/badges.py)."""


@dataclass(frozen=True, slots=True)
class RuleUsage:
    """Points a rule already gave, within each limit's period, before this event."""

    member_today: int = 0
    member_this_month: int = 0
    member_lifetime: int = 0
    budget_spent: int = 0


@dataclass(frozen=True, slots=True)
class Evaluation:
    awards: tuple[RuleAward, ...] = field(default_factory=tuple)

    @property
    def points(self) -> int:
        return sum(award.points for award in self.awards)


def segments_named(rules: Iterable[EarningRule]) -> frozenset[str]:
    """The segments any of `rules` asks the member to be in."""
    return frozenset(name for rule in rules for name in rule.conditions.segments)
