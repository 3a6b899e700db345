"""What every member screen reads and administrators change rarely — the programme (with
its tiers), the earning rules, the rewards on offer and the segment definitions — through
the store's read cache (store/read_cache.py): a home screen pays no round trip for them.

Only for showing. What a write decides on (a redemption's price, stock and eligibility, an
earn's rules) is read in its own transaction.
"""

from datetime import datetime

from loyalty.collections import EARNING_RULES, PROGRAMME, REWARDS, SEGMENTS
from loyalty.earning.rules.model import EarningRule
from loyalty.earning.rules.store import active_rules
from loyalty.programme.settings import Programme, load_programme
from loyalty.rewards.catalogue import active_rewards
from loyalty.rewards.policy import Reward
from loyalty.segments.definitions import segment_definitions
from loyalty.segments.policy import Segment
from store import Store


async def programme(store: Store) -> Programme:
    return await store.reads.get(PROGRAMME, lambda: load_programme(store))


async def earning_rules(store: Store) -> tuple[EarningRule, ...]:
    """The active rules, highest priority first (campaigns outside their dates included)."""
    return await store.reads.get(EARNING_RULES, lambda: active_rules(store))


async def rewards_on_offer(store: Store, *, now: datetime) -> list[Reward]:
    """The active rewards whose window contains `now`, newest first."""
    rewards = await store.reads.get(REWARDS, lambda: active_rewards(store))
    return [reward for reward in rewards if reward.in_window(now)]


async def segments(store: Store) -> tuple[Segment, ...]:
    return await store.reads.get(SEGMENTS, lambda: segment_definitions(store))
