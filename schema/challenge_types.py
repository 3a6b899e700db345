"""GraphQL shapes of challenges: enums, the admin's Challenge node, inputs, the member's
view."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Self

import strawberry
from strawberry import Info, relay

from loyalty.conditions import Conditions
from loyalty.play import challenges as model
from loyalty.play.challenge_store import get_challenges
from loyalty.play.challenge_view import MemberChallenge, badge_names, reward_words
from schema.badge_types import badge_global_ids
from schema.context import Context
from schema.gifts import GiftVoucherInput, GiftVoucherType
from schema.permissions import is_admin
from schema.shared import ChannelType, tier_global_ids
from schema.voucher_types import VoucherKindType


@strawberry.enum(name="ChallengeKind", description="What a challenge counts.")
class ChallengeKindType(Enum):
    ORDER_COUNT = strawberry.enum_value("ORDER_COUNT", description="`target` qualifying "
                                        "orders.")
    SPEND = strawberry.enum_value("SPEND", description="`target` minor units of "
                                  "`conditions.currency` spent on qualifying orders (their "
                                  "eligible lines).")
    ACTION_COUNT = strawberry.enum_value("ACTION_COUNT", description="`target` actions of "
                                         "`actionType`.")
    STREAK_WEEKS = strawberry.enum_value("STREAK_WEEKS", description="A qualifying order in "
                                         "each of `target` consecutive ISO weeks (programme's "
                                         "time zone).")
    STORE_COUNT = strawberry.enum_value("STORE_COUNT", description="Qualifying orders in "
                                        "`target` different stores.")


@strawberry.enum(name="ChallengeRecurrence", description="How often a member may complete it.")
class RecurrenceType(Enum):
    ONCE = strawberry.enum_value("ONCE", description="Once over the whole window.")
    WEEK = strawberry.enum_value("WEEK", description="Once per ISO week (programme's time "
                                 "zone); progress starts again each week.")
    MONTH = strawberry.enum_value("MONTH", description="Once per calendar month (programme's "
                                  "time zone).")


@strawberry.enum(name="ChallengeRefundPolicy", description="What happens to a reward when a "
                 "refund takes the progress back below the target.")
class RefundPolicyType(Enum):
    KEEP = strawberry.enum_value("KEEP", description="The member keeps the reward, even when "
                                 "every qualifying order is refunded (the generous opt-in).")
    TAKE_BACK = strawberry.enum_value(
        "TAKE_BACK", description="The points are reversed through the ledger (a debt when "
        "spent) and the challenge's badges revoked; an issued voucher stays. The challenge "
        "may then be completed again, for its points and badges but no second voucher "
        "(the default).")


@strawberry.type(name="ChallengeConditions", description="What makes an order qualify; "
                 "empty lists mean any.")
class ChallengeConditionsType:
    min_total: int | None = strawberry.field(description="Minimum order total (minor units).")
    currency: str | None = strawberry.field(description="Only orders in this currency.")
    categories_include: list[str] = strawberry.field(description="Only lines in these.")
    categories_exclude: list[str] = strawberry.field(description="Lines in these never count.")
    skus_include: list[str] = strawberry.field(description="Only these SKUs.")
    skus_exclude: list[str] = strawberry.field(description="These SKUs never count.")
    channels: list[ChannelType] = strawberry.field(description="Where the order was placed.")

    @classmethod
    def from_model(cls, c: Conditions) -> Self:
        return cls(min_total=c.min_total, currency=c.currency,
                   categories_include=sorted(c.categories_include),
                   categories_exclude=sorted(c.categories_exclude),
                   skus_include=sorted(c.skus_include), skus_exclude=sorted(c.skus_exclude),
                   channels=[ChannelType(ch) for ch in sorted(c.channels)])


@strawberry.type(name="ChallengeReward", description="What completing the challenge gives.")
class ChallengeRewardType:
    points: int | None = strawberry.field(description="Points (a ledger entry).")
    voucher: GiftVoucherType | None = strawberry.field(description="A voucher.")
    badge_ids: list[relay.GlobalID] = strawberry.field(description="Badges it grants.")
    reward: strawberry.Private[model.ChallengeReward]

    @strawberry.field(description="The reward as members read it.")
    async def in_words(self, info: Info[Context, None]) -> str:
        names = await badge_names(info.context.store) if self.reward.badges else {}
        return reward_words(self.reward, names)

    @classmethod
    def from_model(cls, reward: model.ChallengeReward) -> Self:
        voucher = reward.voucher
        return cls(points=reward.points, badge_ids=badge_global_ids(reward.badges),
                   reward=reward,
                   voucher=None if voucher is None else GiftVoucherType(
                       kind=VoucherKindType[voucher.kind], title=voucher.title,
                       amount_off=voucher.amount_off, percent_off=voucher.percent_off,
                       currency=voucher.currency, product_sku=voucher.product_sku,
                       valid_days=voucher.valid_days))


@strawberry.type(name="Challenge", description="A goal members pursue over a window "
                 "(administrators).")
class ChallengeNode(relay.Node):
    id: relay.NodeID[str]
    title: str = strawberry.field(description="Shown to members.")
    description: str = strawberry.field(description="The administrator's text for members.")
    kind: ChallengeKindType = strawberry.field(description="What it counts.")
    target: int = strawberry.field(description="How much completes it.")
    action_type: str | None = strawberry.field(description="ACTION_COUNT: which action.")
    conditions: ChallengeConditionsType = strawberry.field(description="Qualifying orders.")
    starts_at: datetime | None = strawberry.field(description="Window start (inclusive).")
    ends_at: datetime | None = strawberry.field(description="Window end (exclusive).")
    tiers: list[relay.GlobalID] = strawberry.field(description="For these tiers (empty: all).")
    segments: list[str] = strawberry.field(description="For these segments (empty: all).")
    opt_in: bool = strawberry.field(description="Members join first (challengeJoin); only "
                                    "what happens after joining counts.")
    recurrence: RecurrenceType = strawberry.field(description="How often it may complete.")
    reward: ChallengeRewardType = strawberry.field(description="What completing it gives.")
    refund_policy: RefundPolicyType = strawberry.field(description="Refunds and the reward.")
    active: bool = strawberry.field(description="False once archived.")
    created_at: datetime | None = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, c: model.Challenge) -> Self:
        return cls(
            id=c.id, title=c.title, description=c.description,
            kind=ChallengeKindType(c.kind.value), target=c.target, action_type=c.action_type,
            conditions=ChallengeConditionsType.from_model(c.conditions),
            starts_at=c.conditions.starts_at, ends_at=c.conditions.ends_at,
            tiers=tier_global_ids(c.conditions.tiers), segments=sorted(c.conditions.segments),
            opt_in=c.opt_in, recurrence=RecurrenceType(c.recurrence.value),
            reward=ChallengeRewardType.from_model(c.reward),
            refund_policy=RefundPolicyType(c.refund_policy.value), active=c.active,
            created_at=c.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list["ChallengeNode | None"]:
        ids = list(node_ids)
        if not is_admin(info.context.principal):
            return [None for _ in ids]
        found = await get_challenges(info.context.store, ids)
        return [cls.from_model(found[i]) if i in found else None for i in ids]


@strawberry.type(name="MemberChallenge", description="A challenge as the member sees it, "
                 "with their progress in the current period.")
class MemberChallengeType:
    id: relay.GlobalID = strawberry.field(description="The challenge's id (challengeJoin).")
    title: str = strawberry.field(description="Its title.")
    description: str = strawberry.field(description="The programme's text about it.")
    kind: ChallengeKindType = strawberry.field(description="What it counts.")
    progress: int = strawberry.field(description="How far the member got (at most `target`;"
                                     " minor units for SPEND, weeks for a streak).")
    target: int = strawberry.field(description="What completes it.")
    period: str = strawberry.field(description="The current period: \"all\", \"2026-W49\" "
                                   "or \"2026-12\".")
    ends_at: datetime | None = strawberry.field(description="When the current period (or "
                                                "the challenge) ends.")
    completed_at: datetime | None = strawberry.field(description="When the member completed "
                                                     "it this period (null: not yet).")
    reward: str = strawberry.field(description="What it gives, in words.")
    needs_joining: bool = strawberry.field(description="Opt-in and not joined yet: nothing "
                                           "counts until the member joins.")
    joined_at: datetime | None = strawberry.field(description="When the member joined (opt-in"
                                                  " challenges).")
    next_step: str = strawberry.field(description="What to do next, in the member's words.")

    @classmethod
    def of(cls, found: MemberChallenge) -> Self:
        c = found.challenge
        return cls(id=relay.GlobalID("Challenge", c.id), title=c.title,
                   description=c.description, kind=ChallengeKindType(c.kind.value),
                   progress=found.progress, target=c.target, period=found.period,
                   ends_at=found.ends_at, completed_at=found.completed_at,
                   reward=found.reward, needs_joining=found.needs_joining,
                   joined_at=found.joined_at, next_step=found.next_step)


@strawberry.input(description="What makes an order qualify; omitted or empty means any.")
class ChallengeConditionsInput:
    min_total: int | None = strawberry.field(default=None, description="Minimum order total "
                                             "in minor units of `currency`.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code; "
                                            "required for SPEND and with minTotal.")
    categories_include: list[str] = strawberry.field(default_factory=list,
                                                     description="Only lines in these.")
    categories_exclude: list[str] = strawberry.field(default_factory=list,
                                                     description="Never lines in these.")
    skus_include: list[str] = strawberry.field(default_factory=list,
                                               description="Only these SKUs.")
    skus_exclude: list[str] = strawberry.field(default_factory=list,
                                               description="Never these SKUs.")
    channels: list[ChannelType] = strawberry.field(default_factory=list,
                                                   description="Where the order was placed.")


@strawberry.input(description="What completing a challenge gives: at least one of points, a "
                  "voucher and badges.")
class ChallengeRewardInput:
    points: int | None = strawberry.field(default=None, description="Points (1–1,000,000).")
    voucher: GiftVoucherInput | None = strawberry.field(default=None,
                                                        description="A voucher.")
    badge_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Badges it grants (at most 5, active ones).")


@strawberry.input(description="A challenge.")
class ChallengeInput:
    title: str = strawberry.field(description="Shown to members (1–80 characters).")
    kind: ChallengeKindType = strawberry.field(description="What it counts.")
    target: int = strawberry.field(description="How much completes it.")
    ends_at: datetime = strawberry.field(description="Window end (exclusive), at most two "
                                         "years after the start.")
    reward: ChallengeRewardInput = strawberry.field(description="What completing it gives.")
    description: str = strawberry.field(default="", description="More for members.")
    action_type: str | None = strawberry.field(default=None, description="ACTION_COUNT: the "
                                               "action type (REVIEW, …).")
    conditions: ChallengeConditionsInput | None = strawberry.field(
        default=None, description="Qualifying orders (order kinds only).")
    starts_at: datetime | None = strawberry.field(default=None, description="Window start "
                                                  "(inclusive); default now.")
    tiers: list[relay.GlobalID] = strawberry.field(default_factory=list, description="Only "
                                                   "for members of these tiers.")
    segments: list[str] = strawberry.field(default_factory=list, description="Only for "
                                           "members in any of these segments (names).")
    opt_in: bool = strawberry.field(default=False, description="Members must join first.")
    recurrence: RecurrenceType = strawberry.field(default=RecurrenceType.ONCE,
                                                  description="How often it may complete.")
    refund_policy: RefundPolicyType = strawberry.field(
        default=RefundPolicyType.TAKE_BACK, description="What a refund does to a reward "
        "given (default TAKE_BACK).")


@strawberry.input(description="Replace every field of a challenge.")
class ChallengeUpdateInput(ChallengeInput):
    challenge: relay.GlobalID = strawberry.field(description="The challenge to change.")


@strawberry.input(description="A challenge to archive.")
class ChallengeArchiveInput:
    challenge: relay.GlobalID = strawberry.field(description="The challenge to archive.")


@strawberry.input(description="An opt-in challenge to join.")
class ChallengeJoinInput:
    challenge: relay.GlobalID = strawberry.field(description="The challenge (its id from "
                                                 "`me { challenges { id } }`).")
