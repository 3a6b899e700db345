"""Composing the schema, with the hardening every deployment gets."""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import strawberry
from strawberry import Info, relay
from strawberry.extensions import MaskErrors, MaxTokensLimiter, ParserCache, SchemaExtension
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig

from schema.account_security import AccountSecurityMutations, AccountSecurityQueries
from schema.accounts import AccountMutations, AccountQueries
from schema.admin import AdminMutations, AdminQueries
from schema.audit import AuditQueries
from schema.badges import BadgeMutations, BadgeQueries
from schema.challenges import ChallengeMutations, ChallengeQueries
from schema.consents import ConsentMutations
from schema.context import Context
from schema.document_limits import DocumentLimits
from schema.draws import DrawMutations, DrawQueries
from schema.error_reporting import ReportingSchema, is_fault
from schema.gifts import GiftMutations, GiftQueries
from schema.insights import InsightMutations, InsightQueries
from schema.leaderboards import LeaderboardMutations, LeaderboardQueries
from schema.ledger import LedgerMutations
from schema.members import MemberQueries
from schema.operation_report import OperationReporting
from schema.privacy import PrivacyMutations, PrivacyQueries
from schema.programme import ProgrammeMutations, ProgrammeQueries
from schema.rewards import RewardMutations, RewardQueries
from schema.rules import RuleMutations, RuleQueries
from schema.segments import SegmentMutations, SegmentQueries
from schema.subscriptions import Subscription
from schema.surveys import SurveyMutations, SurveyQueries
from schema.tiers import TierMutations, TierQueries
from schema.transfers import TransferMutations
from schema.validation import GuardedValidation, cached_validator
from schema.vouchers import VoucherMutations
from schema.webhooks import WebhookMutations, WebhookQueries


@dataclass(frozen=True, slots=True)
class SchemaLimits:
    max_tokens: int = 2000
    document: DocumentLimits = field(default_factory=DocumentLimits)


@strawberry.type(description="Read the programme. Every field checks who may see it.")
class Query(AccountQueries, AdminQueries, ProgrammeQueries, RuleQueries, TierQueries, GiftQueries,
            SurveyQueries, SegmentQueries, RewardQueries, WebhookQueries, InsightQueries,
            AuditQueries, MemberQueries, PrivacyQueries,
            AccountSecurityQueries, DrawQueries, BadgeQueries, LeaderboardQueries,
            ChallengeQueries):
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
    WebhookMutations, InsightMutations,
    TransferMutations,
    PrivacyMutations,
    AccountSecurityMutations, ConsentMutations,
    DrawMutations,
    BadgeMutations,
    LeaderboardMutations,
    ChallengeMutations,
):
    pass


@functools.cache
def build_schema(limits: SchemaLimits, *, production: bool) -> strawberry.Schema:
    """The schema for these limits, built once per process: it holds no per-app state (its
    extensions are built per request), and building it takes a tenth of a second — every
    app the test suite starts would pay it again."""
    # Factories: strawberry builds fresh extensions per request (they hold its context);
    # the parser and validation caches outlive them. The document's limits are measured
    # before validation, so no validation rule ever reads a document they refuse.
    document_limits = limits.document
    validator = cached_validator(hide_suggestions=production)
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        # First, so it sees the errors as MaskErrors leaves them for the client.
        OperationReporting,
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: GuardedValidation(limits=document_limits, validator=validator),
        lambda: MaskErrors(should_mask_error=is_fault, error_message="Internal server error."),
    ]
    if production:
        extensions.append(DisableIntrospection)
    return ReportingSchema(
        production=production,
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production, relay_max_results=100),
    )


def export_sdl() -> str:
    """The schema's SDL as committed in schema.graphql (the development schema)."""
    return build_schema(SchemaLimits(), production=False).as_str() + "\n"
