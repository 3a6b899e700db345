"""Earning rules and campaigns: admin management, the member-facing list, dry runs."""

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import Info, relay

from loyalty.earning.rules import store as rules
from loyalty.earning.rules.describe import describe_rule
from loyalty.earning.rules.simulate import (
    ArchiveRule,
    EditRule,
    NewRule,
    RuleChange,
    Simulation,
    simulate_change,
)
from loyalty.errors import UnknownRule
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin
from schema.rule_inputs import (
    EarningRuleActivateInput,
    EarningRuleArchiveInput,
    EarningRuleInput,
    EarningRuleUpdateInput,
    RuleSimulateInput,
    to_model,
)
from schema.rule_types import (
    EarningRuleNode,
    badge_wording,
    programme_timezone,
    programme_wording,
    rule_nodes,
)
from schema.shared import INPUT
from store import InvalidInput, Store


def _rule_id(global_id: relay.GlobalID, *, field: tuple[str, ...] = ("input", "rule")) -> str:
    if global_id.type_name != "EarningRule":
        raise UnknownRule("This is not the id of an earning rule.", field=field)
    return global_id.node_id


def _simulated_change(input: RuleSimulateInput) -> RuleChange:
    """The one change `input` asks for; InvalidInput unless it gives exactly one."""
    given = [name for name, value in (
        ("rule", input.rule), ("edit", input.edit), ("archive", input.archive)
    ) if value is not None]
    if len(given) > 1:
        raise InvalidInput("Give only one of `rule`, `edit` and `archive`.",
                           field=("input", given[1]))
    if input.edit is not None:
        return EditRule(rule_id=_rule_id(input.edit.rule, field=("input", "edit", "rule")),
                        rule=to_model(input.edit))
    if input.archive is not None:
        return ArchiveRule(
            rule_id=_rule_id(input.archive.rule, field=("input", "archive", "rule"))
        )
    if input.rule is not None:
        return NewRule(rule=to_model(input.rule))
    raise InvalidInput("Give a new `rule`, an `edit` of an active rule or one to `archive`.",
                       field=("input",))


@strawberry.type(description="A way to earn points, in the words a member understands.")
class ProgramRule:
    name: str = strawberry.field(description="The rule or campaign's name.")
    description: str = strawberry.field(description="The programme's own words about it.")
    how_to_earn: str = strawberry.field(
        description="What earns how many points, when, within which limits."
    )
    ends_at: datetime | None = strawberry.field(
        description="When a limited-time campaign ends (null: no end)."
    )


@strawberry.type(description="Result of earningRuleCreate.")
class EarningRuleCreatePayload:
    rule: EarningRuleNode | None = strawberry.field(default=None, description="The new rule.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of earningRuleUpdate.")
class EarningRuleUpdatePayload:
    rule: EarningRuleNode | None = strawberry.field(default=None, description="The rule now.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of earningRuleArchive.")
class EarningRuleArchivePayload:
    rule: EarningRuleNode | None = strawberry.field(
        default=None, description="The archived rule."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of earningRuleActivate.")
class EarningRuleActivatePayload:
    rule: EarningRuleNode | None = strawberry.field(
        default=None, description="The active rule."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="What an edit or archive of a rule changes against what the "
                 "rule actually earned from the same orders.")
class RuleSimulationComparison:
    rule: EarningRuleNode = strawberry.field(description="The rule as it stands now.")
    points_earned: int = strawberry.field(
        description="Points the rule actually gave the period's orders (the breakdown of "
        "their earns), less the share their refunds reverse (in proportion to the money "
        "refunded, as orderRefund computes it, even where points had expired before the "
        "refund): what the rule earned on the money members kept."
    )
    points_difference: int = strawberry.field(
        description="`points` − `pointsEarned`: negative when the change takes points away."
    )
    orders_changed: int = strawberry.field(
        description="Orders for which the rule would give a different number of points."
    )
    members_changed: int = strawberry.field(
        description="Members with at least one such order."
    )


@strawberry.type(description="What a rule change would have given in a past period. A dry "
                 "run: nothing was written.")
class RuleSimulatePayload:
    orders_matched: int | None = strawberry.field(
        default=None, description="Orders the simulated rule would have given points for. A "
        "fully refunded order gives none."
    )
    members_affected: int | None = strawberry.field(
        default=None, description="Members who would have earned from it."
    )
    points: int | None = strawberry.field(
        default=None, description="Points it would have given, within its limits (counted "
        "from `from`), net of refunds: each order is evaluated as it was paid, then loses the "
        "share of the award its refunds reverse (in proportion to the money refunded, as "
        "orderRefund does). So a fully refunded order gives nothing, and a minimum total or a "
        "fixed award is judged on the order as paid. 0 for `archive`."
    )
    comparison: RuleSimulationComparison | None = strawberry.field(
        default=None, description="For `edit` and `archive`: the difference against what "
        "the rule actually earned. Null for a new rule."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


async def _simulate_payload(store: Store, result: Simulation) -> RuleSimulatePayload:
    comparison = None
    if (compared := result.comparison) is not None:
        (node,) = await rule_nodes(store, [compared.rule])
        comparison = RuleSimulationComparison(
            rule=node, points_earned=compared.points_earned,
            points_difference=compared.points_difference,
            orders_changed=compared.orders_changed, members_changed=compared.members_changed,
        )
    return RuleSimulatePayload(
        orders_matched=result.orders_matched, members_affected=result.members_affected,
        points=result.points, comparison=comparison,
    )


@strawberry.type
class RuleQueries:
    @strawberry.field(description="Every earning rule, archived ones too, newest first.",
                      permission_classes=[IsAdmin])
    async def earning_rules(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[EarningRuleNode]:
        found, page = await rules.list_rules(
            info.context.store, first=check_first(first), after_id=decode_cursor(after)
        )
        nodes = await rule_nodes(info.context.store, found)
        return connection(nodes, page, node=lambda node: node, item_id=lambda node: node.id)

    @strawberry.field(description="The ways to earn points now and in announced campaigns, "
                      "highest priority first. Public: it is what the programme advertises.")
    async def program_rules(self, info: Info[Context, None]) -> list[ProgramRule]:
        # Anonymous callers too: a shop shows this on its loyalty landing page, and it holds
        # nothing that is not already marketing copy (no budgets, limits in words only).
        store = info.context.store
        offered = await rules.rules_on_offer(store, now=info.context.services.clock())
        timezone, tier_names = await programme_wording(store)
        badge_names = await badge_wording(store)
        return [
            ProgramRule(
                name=rule.name, description=rule.description,
                how_to_earn=describe_rule(rule, timezone=timezone, tier_names=tier_names,
                                          badge_names=badge_names),
                ends_at=rule.conditions.ends_at,
            )
            for rule in offered
        ]

    @strawberry.field(description="Dry-run a rule change against the orders recorded in a "
                      "past period, next to the rules in force: a new rule (how many orders, "
                      "members and points it would have affected), or an edit or archive of an "
                      "active rule (and the difference against what it actually earned). "
                      "Writes nothing.", permission_classes=[IsAdmin])
    @returns_errors_in(RuleSimulatePayload)
    async def rule_simulate(
        self, info: Info[Context, None], input: Annotated[RuleSimulateInput, INPUT]
    ) -> RuleSimulatePayload:
        store = info.context.store
        result = await simulate_change(
            store, change=_simulated_change(input), start=input.from_, end=input.to,
            timezone=await programme_timezone(store),
        )
        return await _simulate_payload(store, result)


@strawberry.type
class RuleMutations:
    @strawberry.mutation(description="Create an earning rule or campaign; it applies at once.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(EarningRuleCreatePayload)
    async def earning_rule_create(
        self, info: Info[Context, None], input: Annotated[EarningRuleInput, INPUT]
    ) -> EarningRuleCreatePayload:
        rule = await rules.create_rule(
            info.context.store, draft=to_model(input), clock=info.context.services.clock,
            audit=info.context.audit,
        )
        (node,) = await rule_nodes(info.context.store, [rule])
        return EarningRuleCreatePayload(rule=node)

    @strawberry.mutation(description="Replace every field of an earning rule; earns already "
                         "made keep their points.", permission_classes=[IsAdmin])
    @returns_errors_in(EarningRuleUpdatePayload)
    async def earning_rule_update(
        self, info: Info[Context, None], input: Annotated[EarningRuleUpdateInput, INPUT]
    ) -> EarningRuleUpdatePayload:
        rule = await rules.update_rule(
            info.context.store, rule_id=_rule_id(input.rule), draft=to_model(input),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        (node,) = await rule_nodes(info.context.store, [rule])
        return EarningRuleUpdatePayload(rule=node)

    @strawberry.mutation(description="Stop an earning rule from giving points (kept for the "
                         "record; earningRuleActivate undoes it).", permission_classes=[IsAdmin])
    @returns_errors_in(EarningRuleArchivePayload)
    async def earning_rule_archive(
        self, info: Info[Context, None], input: Annotated[EarningRuleArchiveInput, INPUT]
    ) -> EarningRuleArchivePayload:
        rule = await rules.archive_rule(
            info.context.store, rule_id=_rule_id(input.rule), clock=info.context.services.clock,
            audit=info.context.audit,
        )
        (node,) = await rule_nodes(info.context.store, [rule])
        return EarningRuleArchivePayload(rule=node)

    @strawberry.mutation(description="Let an archived earning rule give points again.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(EarningRuleActivatePayload)
    async def earning_rule_activate(
        self, info: Info[Context, None], input: Annotated[EarningRuleActivateInput, INPUT]
    ) -> EarningRuleActivatePayload:
        rule = await rules.activate_rule(
            info.context.store, rule_id=_rule_id(input.rule), clock=info.context.services.clock,
            audit=info.context.audit,
        )
        (node,) = await rule_nodes(info.context.store, [rule])
        return EarningRuleActivatePayload(rule=node)
