"""GraphQL shapes of earning rules: enums, the EarningRule node and its parts."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Self
from zoneinfo import ZoneInfo

import strawberry
from strawberry import Info, relay

from loyalty.badges.catalogue import catalogue as badge_catalogue
from loyalty.conditions import Conditions
from loyalty.earning.rules import model
from loyalty.earning.rules.describe import describe_rule
from loyalty.earning.rules.store import get_rules
from loyalty.earning.rules.usage import budgets_spent
from loyalty.programme.settings import load_programme
from schema.badge_types import badge_global_ids
from schema.context import Context
from schema.permissions import is_admin
from schema.shared import ChannelType, tier_global_ids
from store import Store


async def programme_timezone(store: Store) -> ZoneInfo:
    """The time zone that calendar conditions and rule texts use: the programme's."""
    return (await load_programme(store)).timezone


async def programme_wording(store: Store) -> tuple[ZoneInfo, dict[str, str]]:
    """The time zone and the tier names (by tier id) that rule texts use: the programme's."""
    programme = await load_programme(store)
    return programme.timezone, {tier.id: tier.name for tier in programme.tiers}


async def badge_wording(store: Store) -> dict[str, str]:
    """The badge names (by badge id) that rule texts use, from the cached catalogue."""
    return {badge.id: badge.draft.name for badge in await badge_catalogue(store)}


@strawberry.enum(name="EarningTrigger", description="What kind of event a rule rewards.")
class EarningTriggerType(Enum):
    ORDER = strawberry.enum_value(model.TriggerKind.ORDER.value, description="A paid order.")
    ACTION = strawberry.enum_value(
        model.TriggerKind.ACTION.value,
        description="A non-purchase action of the rule's `actionType` (review, survey, …).",
    )


@strawberry.enum(name="FormulaKind", description="How a rule computes its points.")
class FormulaKindType(Enum):
    PER_CURRENCY_UNIT = strawberry.enum_value(
        model.FormulaKind.PER_CURRENCY_UNIT.value,
        description="`points` per `perAmountMinor` of the eligible amount (1 point per €1).",
    )
    FIXED = strawberry.enum_value(
        model.FormulaKind.FIXED.value, description="`points` once per order or action."
    )
    MULTIPLIER = strawberry.enum_value(
        model.FormulaKind.MULTIPLIER.value,
        description="Adds (`factor` − 1) × the points the other rules give the same event: "
        "2.0 is double points.",
    )


@strawberry.enum(name="Rounding", description="How fractional points are rounded.")
class RoundingType(Enum):
    DOWN = strawberry.enum_value(model.Rounding.DOWN.value, description="Towards zero.")
    NEAREST = strawberry.enum_value(
        model.Rounding.NEAREST.value, description="To the nearest point, halves up."
    )
    UP = strawberry.enum_value(model.Rounding.UP.value, description="Up to the next point.")


@strawberry.enum(name="Stacking", description="Whether a rule combines with others.")
class StackingType(Enum):
    STACK = strawberry.enum_value(
        model.Stacking.STACK.value, description="Applies together with other rules."
    )
    EXCLUSIVE = strawberry.enum_value(
        model.Stacking.EXCLUSIVE.value,
        description="When it applies, rules of lower priority do not.",
    )


@strawberry.type(description="Conditions that must all hold; empty lists mean any.")
class EarningConditions:
    min_total: int | None = strawberry.field(
        description="Minimum order total, in minor units of `currency`."
    )
    currency: str | None = strawberry.field(
        description="Only orders in this ISO 4217 currency qualify."
    )
    categories_include: list[str] = strawberry.field(
        description="Only lines in these categories (or `skusInclude`) earn."
    )
    categories_exclude: list[str] = strawberry.field(description="Lines in these never earn.")
    skus_include: list[str] = strawberry.field(
        description="Only these SKUs (or `categoriesInclude`) earn."
    )
    skus_exclude: list[str] = strawberry.field(description="These SKUs never earn.")
    channels: list[ChannelType] = strawberry.field(description="Where the order was placed.")
    tiers: list[relay.GlobalID] = strawberry.field(
        description="Members of one of these tiers (ids)."
    )
    segments: list[str] = strawberry.field(description="Members in any of these segments.")
    first_order_only: bool = strawberry.field(description="Only a member's first order.")
    starts_at: datetime | None = strawberry.field(description="From this moment (inclusive).")
    ends_at: datetime | None = strawberry.field(description="Until this moment (exclusive).")
    weekdays: list[int] = strawberry.field(
        description="ISO weekdays (1 = Monday … 7 = Sunday) in the programme's time zone."
    )
    badge_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Members holding all of these badges (ids)."
    )

    @classmethod
    def from_model(cls, c: Conditions) -> Self:
        return cls(
            min_total=c.min_total, currency=c.currency,
            categories_include=sorted(c.categories_include),
            categories_exclude=sorted(c.categories_exclude),
            skus_include=sorted(c.skus_include), skus_exclude=sorted(c.skus_exclude),
            channels=[ChannelType(ch) for ch in sorted(c.channels)],
            tiers=tier_global_ids(c.tiers),
            segments=sorted(c.segments), first_order_only=c.first_order_only,
            starts_at=c.starts_at, ends_at=c.ends_at, weekdays=sorted(c.weekdays),
            badge_ids=badge_global_ids(c.badges),
        )


@strawberry.type(description="How many points a rule gives.")
class EarningFormula:
    kind: FormulaKindType = strawberry.field(description="Which formula.")
    points: int = strawberry.field(description="For FIXED and PER_CURRENCY_UNIT.")
    per_amount_minor: int = strawberry.field(
        description="For PER_CURRENCY_UNIT: the amount in minor units that earns `points`."
    )
    factor: float = strawberry.field(description="For MULTIPLIER: 2.0 = double points.")
    rounding: RoundingType = strawberry.field(description="How fractions are rounded.")

    @classmethod
    def from_model(cls, f: model.Formula) -> Self:
        return cls(
            kind=FormulaKindType(f.kind.value), points=f.points,
            per_amount_minor=f.per_amount_minor, factor=f.factor,
            rounding=RoundingType(f.rounding.value),
        )


@strawberry.type(description="Caps on the points a rule gives; null means no cap.")
class EarningLimits:
    per_member_per_day: int | None = strawberry.field(
        description="Per member per day (programme's time zone)."
    )
    per_member_per_month: int | None = strawberry.field(description="Per member per month.")
    per_member_lifetime: int | None = strawberry.field(description="Per member, ever.")
    budget: int | None = strawberry.field(description="Across all members, ever.")

    @classmethod
    def from_model(cls, limits: model.Limits) -> Self:
        return cls(
            per_member_per_day=limits.per_member_per_day,
            per_member_per_month=limits.per_member_per_month,
            per_member_lifetime=limits.per_member_lifetime, budget=limits.budget,
        )


@strawberry.type(name="EarningRule", description="A way to earn points: a rule or campaign.")
class EarningRuleNode(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Name shown with the points it gave.")
    description: str = strawberry.field(description="The administrator's text for members.")
    trigger: EarningTriggerType = strawberry.field(description="What it rewards.")
    action_type: str | None = strawberry.field(description="For ACTION rules: which action.")
    conditions: EarningConditions = strawberry.field(description="When it applies.")
    formula: EarningFormula = strawberry.field(description="How many points it gives.")
    limits: EarningLimits = strawberry.field(description="Caps and budget.")
    priority: int = strawberry.field(description="Higher is evaluated first.")
    stacking: StackingType = strawberry.field(description="Whether it combines with others.")
    active: bool = strawberry.field(description="False once archived.")
    created_at: datetime | None = strawberry.field(description="When it was created.")
    how_to_earn: str = strawberry.field(description="The rule in words, as members see it.")
    budget_spent: int | None = strawberry.field(
        description="Points given so far against `limits.budget` (null without a budget)."
    )
    grants_badge_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The badge the rule grants when it gives points, if any."
    )

    @classmethod
    def from_rule(
        cls, rule: model.EarningRule, *, timezone: ZoneInfo, spent: int,
        tier_names: Mapping[str, str] | None = None, badge_names: Mapping[str, str] | None = None,
    ) -> Self:
        return cls(
            id=rule.id, name=rule.name, description=rule.description,
            trigger=EarningTriggerType(rule.trigger.value), action_type=rule.action_type,
            conditions=EarningConditions.from_model(rule.conditions),
            formula=EarningFormula.from_model(rule.formula),
            limits=EarningLimits.from_model(rule.limits), priority=rule.priority,
            stacking=StackingType(rule.stacking.value), active=rule.active,
            created_at=rule.created_at,
            how_to_earn=describe_rule(rule, timezone=timezone, tier_names=tier_names,
                                      badge_names=badge_names),
            budget_spent=spent if rule.limits.budget is not None else None,
            grants_badge_id=relay.GlobalID("Badge", rule.grants_badge)
            if rule.grants_badge else None,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list["EarningRuleNode | None"]:
        ids = list(node_ids)
        if not is_admin(info.context.principal):
            return [None for _ in ids]
        found = await get_rules(info.context.store, ids)
        nodes = {node.id: node for node in await rule_nodes(info.context.store, found.values())}
        return [nodes.get(i) for i in ids]


async def rule_nodes(
    store: Store, rules: Iterable[model.EarningRule]
) -> Sequence[EarningRuleNode]:
    """Nodes for `rules` in two queries whatever their number (programme, budgets)."""
    listed = list(rules)
    timezone, tier_names = await programme_wording(store)
    names = await badge_wording(store)
    spent = await budgets_spent(store, [r.id for r in listed if r.limits.budget is not None])
    return [
        EarningRuleNode.from_rule(rule, timezone=timezone, spent=spent.get(rule.id, 0),
                                  tier_names=tier_names, badge_names=names)
        for rule in listed
    ]
