"""Composing the schema, with the hardening every deployment gets."""

from dataclasses import dataclass

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions import (
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
from schema.cost import QueryCostLimiter


@dataclass(frozen=True, slots=True)
class SchemaLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_cost: int = 1000


@strawberry.type(description="Read the programme. Every field checks who may see it.")
class Query(AccountQueries, AdminQueries):
    node: relay.Node | None = relay.node(
        description="Any object by its global id, if you may see it."
    )


@strawberry.type(description="Change the programme. Expected failures come back in `errors`.")
class Mutation(AccountMutations, AdminMutations):
    pass


def _is_internal(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; pass through validation errors and permission denials."""
    original = error.original_error
    return original is not None and not isinstance(original, StrawberryGraphQLError | GraphQLError)


def build_schema(limits: SchemaLimits, *, production: bool) -> strawberry.Schema:
    extensions: list[SchemaExtension | type[SchemaExtension]] = [
        MaxTokensLimiter(max_token_count=limits.max_tokens),
        ParserCache(maxsize=256),
        QueryDepthLimiter(max_depth=limits.max_depth),
        MaxAliasesLimiter(max_alias_count=limits.max_aliases),
        ValidationCache(maxsize=256),
        QueryCostLimiter(max_cost=limits.max_cost),
        MaskErrors(should_mask_error=_is_internal, error_message="Internal server error."),
    ]
    if production:
        extensions.append(DisableIntrospection())
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production, relay_max_results=100),
    )


def export_sdl() -> str:
    """The schema's SDL as committed in schema.graphql (the development schema)."""
    return build_schema(SchemaLimits(), production=False).as_str() + "\n"
