"""Challenges: administrators define them, members see their progress and join opt-in ones."""

from typing import Annotated

import strawberry
from strawberry import Info, relay

from loyalty.conditions import Conditions
from loyalty.engagement.gifts import Gift, VoucherGift
from loyalty.play import challenge_store
from loyalty.play.challenge_view import member_challenges
from loyalty.play.challenges import (
    Challenge,
    ChallengeKind,
    ChallengeReward,
    Recurrence,
    RefundPolicy,
    UnknownChallenge,
)
from scanner.gifts import check_gift
from schema.badge_types import badge_ids
from schema.challenge_types import (
    ChallengeArchiveInput,
    ChallengeInput,
    ChallengeJoinInput,
    ChallengeNode,
    ChallengeUpdateInput,
    MemberChallengeType,
)
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin, IsMember
from schema.shared import INPUT, tier_ids


def _challenge_id(global_id: relay.GlobalID) -> str:
    if global_id.type_name != "Challenge":
        raise UnknownChallenge("This is not the id of a challenge.",
                               field=("input", "challenge"))
    return global_id.node_id


def to_model(input: ChallengeInput) -> Challenge:
    """The draft `input` describes; its voucher checked as every gift voucher is."""
    c = input.conditions
    voucher = input.reward.voucher
    checked = None
    if voucher is not None:
        gift = check_gift(Gift(voucher=VoucherGift(
            kind=voucher.kind.name, title=voucher.title, valid_days=voucher.valid_days,
            amount_off=voucher.amount_off, percent_off=voucher.percent_off,
            currency=voucher.currency, product_sku=voucher.product_sku,
        )), field=("input", "reward"))
        checked = gift.voucher
    return Challenge(
        id="draft", title=input.title, description=input.description,
        kind=ChallengeKind(input.kind.name), target=input.target,
        action_type=input.action_type,
        conditions=Conditions(
            min_total=c.min_total if c else None, currency=c.currency if c else None,
            categories_include=frozenset(c.categories_include if c else ()),
            categories_exclude=frozenset(c.categories_exclude if c else ()),
            skus_include=frozenset(c.skus_include if c else ()),
            skus_exclude=frozenset(c.skus_exclude if c else ()),
            channels=frozenset(ch.name for ch in (c.channels if c else ())),
            tiers=tier_ids(input.tiers, ("input", "tiers")),
            segments=frozenset(input.segments), starts_at=input.starts_at,
            ends_at=input.ends_at,
        ),
        reward=ChallengeReward(points=input.reward.points, voucher=checked,
                               badges=tuple(sorted(badge_ids(
                                   input.reward.badge_ids, ("input", "reward", "badgeIds"))))),
        opt_in=input.opt_in, recurrence=Recurrence(input.recurrence.name),
        refund_policy=RefundPolicy(input.refund_policy.name),
    )


@strawberry.type(description="Result of challengeCreate.")
class ChallengeCreatePayload:
    challenge: ChallengeNode | None = strawberry.field(default=None,
                                                       description="The new challenge.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of challengeUpdate.")
class ChallengeUpdatePayload:
    challenge: ChallengeNode | None = strawberry.field(default=None,
                                                       description="The challenge now.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of challengeArchive.")
class ChallengeArchivePayload:
    challenge: ChallengeNode | None = strawberry.field(default=None,
                                                       description="The archived challenge.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of challengeJoin.")
class ChallengeJoinPayload:
    challenge: MemberChallengeType | None = strawberry.field(
        default=None, description="The challenge as the member now sees it.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


async def challenges_of(info: Info[Context, None], member_id: str) -> list[MemberChallengeType]:
    """`Member.challenges`: the member's challenges in the current period."""
    found = await member_challenges(info.context.store, member_id=member_id,
                                    now=info.context.services.clock())
    return [MemberChallengeType.of(item) for item in found]


@strawberry.type
class ChallengeQueries:
    @strawberry.field(description="Every challenge, archived ones too, newest first.",
                      permission_classes=[IsAdmin])
    async def challenges(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[ChallengeNode]:
        found, page = await challenge_store.list_challenges(
            info.context.store, first=check_first(first), after_id=decode_cursor(after))
        return connection(found, page, node=ChallengeNode.from_model,
                          item_id=lambda item: item.id)


@strawberry.type
class ChallengeMutations:
    @strawberry.mutation(description="Create a challenge; it counts at once (audited).",
                         permission_classes=[IsAdmin])
    @returns_errors_in(ChallengeCreatePayload)
    async def challenge_create(
        self, info: Info[Context, None], input: Annotated[ChallengeInput, INPUT]
    ) -> ChallengeCreatePayload:
        created = await challenge_store.create_challenge(
            info.context.store, draft=to_model(input), clock=info.context.services.clock,
            audit=info.context.audit)
        return ChallengeCreatePayload(challenge=ChallengeNode.from_model(created))

    @strawberry.mutation(description="Replace every field of a challenge; progress so far is "
                         "kept (audited).", permission_classes=[IsAdmin])
    @returns_errors_in(ChallengeUpdatePayload)
    async def challenge_update(
        self, info: Info[Context, None], input: Annotated[ChallengeUpdateInput, INPUT]
    ) -> ChallengeUpdatePayload:
        updated = await challenge_store.update_challenge(
            info.context.store, challenge_id=_challenge_id(input.challenge),
            draft=to_model(input), clock=info.context.services.clock,
            audit=info.context.audit)
        return ChallengeUpdatePayload(challenge=ChallengeNode.from_model(updated))

    @strawberry.mutation(description="Stop a challenge: no more progress, members no longer "
                         "see it; rewards given stay (audited).", permission_classes=[IsAdmin])
    @returns_errors_in(ChallengeArchivePayload)
    async def challenge_archive(
        self, info: Info[Context, None], input: Annotated[ChallengeArchiveInput, INPUT]
    ) -> ChallengeArchivePayload:
        archived = await challenge_store.archive_challenge(
            info.context.store, challenge_id=_challenge_id(input.challenge),
            clock=info.context.services.clock, audit=info.context.audit)
        return ChallengeArchivePayload(challenge=ChallengeNode.from_model(archived))

    @strawberry.mutation(description="Join an opt-in challenge that is for you and not over; "
                         "orders and actions from now on count.", permission_classes=[IsMember])
    @returns_errors_in(ChallengeJoinPayload)
    async def challenge_join(
        self, info: Info[Context, None], input: Annotated[ChallengeJoinInput, INPUT]
    ) -> ChallengeJoinPayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember checked it
        challenge_id = _challenge_id(input.challenge)
        await challenge_store.join_challenge(
            info.context.store, member_id=principal.subject_id, challenge_id=challenge_id,
            clock=info.context.services.clock)
        mine = await challenges_of(info, principal.subject_id)
        return ChallengeJoinPayload(
            challenge=next((c for c in mine if c.id.node_id == challenge_id), None))
