"""What a member's app screens show — points, tier, the rewards catalogue priced for them,
personal offers — computed from one snapshot of the member (loyalty/ledger/snapshot.py) and the
cached reference data (loyalty/members/reference.py). Whatever of these a request asks for, the
member costs the snapshot's two queries and the reference data nothing while it is cached.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime

from loyalty.ledger.snapshot import MemberSnapshot
from loyalty.members import reference
from loyalty.members.offers import MAX_OFFERS, Offer, general_offers, rank_offers
from loyalty.programme.tier_rules import TierView, tier_view
from loyalty.rewards.policy import Redeemer, Reward, RewardView, best_first, view_for
from loyalty.segments.policy import favourite_categories, segments_of
from store import Store

type Birthday = Callable[[], Awaitable[date | None]]
"""How to get the member's birthday, asked only when a segment depends on it."""


async def tier(store: Store, snapshot: MemberSnapshot, *, now: datetime) -> TierView:
    programme = await reference.programme(store)
    member = snapshot.state
    return tier_view(programme.tiers, programme.tier_policy, member.tier,
                     member.qualifying or {}, now, programme.timezone)


async def segments(
    store: Store, snapshot: MemberSnapshot, *, birthday: Birthday, now: datetime
) -> frozenset[str]:
    """The names of the segments the member belongs to at `now`."""
    definitions = await reference.segments(store)
    if not definitions:
        return frozenset()
    programme = await reference.programme(store)
    member = snapshot.state
    born = await birthday() if any(s.conditions.needs_birthday for s in definitions) else None
    return segments_of(definitions, member, born, member.tier.tier_id, now,
                       programme.timezone)


async def reward_views(
    store: Store, snapshot: MemberSnapshot, rewards: Sequence[Reward], *,
    birthday: Birthday, now: datetime,
) -> list[RewardView]:
    """`rewards` as the member sees them (in the order given)."""
    if not rewards:
        return []
    programme = await reference.programme(store)
    member = snapshot.state
    redeemer = Redeemer(
        tier_id=member.tier.tier_id, balance=snapshot.balance(now),
        reward_counts=member.reward_counts or {}, badges=frozenset(member.badges or {}),
        segments=(await segments(store, snapshot, birthday=birthday, now=now)
                  if any(r.draft.segments for r in rewards) else frozenset()),
    )
    return [view_for(r, redeemer, tiers=programme.tiers, now=now, timezone=programme.timezone)
            for r in rewards]


async def catalogue(
    store: Store, snapshot: MemberSnapshot, *, birthday: Birthday, now: datetime
) -> list[RewardView]:
    """The active rewards in their window, as the member sees them, best for them first."""
    rewards = await reference.rewards_on_offer(store, now=now)
    return best_first(await reward_views(store, snapshot, rewards, birthday=birthday, now=now))


async def offers(
    store: Store, snapshot: MemberSnapshot, *, birthday: Birthday, now: datetime,
    limit: int, personalised: bool = True,
) -> list[Offer]:
    """The member's top offers (at most `limit`, capped at MAX_OFFERS); without
    `personalised` (the member's consent), the general offers every member gets."""
    rules = await reference.earning_rules(store)
    programme = await reference.programme(store)
    if not personalised:
        return general_offers(await reference.rewards_on_offer(store, now=now), rules, now=now,
                              limit=min(limit, MAX_OFFERS), timezone=programme.timezone)
    views = await catalogue(store, snapshot, birthday=birthday, now=now)
    return rank_offers(views, rules, lots=snapshot.live_lots(now),
                       favourites=favourite_categories(snapshot.state.category_spend or {}),
                       now=now, limit=min(limit, MAX_OFFERS), timezone=programme.timezone)
