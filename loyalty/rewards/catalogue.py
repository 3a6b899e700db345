"""The rewards catalogue: administrators create, change and remove rewards without a deploy;
members read it with their price, whether they can afford it and whether they may redeem it.

Document shapes: see loyalty/collections.py (`rewards`). The stock is two counters on the
reward: `redeemed` (vouchers issued and not cancelled, what the stock limits) and `issued`
(ever issued). Taking one is a single conditional update inside the redemption's
transaction, so `redeemed` never passes `stock`. How many vouchers of each reward a member
holds is kept on the member's totals document (`reward_counts.<reward id>`), which every
redemption and cancellation updates anyway: the per-member limit costs no round trip
(`MemberState.reward_counts`).
Redeeming and cancelling are in scanner/reward_redemption.py (they issue vouchers).
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import events
from events import Event, EventType, Subject, SubjectKind
from events import audit as audit_log
from events.audit import Audit, Target
from loyalty.badges.catalogue import require_badges
from loyalty.collections import PROGRAMME, REWARDS
from loyalty.programme.ladder import list_tiers, tiers_from_programme
from loyalty.programme.tier_rules import Tier
from loyalty.purchases import Channel
from loyalty.rewards.policy import (
    Reward,
    RewardDraft,
    RewardInUse,
    RewardKind,
    TierCost,
    UnknownReward,
    apply_changes,
)
from loyalty.rewards.validation import validate_draft
from loyalty.segments.definitions import rule_references
from store import Document, IndexSpec, InvalidInput, Session, Store, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

REWARD = "Reward"
"""Rewards' type in the audit trail."""

INDEXES = (
    # The members' catalogue: the active rewards.
    IndexSpec(REWARDS, (("active", 1), ("_id", -1)), name="active_newest"),
)
MAX_CATALOGUE = 500
"""Rewards a member's catalogue considers (it is sorted for the member, in memory)."""
_REWARD_ID = ("input", "rewardId")
_PROGRAMME_ID = "programme"


async def _references(
    store: Store, segments: Sequence[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """The ids of the tiers, and which of `segments` name a segment."""
    tiers = await list_tiers(store)
    _, names = await rule_references(store, tiers=(), segments=segments)
    return frozenset(t.id for t in tiers), names


async def _validated(store: Store, draft: RewardDraft) -> RewardDraft:
    tier_ids, names = await _references(store, draft.segments)
    checked = validate_draft(draft, tier_ids=tier_ids, segment_names=names)
    return replace(checked, badges=await _badges(store, draft.badges))


async def _badges(store: Store, badge_ids: Sequence[str]) -> tuple[str, ...]:
    """The badges a reward asks for, checked to exist and be active (UnknownBadge)."""
    return tuple(sorted(await require_badges(store, badge_ids, field=("input", "badgeIds"))))


async def create_reward(
    store: Store, *, draft: RewardDraft, clock: Clock, audit: Audit | None
) -> Reward:
    """Validate and store a new reward, audited as `audit`; raises the validation errors,
    writing nothing."""
    now = clock()
    reward = Reward(id=new_id(), draft=await _validated(store, draft), redeemed=0, issued=0,
                    created_at=now, updated_at=now)
    await audit_log.insert(
        store, audit, operation="rewardCreate", target=Target(REWARD, reward.id),
        collection=REWARDS, at=now,
        document={"_id": reward.id, **_draft_document(reward.draft), "redeemed": 0,
                  "issued": 0, "created_at": now, "updated_at": now})
    store.reads.forget(REWARDS)
    return reward


async def update_reward(
    store: Store, *, reward_id: str, changes: Mapping[str, Any], clock: Clock,
    audit: Audit | None,
) -> Reward:
    """Apply `changes` (draft field → value) and validate the result as a whole; the stock
    cannot go below what members hold. Raises UnknownReward or the validation errors."""
    before = await _reward(store, reward_id)
    tier_ids, names = await _references(
        store, [*before.draft.segments, *changes.get("segments", ())]
    )
    if "badges" in changes:
        changes = {**changes, "badges": await _badges(store, changes["badges"])}

    async def work(session: Session) -> Reward:
        # Changes apply to the reward as the transaction reads it: two administrators
        # changing different fields at once both win, and the stock check sees the counters.
        current = await read_reward(store, session, reward_id=reward_id)
        draft = validate_draft(apply_changes(current.draft, changes), tier_ids=tier_ids,
                               segment_names=names)
        if draft.stock is not None and draft.stock < current.redeemed:
            raise InvalidInput(f"Members hold {current.redeemed} of this reward: the stock "
                               "cannot be lower.", field=("input", "stock"))
        now = clock()
        # In a transaction: a redemption taking stock meanwhile makes one of the two retry.
        await store.collection(REWARDS).update_one(
            {"_id": reward_id}, {"$set": {**_draft_document(draft), "updated_at": now}},
            session=session,
        )
        if audit is not None:
            audit.record(store, session, operation="rewardUpdate",
                         target=Target(REWARD, reward_id), at=now,
                         before=_draft_document(current.draft), after=_draft_document(draft))
        return Reward(id=reward_id, draft=draft, redeemed=current.redeemed,
                      issued=current.issued, created_at=current.created_at, updated_at=now)

    try:
        return await store.transaction(work)
    finally:
        store.reads.forget(REWARDS)


async def delete_reward(
    store: Store, *, reward_id: str, clock: Clock, audit: Audit | None
) -> None:
    """Remove a reward no voucher was ever issued for; raises UnknownReward or RewardInUse
    (switch it off instead: its vouchers refer to it)."""
    deleted = await audit_log.delete(
        store, audit, operation="rewardDelete", target=Target(REWARD, reward_id),
        collection=REWARDS, filter={"_id": reward_id, "issued": 0}, at=clock())
    if deleted is not None:
        store.reads.forget(REWARDS)
        return
    if await store.collection(REWARDS).count_documents({"_id": reward_id}, limit=1):
        raise RewardInUse("Vouchers were issued for this reward: switch it off instead.",
                          field=_REWARD_ID)
    raise UnknownReward("No reward has this id.", field=_REWARD_ID)


async def get_rewards(store: Store, reward_ids: Sequence[str]) -> dict[str, Reward]:
    """The stored rewards among `reward_ids`, by id (one query)."""
    cursor = store.collection(REWARDS).find({"_id": {"$in": list(reward_ids)}})
    return {doc["_id"]: reward_from_document(doc) async for doc in cursor}


async def list_rewards(
    store: Store, *, first: int, after_id: str | None
) -> tuple[list[Reward], Page]:
    """Every reward, switched off and ended ones too, newest first (administrators)."""
    page = await fetch_page(store.collection(REWARDS), filter={}, first=first,
                            after_id=after_id, descending=True)
    return [reward_from_document(doc) for doc in page.documents], page


async def _reward(store: Store, reward_id: str) -> Reward:
    doc = await store.collection(REWARDS).find_one({"_id": reward_id})
    if doc is None:
        raise UnknownReward("No reward has this id.", field=_REWARD_ID)
    return reward_from_document(doc)


async def active_rewards(store: Store) -> tuple[Reward, ...]:
    """The switched-on rewards, newest first (at most MAX_CATALOGUE), whatever their window:
    what members' catalogues are made from (through loyalty.members.reference's cache)."""
    cursor = store.collection(REWARDS).find({"active": True}).sort("_id", -1).limit(
        MAX_CATALOGUE
    )
    return tuple([reward_from_document(doc) async for doc in cursor])


# --- inside a redemption's or a cancellation's transaction ----------------------------


def held_change(reward_id: str, delta: int) -> dict[str, Any]:
    """The `member_changes` (for posting's credit/debit) that count a voucher in or out."""
    return {"$inc": {f"reward_counts.{reward_id}": delta}}


async def take_one(
    store: Store, session: Session, *, reward_id: str, now: datetime
) -> Reward | None:
    """Count one more voucher against the stock of an active reward, if any is left: one
    conditional update, so the stock is never overdrawn. The reward as it was before, or
    None when it is unknown, switched off or out of stock (`read_reward` says which).
    Taking the last unit records the reward's out-of-stock event."""
    doc = await store.collection(REWARDS).find_one_and_update(
        {"_id": reward_id, "active": True,
         "$or": [{"stock": None}, {"$expr": {"$lt": ["$redeemed", "$stock"]}}]},
        {"$inc": {"redeemed": 1, "issued": 1}},
        session=session,
    )
    if doc is None:
        return None
    reward = reward_from_document(doc)
    if reward.remaining == 1:
        events.record(store, session, Event(
            EventType.REWARD_OUT_OF_STOCK, Subject(SubjectKind.REWARD, reward.id),
            occurred_at=now, member_id=None,
            data={"reward": {"id": reward.id, "title": reward.draft.title,
                             "stock": reward.draft.stock}},
        ))
    return reward


async def read_reward(store: Store, session: Session, *, reward_id: str) -> Reward:
    doc = await store.collection(REWARDS).find_one({"_id": reward_id}, session=session)
    if doc is None:
        raise UnknownReward("No reward has this id.", field=_REWARD_ID)
    return reward_from_document(doc)


async def give_one_back(store: Store, session: Session, *, reward_id: str) -> None:
    """A cancelled voucher's unit goes back to the stock (a removed reward has none)."""
    await store.collection(REWARDS).update_one(
        {"_id": reward_id, "redeemed": {"$gt": 0}}, {"$inc": {"redeemed": -1}}, session=session
    )


async def tiers_in(store: Store, session: Session) -> list[Tier]:
    """The tier ladder, read in the transaction's snapshot."""
    doc = await store.collection(PROGRAMME).find_one({"_id": _PROGRAMME_ID}, {"tiers": 1},
                                                     session=session)
    return tiers_from_programme(doc)


# --- documents ---------------------------------------------------------------------------


def _draft_document(d: RewardDraft) -> Document:
    return {
        "title": d.title, "description": d.description, "kind": d.kind.value,
        "amount_off": d.amount_off, "percent_off": d.percent_off, "currency": d.currency,
        "product_sku": d.product_sku, "image_url": d.image_url, "cost": d.cost,
        "tier_costs": [{"tier_id": t.tier_id, "cost": t.cost} for t in d.tier_costs],
        "stock": d.stock, "per_member_limit": d.per_member_limit, "min_tier_id": d.min_tier_id,
        "segments": list(d.segments), "early_access_until": d.early_access_until,
        "early_access_min_tier_id": d.early_access_min_tier_id, "active": d.active,
        "active_from": d.active_from, "active_to": d.active_to,
        "voucher_valid_days": d.voucher_valid_days,
        "channels": [c.value for c in d.channels], "min_order_total": d.min_order_total,
        "badges": list(d.badges),
    }


def reward_from_document(doc: Mapping[str, Any]) -> Reward:
    draft = RewardDraft(
        title=doc["title"], description=doc.get("description", ""),
        kind=RewardKind(doc["kind"]), cost=doc["cost"], amount_off=doc.get("amount_off"),
        percent_off=doc.get("percent_off"), currency=doc.get("currency"),
        product_sku=doc.get("product_sku"), image_url=doc.get("image_url"),
        tier_costs=tuple(TierCost(t["tier_id"], t["cost"]) for t in doc.get("tier_costs", ())),
        stock=doc.get("stock"), per_member_limit=doc.get("per_member_limit"),
        min_tier_id=doc.get("min_tier_id"), segments=tuple(doc.get("segments", ())),
        early_access_until=doc.get("early_access_until"),
        early_access_min_tier_id=doc.get("early_access_min_tier_id"),
        active=doc["active"], active_from=doc.get("active_from"),
        active_to=doc.get("active_to"), voucher_valid_days=doc["voucher_valid_days"],
        channels=tuple(Channel(c) for c in doc["channels"]),
        min_order_total=doc.get("min_order_total"),
        badges=tuple(doc.get("badges", ())),
    )
    return Reward(id=doc["_id"], draft=draft, redeemed=doc.get("redeemed", 0),
                  issued=doc.get("issued", 0), created_at=doc["created_at"],
                  updated_at=doc["updated_at"])
