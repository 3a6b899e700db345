"""Composing the schema, with the hardening every deployment gets."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry import Info, relay
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig

from schema.accounts import AccountMutations, AccountQueries
from schema.admin import AdminMutations, AdminQueries
from schema.context import Context
from schema.cost import QueryCostLimiter
from schema.gifts import GiftMutations, GiftQueries
from schema.ledger import LedgerMutations
from schema.programme import ProgrammeMutations, ProgrammeQueries
from schema.rewards import RewardMutations, RewardQueries
from schema.rules import RuleMutations, RuleQueries
from schema.segments import SegmentMutations, SegmentQueries
from schema.surveys import SurveyMutations, SurveyQueries
from schema.tiers import TierMutations, TierQueries
from schema.vouchers import VoucherMutations
from store.errors import KizunaError


@dataclass(frozen=True, slots=True)
class SchemaLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_cost: int = 1000


@strawberry.type(description="Read the programme. Every field checks who may see it.")
class Query(AccountQueries, AdminQueries, ProgrammeQueries, RuleQueries, TierQueries, GiftQueries,
            SurveyQueries, SegmentQueries, RewardQueries):
    @strawberry.field(description="Any object by its global id; null unless you may see it.")
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[relay.GlobalID, strawberry.argument(description="The object's id.")],
    ) -> relay.Node | None:
        # Each node type's resolve_nodes checks who may see it.
        node: relay.Node | None = await id.resolve_node(info, required=False)
        return node


@strawberry.type(description="Change the programme. Expected failures come back in `errors`.")
class Mutation(
    AccountMutations, AdminMutations, LedgerMutations, ProgrammeMutations, RuleMutations,
    GiftMutations,
    VoucherMutations, TierMutations, SurveyMutations, SegmentMutations, RewardMutations,
):
    pass


def _is_internal(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; pass through validation errors and permission denials."""
    original = error.original_error
    return original is not None and not isinstance(
        original, StrawberryGraphQLError | GraphQLError | KizunaError
    )


def build_schema(limits: SchemaLimits, *, production: bool) -> strawberry.Schema:
    # Factories: strawberry builds fresh extensions per request (they hold its context);
    # the parser and validation caches are module-level and survive that. The depth and
    # alias rules are built once, here: each limiter defines a new rule class and the
    # validation cache keys on rule classes, so per-request limiters would never hit it.
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=256),
        lambda: QueryCostLimiter(max_cost=limits.max_cost),
        lambda: MaskErrors(should_mask_error=_is_internal, error_message="Internal server error."),
    ]
    if production:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production, relay_max_results=100),
    )


def export_sdl() -> str:
    """The schema's SDL as committed in schema.graphql (the development schema)."""
    return build_schema(SchemaLimits(), production=False).as_str() + "\n"
