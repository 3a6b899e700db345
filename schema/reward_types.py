"""The rewards catalogue's GraphQL types: a reward as a member sees it (their price, whether
they can afford it and may redeem it) and as an administrator sees it (stock numbers)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Self

import strawberry
from strawberry import Info, relay

from auth.roles import Role
from loyalty.members import reference, screens
from loyalty.rewards.catalogue import get_rewards
from loyalty.rewards.policy import Reward, RewardView
from schema.badge_types import badge_global_ids
from schema.context import Context
from schema.errors import UserError, user_errors
from schema.permissions import IsAdmin, is_admin
from schema.shared import ChannelType
from schema.tier_types import TierType
from schema.voucher_types import VoucherKindType
from store import Store


class RewardBatch:
    """What the nodes one resolver builds share: the tier ladder (from the read cache)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def tier(self, tier_id: str | None) -> TierType | None:
        if tier_id is None:
            return None
        found = (await reference.programme(self.store)).tier(tier_id)
        return TierType.of(found) if found else None


@strawberry.type(description="A lower price for members of a tier (and the tiers above it).")
class TierCostType:
    cost: int = strawberry.field(description="Points it costs at this tier.")
    tier_id: strawberry.Private[str]
    batch: strawberry.Private[RewardBatch]

    @strawberry.field(description="The tier; null if it was removed since.")
    async def tier(self) -> TierType | None:
        return await self.batch.tier(self.tier_id)


@strawberry.type(name="Reward", description="Something members can spend points on; redeeming "
                 "it issues a voucher. Members see the active rewards in their window, with "
                 "their own price and whether they can have it; administrators see every "
                 "reward with its stock.")
class RewardNode(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[Reward]
    view: strawberry.Private[RewardView | None]
    batch: strawberry.Private[RewardBatch]

    @strawberry.field(description="Name shown to members, on the voucher and in the history.")
    def title(self) -> str:
        return self.record.draft.title

    @strawberry.field(description="What it is, in words.")
    def description(self) -> str:
        return self.record.draft.description

    @strawberry.field(description="What its voucher gives.")
    def kind(self) -> VoucherKindType:
        return VoucherKindType(self.record.draft.kind.value)

    @strawberry.field(description="For AMOUNT_OFF: minor units off (in `currency`).")
    def amount_off(self) -> int | None:
        return self.record.draft.amount_off

    @strawberry.field(description="For PERCENT_OFF: percent off the order.")
    def percent_off(self) -> int | None:
        return self.record.draft.percent_off

    @strawberry.field(description="Currency of `amountOff` and `minOrderTotal`.")
    def currency(self) -> str | None:
        return self.record.draft.currency

    @strawberry.field(description="For FREE_PRODUCT: the product's SKU.")
    def product_sku(self) -> str | None:
        return self.record.draft.product_sku

    @strawberry.field(description="An https image of the reward.")
    def image_url(self) -> str | None:
        return self.record.draft.image_url

    @strawberry.field(description="Points it costs you (your tier's price); for "
                      "administrators the base cost.")
    def cost(self) -> int:
        return self.view.cost if self.view else self.record.draft.cost

    @strawberry.field(description="The base cost, before any tier price.")
    def base_cost(self) -> int:
        return self.record.draft.cost

    @strawberry.field(description="Lower prices by tier: a member pays the lowest of the base "
                      "cost and the prices of their tier and the tiers below it.")
    def tier_costs(self) -> list[TierCostType]:
        return [TierCostType(cost=t.cost, tier_id=t.tier_id, batch=self.batch)
                for t in self.record.draft.tier_costs]

    @strawberry.field(description="Only members at or above this tier may redeem it.")
    async def min_tier(self) -> TierType | None:
        return await self.batch.tier(self.record.draft.min_tier_id)

    @strawberry.field(description="Until this moment only members at or above "
                      "`earlyAccessTier` may redeem it (early access).")
    def early_access_until(self) -> datetime | None:
        return self.record.draft.early_access_until

    @strawberry.field(description="The tier with early access.")
    async def early_access_tier(self) -> TierType | None:
        return await self.batch.tier(self.record.draft.early_access_min_tier_id)

    @strawberry.field(description="Redeemable from this moment (null: since its creation).")
    def active_from(self) -> datetime | None:
        return self.record.draft.active_from

    @strawberry.field(description="Redeemable until this moment, exclusive (null: no end).")
    def active_to(self) -> datetime | None:
        return self.record.draft.active_to

    @strawberry.field(description="False while switched off (members never see it then).")
    def active(self) -> bool:
        return self.record.draft.active

    @strawberry.field(description="How many of its vouchers one member may hold at once "
                      "(cancelled ones do not count); null: no limit.")
    def per_member_limit(self) -> int | None:
        return self.record.draft.per_member_limit

    @strawberry.field(description="Days its voucher stays valid after redemption.")
    def voucher_valid_days(self) -> int:
        return self.record.draft.voucher_valid_days

    @strawberry.field(description="Channels where its voucher can be used.")
    def channels(self) -> list[ChannelType]:
        return [ChannelType[c.value] for c in self.record.draft.channels]

    @strawberry.field(description="Smallest order total its voucher applies to (minor units).")
    def min_order_total(self) -> int | None:
        return self.record.draft.min_order_total

    @strawberry.field(description="For you: whether your balance covers its cost (null for "
                      "administrators).")
    def affordable(self) -> bool | None:
        return self.view.affordable if self.view else None

    @strawberry.field(description="For you: points you still need (0 when affordable).")
    def points_needed(self) -> int | None:
        return self.view.shortfall if self.view else None

    @strawberry.field(description="For you: whether you may redeem it now, points aside.")
    def eligible(self) -> bool | None:
        return self.view.eligible if self.view else None

    @strawberry.field(description="For you: why you may not redeem it now (NOT_ELIGIBLE_TIER, "
                      "NOT_ELIGIBLE_SEGMENT, EARLY_ACCESS, LIMIT_REACHED, OUT_OF_STOCK, …); "
                      "null when you may.")
    def ineligible_reason(self) -> UserError | None:
        if self.view is None or self.view.problem is None:
            return None
        return user_errors(self.view.problem)[0]

    @strawberry.field(description="For you: how many of its vouchers you hold (redeemed and "
                      "not cancelled).")
    def times_redeemed(self) -> int | None:
        return self.view.held if self.view else None

    @strawberry.field(description="Only members holding all of these badges may redeem it "
                      "(ids; empty: no badge needed).")
    def badge_ids(self) -> list[relay.GlobalID]:
        return badge_global_ids(self.record.draft.badges)

    @strawberry.field(description="Only members in one of these segments may redeem it "
                      "(empty: everyone). Administrators only.", permission_classes=[IsAdmin])
    def segments(self) -> list[str]:
        return list(self.record.draft.segments)

    @strawberry.field(description="Vouchers that may be outstanding at once (null: "
                      "unlimited). Administrators only.", permission_classes=[IsAdmin])
    def stock(self) -> int | None:
        return self.record.draft.stock

    @strawberry.field(description="Its vouchers members hold (issued, not cancelled): what "
                      "counts against the stock. Administrators only.",
                      permission_classes=[IsAdmin])
    def redeemed(self) -> int:
        return self.record.redeemed

    @strawberry.field(description="Stock left (null: unlimited). Administrators only.",
                      permission_classes=[IsAdmin])
    def remaining(self) -> int | None:
        return self.record.remaining

    @strawberry.field(description="Vouchers ever issued for it. Administrators only.",
                      permission_classes=[IsAdmin])
    def issued(self) -> int:
        return self.record.issued

    @strawberry.field(description="When it was created.")
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field(description="When it was last changed.")
    def updated_at(self) -> datetime:
        return self.record.updated_at

    @classmethod
    def of(cls, reward: Reward, batch: RewardBatch, view: RewardView | None = None) -> Self:
        return cls(id=reward.id, record=reward, view=view, batch=batch)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        # Administrators see every reward; a member the active ones in their window, priced
        # for them; nobody else any.
        ids = list(node_ids)
        principal, store = info.context.principal, info.context.store
        batch = RewardBatch(store)
        if is_admin(principal):
            found = await get_rewards(store, ids)
            return [cls.of(found[i], batch) if i in found else None for i in ids]
        if principal is None or principal.role is not Role.MEMBER:
            return [None for _ in ids]
        now = info.context.services.clock()
        visible = [r for r in (await get_rewards(store, ids)).values()
                   if r.draft.active and r.in_window(now)]
        views = await screens.reward_views(
            store, await info.context.loaders.members.load(principal.subject_id), visible,
            birthday=info.context.member_birthday, now=now,
        )
        by_id = {v.reward.id: v for v in views}
        return [cls.of(by_id[i].reward, batch, by_id[i]) if i in by_id else None for i in ids]
