"""The rewards catalogue: administrators manage it without a deploy, members browse it (best
for them first) and redeem a reward for a voucher."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import Info, relay
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from auth.roles import Role
from loyalty.members import screens
from loyalty.purchases import Channel
from loyalty.rewards import catalogue
from loyalty.rewards.policy import (
    DRAFT_FIELDS,
    RewardDraft,
    RewardKind,
    TierCost,
    UnknownReward,
    apply_changes,
)
from scanner.reward_redemption import redeem_reward
from schema.badge_types import badge_ids
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin, IsMember, is_admin
from schema.reward_types import RewardBatch, RewardNode
from schema.shared import INPUT, ChannelType, tier_id
from schema.voucher_types import VoucherKindType, VoucherNode
from store.pagination import Page

UNSET: Any = strawberry.UNSET


class IsMemberOrAdmin(BasePermission):
    message = "Only members and administrators can see the rewards."
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - strawberry's own attribute

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise StrawberryGraphQLError(
                "Sign in to do this.", extensions={"code": "UNAUTHENTICATED"}
            )
        return principal.role in (Role.MEMBER, Role.ADMIN)


@strawberry.input(description="A tier's price for a reward.")
class TierCostInput:
    tier_id: relay.GlobalID = strawberry.field(description="The tier's id.")
    cost: int = strawberry.field(description="Points it costs members of this tier (≥ 0).")


@strawberry.input(description="A new reward.")
class RewardCreateInput:
    title: str = strawberry.field(description="1–120 characters; also the voucher's title.")
    description: str = strawberry.field(default="", description="At most 2000 characters.")
    kind: VoucherKindType = strawberry.field(description="What its voucher gives.")
    amount_off: int | None = strawberry.field(
        default=None, description="AMOUNT_OFF: minor units off (cents)."
    )
    percent_off: int | None = strawberry.field(default=None, description="PERCENT_OFF: 1–100.")
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code of amountOff and minOrderTotal."
    )
    product_sku: str | None = strawberry.field(
        default=None, description="FREE_PRODUCT: the product's SKU."
    )
    image_url: str | None = strawberry.field(default=None, description="An https:// image URL.")
    cost: int = strawberry.field(description="Points it costs (0–10000000).")
    tier_costs: list[TierCostInput] | None = strawberry.field(
        default=None, description="Lower prices for tiers (and the tiers above them)."
    )
    stock: int | None = strawberry.field(
        default=None, description="Vouchers that may be outstanding at once; null: unlimited."
    )
    per_member_limit: int | None = strawberry.field(
        default=None, description="Vouchers one member may hold at once; null: no limit."
    )
    min_tier_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only members at or above this tier."
    )
    segments: list[str] | None = strawberry.field(
        default=None, description="Only members in one of these segments (names)."
    )
    early_access_until: datetime | None = strawberry.field(
        default=None, description="Until then only `earlyAccessTierId` and above may redeem."
    )
    early_access_tier_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The tier with early access."
    )
    active: bool = strawberry.field(default=True, description="Whether members see it.")
    active_from: datetime | None = strawberry.field(
        default=None, description="Redeemable from this moment (null: now)."
    )
    active_to: datetime | None = strawberry.field(
        default=None, description="Redeemable until this moment, exclusive (null: no end)."
    )
    voucher_valid_days: int = strawberry.field(
        default=30, description="Days its voucher stays valid (1–1098)."
    )
    channels: list[ChannelType] | None = strawberry.field(
        default=None, description="Where its voucher can be used; null: online and in store."
    )
    min_order_total: int | None = strawberry.field(
        default=None, description="Smallest order total its voucher applies to (minor units)."
    )
    badge_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="Only members holding all of these badges."
    )


@strawberry.input(description="Changes to a reward; omitted fields stay, null clears an "
                  "optional one.")
class RewardUpdateInput:
    reward_id: relay.GlobalID = strawberry.field(description="The reward to change.")
    title: str | None = strawberry.field(default=UNSET, description="1–120 characters.")
    description: str | None = strawberry.field(default=UNSET, description="The text.")
    kind: VoucherKindType | None = strawberry.field(default=UNSET, description="The kind.")
    amount_off: int | None = strawberry.field(default=UNSET, description="AMOUNT_OFF.")
    percent_off: int | None = strawberry.field(default=UNSET, description="PERCENT_OFF.")
    currency: str | None = strawberry.field(default=UNSET, description="ISO 4217 code.")
    product_sku: str | None = strawberry.field(default=UNSET, description="FREE_PRODUCT.")
    image_url: str | None = strawberry.field(default=UNSET, description="https:// URL.")
    cost: int | None = strawberry.field(default=UNSET, description="Points it costs.")
    tier_costs: list[TierCostInput] | None = strawberry.field(
        default=UNSET, description="Replaces the tier prices ([] removes them)."
    )
    stock: int | None = strawberry.field(
        default=UNSET, description="Not below what members hold; null: unlimited."
    )
    per_member_limit: int | None = strawberry.field(default=UNSET, description="Null: none.")
    min_tier_id: relay.GlobalID | None = strawberry.field(default=UNSET,
                                                           description="A tier.")
    segments: list[str] | None = strawberry.field(
        default=UNSET, description="Replaces the segments ([] opens it to everyone)."
    )
    early_access_until: datetime | None = strawberry.field(default=UNSET, description="End.")
    early_access_tier_id: relay.GlobalID | None = strawberry.field(
        default=UNSET, description="The tier with early access."
    )
    active: bool | None = strawberry.field(default=UNSET, description="Switch it on or off.")
    active_from: datetime | None = strawberry.field(default=UNSET, description="A start.")
    active_to: datetime | None = strawberry.field(default=UNSET, description="An end.")
    voucher_valid_days: int | None = strawberry.field(default=UNSET, description="1–1098.")
    channels: list[ChannelType] | None = strawberry.field(default=UNSET, description="Where.")
    min_order_total: int | None = strawberry.field(default=UNSET, description="Minor units.")
    badge_ids: list[relay.GlobalID] | None = strawberry.field(
        default=UNSET, description="Replaces the badges asked for ([] opens it to everyone)."
    )


@strawberry.input(description="A reward to remove (only if no voucher was ever issued).")
class RewardDeleteInput:
    reward_id: relay.GlobalID = strawberry.field(description="The reward.")


@strawberry.input(description="Spend points on a reward.")
class RewardRedeemInput:
    reward_id: relay.GlobalID = strawberry.field(description="The reward.")
    idempotency_key: str = strawberry.field(
        description="One per tap on 'redeem'; resend it on retries to get the first voucher."
    )


@strawberry.type(description="Result of rewardCreate / rewardUpdate.")
class RewardPayload:
    reward: RewardNode | None = strawberry.field(default=None, description="The reward.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of rewardDelete.")
class RewardDeletePayload:
    deleted_reward_id: strawberry.ID | None = strawberry.field(
        default=None, description="The removed reward's id."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Problems (REWARD_IN_USE: switch it off instead)."
    )


@strawberry.type(description="Result of rewardRedeem.")
class RewardRedeemPayload:
    voucher: VoucherNode | None = strawberry.field(default=None, description="The voucher.")
    points_spent: int | None = strawberry.field(default=None, description="Points it took.")
    balance: int | None = strawberry.field(
        default=None, description="Your spendable points now."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when this key redeemed before: the first voucher."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was spent (INSUFFICIENT_POINTS, "
        "OUT_OF_STOCK, NOT_ELIGIBLE_TIER, LIMIT_REACHED, …)."
    )


def _reward_id(global_id: relay.GlobalID) -> str:
    if global_id.type_name != "Reward":
        raise UnknownReward("This is not the id of a reward.", field=("input", "rewardId"))
    return global_id.node_id


def _tier_costs(value: list[TierCostInput]) -> tuple[TierCost, ...]:
    return tuple(
        TierCost(tier_id(t.tier_id, ("input", "tierCosts", str(n), "tierId")), t.cost)
        for n, t in enumerate(value)
    )


# Input field → (draft field, conversion); None for a draft field that cannot be null.
_NULLABLE = {"amount_off", "percent_off", "currency", "product_sku", "image_url", "stock",
             "per_member_limit", "min_tier_id", "early_access_until",
             "early_access_min_tier_id", "active_from", "active_to", "min_order_total"}
_CONVERT: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "kind": ("kind", lambda k: RewardKind(k.name)),
    "tier_costs": ("tier_costs", _tier_costs),
    "min_tier_id": ("min_tier_id", lambda g: tier_id(g, ("input", "minTierId"))),
    "early_access_tier_id": (
        "early_access_min_tier_id", lambda g: tier_id(g, ("input", "earlyAccessTierId"))
    ),
    "segments": ("segments", tuple),
    "channels": ("channels", lambda cs: tuple(Channel(c.name) for c in cs)),
    "badge_ids": ("badges", lambda gs: tuple(sorted(badge_ids(gs, ("input", "badgeIds"))))),
}


def _changes(given: RewardCreateInput | RewardUpdateInput) -> dict[str, Any]:
    """The draft fields the input sets; null leaves a field that cannot be null as it is."""
    changes: dict[str, Any] = {}
    for name in vars(given):
        value = getattr(given, name)
        target, convert = _CONVERT.get(name, (name, lambda v: v))
        if value is UNSET or target not in DRAFT_FIELDS:
            continue
        if value is None:
            if target in _NULLABLE:
                changes[target] = None
            continue
        changes[target] = convert(value)
    return changes


def _member_offset(after: str | None) -> int:
    """Members' catalogue cursors are positions in their own best-first order."""
    text = decode_cursor(after)
    if text is None:
        return 0
    if not text.isdigit():
        raise StrawberryGraphQLError("This cursor is not valid.",
                                     extensions={"code": "INVALID_INPUT", "field": ["after"]})
    return int(text) + 1


@strawberry.type
class RewardQueries:
    @strawberry.field(description="The rewards catalogue. Members: the active rewards in their "
                      "window, priced for them, best for them first (those they may redeem "
                      "and afford, the most valuable first; then the closest to affordable). "
                      "Administrators: every reward, newest first, with its stock.",
                      permission_classes=[IsMemberOrAdmin])
    async def rewards(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[RewardNode]:
        store, principal = info.context.store, info.context.principal
        batch = RewardBatch(store)
        size = check_first(first)
        if is_admin(principal):
            found, page = await catalogue.list_rewards(store, first=size,
                                                     after_id=decode_cursor(after))
            return connection(found, page, node=lambda r: RewardNode.of(r, batch),
                              item_id=lambda r: r.id)
        assert principal is not None  # noqa: S101 - the permission guarantees it
        start = _member_offset(after)
        views = await screens.catalogue(
            store, await info.context.loaders.members.load(principal.subject_id),
            birthday=info.context.member_birthday, now=info.context.services.clock(),
        )
        shown = list(enumerate(views))[start:start + size]
        return connection(shown, Page(documents=[], has_next=start + size < len(views)),
                          node=lambda p: RewardNode.of(p[1].reward, batch, p[1]),
                          item_id=lambda p: str(p[0]))


@strawberry.type
class RewardMutations:
    @strawberry.mutation(description="Add a reward to the catalogue.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(RewardPayload)
    async def reward_create(
        self, info: Info[Context, None], input: Annotated[RewardCreateInput, INPUT]
    ) -> RewardPayload:
        draft = RewardDraft(title=input.title, kind=RewardKind(input.kind.name),
                            cost=input.cost)
        reward = await catalogue.create_reward(
            info.context.store, draft=apply_changes(draft, _changes(input)),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return RewardPayload(reward=RewardNode.of(reward, RewardBatch(info.context.store)))

    @strawberry.mutation(description="Change a reward: its texts, price, stock, audience, "
                         "window, or switch it on or off. Vouchers issued keep what they give.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(RewardPayload)
    async def reward_update(
        self, info: Info[Context, None], input: Annotated[RewardUpdateInput, INPUT]
    ) -> RewardPayload:
        reward = await catalogue.update_reward(
            info.context.store, reward_id=_reward_id(input.reward_id), changes=_changes(input),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return RewardPayload(reward=RewardNode.of(reward, RewardBatch(info.context.store)))

    @strawberry.mutation(description="Remove a reward no voucher was ever issued for (switch "
                         "others off).", permission_classes=[IsAdmin])
    @returns_errors_in(RewardDeletePayload)
    async def reward_delete(
        self, info: Info[Context, None], input: Annotated[RewardDeleteInput, INPUT]
    ) -> RewardDeletePayload:
        await catalogue.delete_reward(
            info.context.store, reward_id=_reward_id(input.reward_id),
            clock=info.context.services.clock, audit=info.context.audit)
        return RewardDeletePayload(deleted_reward_id=strawberry.ID(str(input.reward_id)))

    @strawberry.mutation(description="Spend points on a reward and get its voucher, all or "
                         "nothing. A retry with the same idempotency key returns the first "
                         "voucher.", permission_classes=[IsMember])
    @returns_errors_in(RewardRedeemPayload)
    async def reward_redeem(
        self, info: Info[Context, None], input: Annotated[RewardRedeemInput, INPUT]
    ) -> RewardRedeemPayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        result = await redeem_reward(
            info.context.store, reward_id=_reward_id(input.reward_id),
            member_id=principal.subject_id, idempotency_key=input.idempotency_key,
            clock=info.context.services.clock,
        )
        return RewardRedeemPayload(
            voucher=VoucherNode.from_record(result.voucher), points_spent=result.points_spent,
            balance=result.balance, replayed=result.replayed,
        )
