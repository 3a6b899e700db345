"""GraphQL inputs of earning rules, and their conversion to the domain model."""

from datetime import datetime

import strawberry
from strawberry import relay

from loyalty.conditions import Conditions
from loyalty.earning.rules import model
from loyalty.earning.rules.store import DRAFT_ID
from schema.badge_types import badge_id, badge_ids
from schema.rule_types import EarningTriggerType, FormulaKindType, RoundingType, StackingType
from schema.shared import ChannelType, tier_ids


@strawberry.input(description="Conditions that must all hold; omitted or empty means any.")
class EarningConditionsInput:
    min_total: int | None = strawberry.field(
        default=None, description="Minimum order total, in minor units of `currency`."
    )
    currency: str | None = strawberry.field(
        default=None,
        description="ISO 4217 code; only orders in it qualify. Required with `minTotal` and "
        "PER_CURRENCY_UNIT.",
    )
    categories_include: list[str] = strawberry.field(
        default_factory=list, description="Only lines in these categories (or SKUs) earn."
    )
    categories_exclude: list[str] = strawberry.field(
        default_factory=list, description="Lines in these categories never earn."
    )
    skus_include: list[str] = strawberry.field(
        default_factory=list, description="Only these SKUs (or categories) earn."
    )
    skus_exclude: list[str] = strawberry.field(
        default_factory=list, description="These SKUs never earn."
    )
    channels: list[ChannelType] = strawberry.field(
        default_factory=list, description="Where the order was placed."
    )
    tiers: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Members of one of these tiers (ids from `tiers`)."
    )
    segments: list[str] = strawberry.field(
        default_factory=list, description="Members in any of these segments."
    )
    first_order_only: bool = strawberry.field(
        default=False, description="Only a member's first order."
    )
    starts_at: datetime | None = strawberry.field(
        default=None, description="From this moment (inclusive), with its UTC offset."
    )
    ends_at: datetime | None = strawberry.field(
        default=None, description="Until this moment (exclusive), with its UTC offset."
    )
    weekdays: list[int] = strawberry.field(
        default_factory=list,
        description="ISO weekdays (1 = Monday … 7 = Sunday) in the programme's time zone.",
    )
    badge_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Members holding all of these badges."
    )


@strawberry.input(description="How many points the rule gives.")
class EarningFormulaInput:
    kind: FormulaKindType = strawberry.field(description="Which formula.")
    points: int = strawberry.field(
        default=0, description="For FIXED: the points; for PER_CURRENCY_UNIT: per amount."
    )
    per_amount_minor: int = strawberry.field(
        default=0, description="For PER_CURRENCY_UNIT: minor units that earn `points` (100)."
    )
    factor: float = strawberry.field(
        default=1.0, description="For MULTIPLIER: above 1, at most 10 (2.0 = double points)."
    )
    rounding: RoundingType = strawberry.field(
        default=RoundingType.DOWN, description="How fractional points are rounded."
    )


@strawberry.input(description="Caps on the points the rule gives; omitted means no cap.")
class EarningLimitsInput:
    per_member_per_day: int | None = strawberry.field(
        default=None, description="Per member per day (programme's time zone)."
    )
    per_member_per_month: int | None = strawberry.field(
        default=None, description="Per member per calendar month."
    )
    per_member_lifetime: int | None = strawberry.field(
        default=None, description="Per member, ever."
    )
    budget: int | None = strawberry.field(
        default=None, description="Total points the rule may ever give, across all members."
    )


@strawberry.input(description="An earning rule or campaign.")
class EarningRuleInput:
    name: str = strawberry.field(description="Short name, shown with the points it gives.")
    description: str = strawberry.field(
        default="", description="How a member would say it: 'Double points this weekend'."
    )
    trigger: EarningTriggerType = strawberry.field(description="What it rewards.")
    action_type: str | None = strawberry.field(
        default=None, description="For ACTION rules: the action type, e.g. REVIEW."
    )
    conditions: EarningConditionsInput | None = strawberry.field(
        default=None, description="When it applies (always, if omitted)."
    )
    formula: EarningFormulaInput = strawberry.field(description="How many points it gives.")
    limits: EarningLimitsInput | None = strawberry.field(
        default=None, description="Caps and budget (none, if omitted)."
    )
    priority: int = strawberry.field(
        default=0, description="Higher is evaluated first (-1000 to 1000)."
    )
    stacking: StackingType = strawberry.field(
        default=StackingType.STACK, description="Whether it combines with other rules."
    )
    grants_badge_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A badge the member earns (once) when the rule gives them "
        "points on an order or action."
    )


@strawberry.input(description="The rule to change and all its new fields (they replace the "
                  "old ones).")
class EarningRuleUpdateInput(EarningRuleInput):
    rule: relay.GlobalID = strawberry.field(description="The rule's id.")


@strawberry.input(description="The rule to archive.")
class EarningRuleArchiveInput:
    rule: relay.GlobalID = strawberry.field(description="The rule's id.")


@strawberry.input(description="The archived rule to make active again.")
class EarningRuleActivateInput:
    rule: relay.GlobalID = strawberry.field(description="The rule's id.")


@strawberry.input(description="A rule change to try on a past period: exactly one of `rule` "
                  "(a new rule), `edit` (an active rule changed) or `archive` (an active rule "
                  "left out), and the period.")
class RuleSimulateInput:
    rule: EarningRuleInput | None = strawberry.field(
        default=None, description="A new draft rule (not stored), tried next to the rules in "
        "force."
    )
    edit: EarningRuleUpdateInput | None = strawberry.field(
        default=None, description="An active rule's id and all its new fields, as "
        "earningRuleUpdate takes them: the edited version is tried in its place."
    )
    archive: EarningRuleArchiveInput | None = strawberry.field(
        default=None, description="An active rule, as earningRuleArchive takes it: the "
        "period is replayed without it."
    )
    from_: datetime = strawberry.field(
        name="from", description="Start of the period (inclusive), with its UTC offset."
    )
    to: datetime = strawberry.field(
        description="End of the period (exclusive); at most 400 days after `from`."
    )


def to_model(rule: EarningRuleInput) -> model.EarningRule:
    """The draft rule the input describes (not validated: the use case does that)."""
    c = rule.conditions or EarningConditionsInput()
    f = rule.formula
    lim = rule.limits or EarningLimitsInput()
    return model.EarningRule(
        id=DRAFT_ID, name=rule.name, description=rule.description,
        trigger=model.TriggerKind(rule.trigger.name), action_type=rule.action_type,
        conditions=Conditions(
            min_total=c.min_total, currency=c.currency,
            categories_include=frozenset(c.categories_include),
            categories_exclude=frozenset(c.categories_exclude),
            skus_include=frozenset(c.skus_include), skus_exclude=frozenset(c.skus_exclude),
            channels=frozenset(ch.name for ch in c.channels),
            tiers=tier_ids(c.tiers, ("input", "conditions", "tiers")),
            segments=frozenset(c.segments), first_order_only=c.first_order_only,
            starts_at=c.starts_at, ends_at=c.ends_at, weekdays=frozenset(c.weekdays),
            badges=badge_ids(c.badge_ids, ("input", "conditions", "badgeIds")),
        ),
        grants_badge=badge_id(rule.grants_badge_id, ("input", "grantsBadgeId"))
        if rule.grants_badge_id is not None else None,
        formula=model.Formula(
            kind=model.FormulaKind(f.kind.name), points=f.points,
            per_amount_minor=f.per_amount_minor, factor=f.factor,
            rounding=model.Rounding(f.rounding.name),
        ),
        limits=model.Limits(
            per_member_per_day=lim.per_member_per_day,
            per_member_per_month=lim.per_member_per_month,
            per_member_lifetime=lim.per_member_lifetime, budget=lim.budget,
        ),
        priority=rule.priority, stacking=model.Stacking(rule.stacking.name),
    )
