"""The rewards catalogue as pure policy: what a reward is, what it costs a member, whether
the member may redeem it now and why not, and the order a member sees the catalogue in. No
I/O; `loyalty/rewards/validation.py` checks what administrators write,
`loyalty/rewards/catalogue.py` stores rewards.

A reward's price is its `cost`, or a lower price set for a tier (`tier_costs`): a member
pays the lowest of the base cost and the tier costs of their tier and the tiers below it,
so a higher tier never pays more than a lower one.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from loyalty import member_dates
from loyalty.badges.policy import NotEligibleBadge
from loyalty.errors import InsufficientPoints
from loyalty.programme.tier_rules import Tier, rank
from loyalty.purchases import Channel
from store import KizunaError, NotFound


class RewardKind(StrEnum):
    """What the voucher of a reward gives (the same kinds as scanner's vouchers)."""

    AMOUNT_OFF = "AMOUNT_OFF"
    PERCENT_OFF = "PERCENT_OFF"
    FREE_SHIPPING = "FREE_SHIPPING"
    FREE_PRODUCT = "FREE_PRODUCT"
    EXPERIENCE = "EXPERIENCE"


class UnknownReward(NotFound):
    code = "UNKNOWN_REWARD"


class RewardInactive(KizunaError):
    code = "REWARD_INACTIVE"


class RewardInUse(KizunaError):
    """Vouchers were issued for the reward: it can be switched off, not removed."""

    code = "REWARD_IN_USE"


class NotYetAvailable(KizunaError):
    code = "NOT_YET_AVAILABLE"


class RewardEnded(KizunaError):
    code = "ENDED"


class NotEligibleTier(KizunaError):
    code = "NOT_ELIGIBLE_TIER"


class NotEligibleSegment(KizunaError):
    code = "NOT_ELIGIBLE_SEGMENT"


class EarlyAccess(KizunaError):
    """Before `early_access_until` only members at or above a tier may redeem."""

    code = "EARLY_ACCESS"


class LimitReached(KizunaError):
    code = "LIMIT_REACHED"


class OutOfStock(KizunaError):
    code = "OUT_OF_STOCK"


@dataclass(frozen=True, slots=True)
class TierCost:
    tier_id: str
    cost: int


@dataclass(frozen=True, slots=True)
class RewardDraft:
    """What an administrator writes; `validate_draft` checks it before it is stored."""

    title: str
    kind: RewardKind
    cost: int
    description: str = ""
    amount_off: int | None = None
    percent_off: int | None = None
    currency: str | None = None
    product_sku: str | None = None
    image_url: str | None = None
    tier_costs: tuple[TierCost, ...] = ()
    stock: int | None = None
    """Vouchers that can ever be outstanding (None: unlimited); cancelled ones come back."""
    per_member_limit: int | None = None
    min_tier_id: str | None = None
    segments: tuple[str, ...] = ()
    """Only members in at least one of these segments may redeem (empty: everyone)."""
    early_access_until: datetime | None = None
    early_access_min_tier_id: str | None = None
    active: bool = True
    active_from: datetime | None = None
    active_to: datetime | None = None
    voucher_valid_days: int = 30
    channels: tuple[Channel, ...] = (Channel.ONLINE, Channel.STORE)
    min_order_total: int | None = None
    badges: tuple[str, ...] = ()
    """Only members holding all of these badges may redeem (empty: everyone)."""

    @property
    def uses_tiers(self) -> bool:
        return bool(self.min_tier_id or self.early_access_min_tier_id or self.tier_costs)


DRAFT_FIELDS = frozenset(f.name for f in fields(RewardDraft))


@dataclass(frozen=True, slots=True)
class Reward:
    id: str
    draft: RewardDraft
    redeemed: int
    """Vouchers issued and not cancelled: what counts against the stock."""
    issued: int
    """Vouchers ever issued (never decreases)."""
    created_at: datetime
    updated_at: datetime

    @property
    def remaining(self) -> int | None:
        stock = self.draft.stock
        return None if stock is None else max(0, stock - self.redeemed)

    def in_window(self, now: datetime) -> bool:
        d = self.draft
        return ((d.active_from is None or d.active_from <= now)
                and (d.active_to is None or now < d.active_to))


def apply_changes(draft: RewardDraft, changes: Mapping[str, Any]) -> RewardDraft:
    """`draft` with the given fields replaced (an update names only what it changes)."""
    unknown = set(changes) - DRAFT_FIELDS
    if unknown:
        raise ValueError(f"not reward fields: {sorted(unknown)}")
    return replace(draft, **changes)


# --- what a member may redeem --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Redeemer:
    """What eligibility needs to know about a member."""

    tier_id: str | None
    balance: int
    """Spendable points (after any debt)."""
    reward_counts: Mapping[str, int] = field(default_factory=dict)
    """Vouchers held per reward id (issued and not cancelled)."""
    segments: frozenset[str] = frozenset()
    badges: frozenset[str] = frozenset()
    """The ids of the badges the member holds."""


def member_in_segments(required: Sequence[str], member_segments: frozenset[str]) -> bool:
    """Whether a member in `member_segments` may have a reward limited to `required`
    (in any one of them); a reward limited to no segment is for everyone."""
    return not required or any(name in member_segments for name in required)


def cost_for(reward: Reward, tier_id: str | None, tiers: Sequence[Tier]) -> int:
    """The lowest of the base cost and the tier costs of the member's tier and below."""
    member_rank = rank(tiers, tier_id)
    costs = [reward.draft.cost]
    for tier_cost in reward.draft.tier_costs:
        tier_rank = rank(tiers, tier_cost.tier_id)
        if 0 < tier_rank <= member_rank:
            costs.append(tier_cost.cost)
    return min(costs)


def _tier_name(tiers: Sequence[Tier], tier_id: str | None) -> str:
    return next((t.name for t in tiers if t.id == tier_id), "a higher tier")


def _reaches(tiers: Sequence[Tier], member_tier: str | None, required: str) -> bool:
    """At or above `required`; a tier that no longer exists lets nobody in."""
    needed = rank(tiers, required)
    return needed > 0 and rank(tiers, member_tier) >= needed


def ineligibility(
    reward: Reward, redeemer: Redeemer, *, tiers: Sequence[Tier], now: datetime,
    timezone: ZoneInfo,
) -> KizunaError | None:
    """The first reason the member may not redeem `reward` now (points aside), or None:
    switched off, not started, ended, tier, segment, badges, early access, their limit, stock.
    Dates in the message are in `timezone` (the programme's) and say so."""
    d = reward.draft
    if not d.active:
        return RewardInactive("This reward is not available.")
    if d.active_from is not None and now < d.active_from:
        return NotYetAvailable(
            f"This reward is available from {member_dates.starts(d.active_from, timezone)}."
        )
    if d.active_to is not None and now >= d.active_to:
        return RewardEnded(
            f"This reward ended on {member_dates.ends(d.active_to, timezone)}."
        )
    if d.min_tier_id is not None and not _reaches(tiers, redeemer.tier_id, d.min_tier_id):
        return NotEligibleTier(
            f"Reach {_tier_name(tiers, d.min_tier_id)} to unlock this reward."
        )
    if not member_in_segments(d.segments, redeemer.segments):
        return NotEligibleSegment("This reward is offered to other members.")
    if not set(d.badges) <= redeemer.badges:
        return NotEligibleBadge("Earn the badges this reward asks for to unlock it.")
    if (d.early_access_until is not None and d.early_access_min_tier_id is not None
            and now < d.early_access_until
            and not _reaches(tiers, redeemer.tier_id, d.early_access_min_tier_id)):
        return EarlyAccess(
            f"{_tier_name(tiers, d.early_access_min_tier_id)} members have early access "
            f"until {member_dates.ends(d.early_access_until, timezone)}."
        )
    held = redeemer.reward_counts.get(reward.id, 0)
    if d.per_member_limit is not None and held >= d.per_member_limit:
        return LimitReached(
            f"You can have this reward {d.per_member_limit} time(s); you have had it {held}."
        )
    if reward.remaining == 0:
        return OutOfStock("This reward is out of stock.")
    return None


@dataclass(frozen=True, slots=True)
class RewardView:
    """A reward as one member sees it."""

    reward: Reward
    cost: int
    affordable: bool
    shortfall: int
    """Points still missing (0 when affordable)."""
    problem: KizunaError | None
    held: int
    """Vouchers the member holds from it (issued and not cancelled)."""

    @property
    def eligible(self) -> bool:
        return self.problem is None


def price_to_redeem(
    reward: Reward, redeemer: Redeemer, *, tiers: Sequence[Tier], now: datetime,
    stock_taken: bool, timezone: ZoneInfo,
) -> int:
    """What the member pays for `reward` now; raises why they may not have it: the first
    ineligibility (its dates in `timezone`), OutOfStock when no unit could be taken
    (`stock_taken` False), or InsufficientPoints."""
    problem = ineligibility(reward, redeemer, tiers=tiers, now=now, timezone=timezone)
    if problem is None and not stock_taken:
        problem = OutOfStock("This reward is out of stock.")
    if problem is not None:
        raise problem
    cost = cost_for(reward, redeemer.tier_id, tiers)
    if redeemer.balance < cost:
        raise InsufficientPoints(f"This reward costs {cost} points; you have "
                                 f"{redeemer.balance}.")
    return cost


def view_for(
    reward: Reward, redeemer: Redeemer, *, tiers: Sequence[Tier], now: datetime,
    timezone: ZoneInfo,
) -> RewardView:
    """`reward` as `redeemer` sees it at `now` (dates in its problem in `timezone`)."""
    cost = cost_for(reward, redeemer.tier_id, tiers)
    return RewardView(
        reward=reward, cost=cost, affordable=redeemer.balance >= cost,
        shortfall=max(0, cost - redeemer.balance),
        problem=ineligibility(reward, redeemer, tiers=tiers, now=now, timezone=timezone),
        held=redeemer.reward_counts.get(reward.id, 0),
    )


def best_first(views: Sequence[RewardView]) -> list[RewardView]:
    """Eligible before not eligible; within each, affordable first (the most valuable one
    first), then the closest to affordable; ties by title."""
    return sorted(
        views,
        key=lambda v: (not v.eligible, v.shortfall, -v.cost if v.affordable else v.cost,
                       v.reward.draft.title.lower(), v.reward.id),
    )
