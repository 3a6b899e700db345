"""A member's points state: the running totals the ledger keeps in step with its entries."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.collections import MEMBERS
from loyalty.programme.tier_rules import TierStatus, status_from_document
from store import Session, Store


@dataclass(frozen=True, slots=True)
class MemberState:
    member_id: str
    points: int = 0
    """Σ of the member's ledger entries = Σ of open lots − debt."""
    debt: int = 0
    """Points reversed after they were spent; future earnings settle it first."""
    lifetime_earned: int = 0
    orders_count: int = 0
    first_order_at: datetime | None = None
    tier: TierStatus = TierStatus()
    qualifying: Mapping[str, Mapping[str, int]] | None = None
    """Monthly buckets: {"2026-11": {"points": …, "spend": …, "orders": …}} (tiers and
    segments)."""
    last_order_at: datetime | None = None
    spend_total: int = 0
    """Money spent on orders, net of refunds (minor units, as recorded)."""
    category_spend: Mapping[str, int] | None = None
    """Line amounts by category (keys from `loyalty.segments.policy.category_key`), net of
    refunds."""
    reward_counts: Mapping[str, int] | None = None
    """Vouchers held (issued, not cancelled) per reward id: the per-member limits."""
    badges: Mapping[str, Mapping[str, Any]] | None = None
    """The badges held: {<badge id>: {earned_at, source, source_id, reason}} (see
    loyalty/badges/awards.py)."""
    leaderboard_name: str | None = None
    """The display name of a member who joined the leaderboards (loyalty/play)."""
    challenges_joined: Mapping[str, datetime] | None = None
    """When the member joined each opt-in challenge (challenge id → time)."""


def state_from_document(member_id: str, doc: Mapping[str, Any] | None) -> MemberState:
    if doc is None:
        return MemberState(member_id)
    return MemberState(
        member_id=member_id, points=doc.get("points", 0), debt=doc.get("debt", 0),
        lifetime_earned=doc.get("lifetime_earned", 0), orders_count=doc.get("orders_count", 0),
        first_order_at=doc.get("first_order_at"), tier=status_from_document(doc),
        qualifying=doc.get("qualifying") or {}, last_order_at=doc.get("last_order_at"),
        spend_total=doc.get("spend_total", 0), category_spend=doc.get("category_spend") or {},
        reward_counts=doc.get("reward_counts") or {},
        badges=doc.get("badges") or {},
        leaderboard_name=(doc.get("leaderboard") or {}).get("name"),
        challenges_joined=doc.get("challenges_joined") or {},
    )


async def read_member(store: Store, member_id: str, *, session: Session | None = None) -> (
    MemberState
):
    doc = await store.collection(MEMBERS).find_one({"_id": member_id}, session=session)
    return state_from_document(member_id, doc)
