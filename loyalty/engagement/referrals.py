"""Referrals: every member's code, the link a new member makes by registering with one, and
the reward both sides earn when the new member's first order is recorded.

Links are made only when an account is created (in the same transaction), to a member who
already exists. So nobody can refer themselves, and the "referred by" relation always points
from a newer member to an older one: a loop (A refers B and B refers A, or any longer
cycle) cannot form, and an existing member cannot be linked afterwards (registering again
with the same email is EMAIL_TAKEN).

The reward is given inside the first order's transaction (`record_order`), once: only the
order that takes `orders_count` from 0 to 1 triggers it, concurrent first orders conflict
on the member document so only one commits as first, and every reward has a once-only key
(`referral:<new member>:referrer|referee`). A refund of that first order does not take the
reward back: it pays for bringing in a customer who bought, which a later refund does not
undo (administrators can correct abuse with `pointsAdjust` or by cancelling the voucher).
"""

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.audit import Audit
from loyalty.collections import MEMBERS
from loyalty.engagement.gifts import (
    Gift,
    GiftStatus,
    Occasion,
    gift_document,
    gift_from_document,
    grant_points,
    load_settings,
    record_gift,
    save_settings,
)
from loyalty.programme.settings import Programme
from store import NotFound, Session, Store, is_duplicate_key
from store.clock import Clock

# Crockford's base32: no I, L, O or U; typed I and L read as 1, O as 0.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8  # 40 random bits: unguessable enough for a code that only earns a reward
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_CODE_ATTEMPTS = 5
_SETTINGS = "referral"

type Enrolment = Callable[[Session, str, datetime], Awaitable[None]]


class UnknownReferralCode(NotFound):
    code = "UNKNOWN_REFERRAL_CODE"


@dataclass(frozen=True, slots=True)
class ReferralReward:
    """What each side gets; None gives that side nothing."""

    referrer: Gift | None
    referee: Gift | None


def new_referral_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_referral_code(typed: str) -> str | None:
    """The canonical form of a typed code (case, spaces and dashes ignored), or None when
    it cannot be a referral code."""
    cleaned = "".join(typed.split()).replace("-", "").upper().translate(_READ_AS)
    if len(cleaned) != CODE_LENGTH or any(symbol not in ALPHABET for symbol in cleaned):
        return None
    return cleaned


async def referral_code(store: Store, *, member_id: str) -> str:
    """The member's referral code, drawn the first time it is asked for (concurrent first
    calls agree on one code)."""
    members = store.collection(MEMBERS)
    for _ in range(_CODE_ATTEMPTS):
        doc = await members.find_one({"_id": member_id}, {"referral_code": 1})
        if doc is not None and doc.get("referral_code"):
            return str(doc["referral_code"])
        code = new_referral_code()
        try:
            # Upserts the member document if it does not exist yet. A duplicate key is
            # either a code drawn twice or a concurrent call that just set the code (the
            # filter then no longer matches and the upsert collides on _id): look again.
            await members.update_one(
                {"_id": member_id, "referral_code": {"$exists": False}},
                {"$set": {"referral_code": code}}, upsert=True,
            )
        except Exception as error:
            if not is_duplicate_key(error):
                raise
    raise RuntimeError("could not draw a unique referral code")


async def find_referrer(store: Store, code: str, *, session: Session | None = None) -> (
    str | None
):
    doc = await store.collection(MEMBERS).find_one({"referral_code": code}, {"_id": 1},
                                                   session=session)
    return str(doc["_id"]) if doc else None


async def enrolment(store: Store, *, referral_code: str) -> Enrolment:
    """What registering with `referral_code` adds to the new account's transaction: the
    link to the referrer. Raises UnknownReferralCode before anything is created."""
    field = ("input", "referralCode")
    code = normalize_referral_code(referral_code)
    referrer = await find_referrer(store, code) if code else None
    if code is None or referrer is None:
        raise UnknownReferralCode("No member has this referral code.", field=field)

    async def link(session: Session, member_id: str, joined_at: datetime) -> None:
        if member_id == referrer:  # impossible for a new account; kept as the rule itself
            raise UnknownReferralCode("You cannot refer yourself.", field=field)
        await store.collection(MEMBERS).update_one(
            {"_id": member_id, "referred_by": {"$exists": False}},
            {"$set": {"referred_by": {"member_id": referrer, "code": code, "at": joined_at}}},
            upsert=True, session=session,
        )

    return link


async def referrer_of(store: Store, *, member_id: str) -> str | None:
    doc = await store.collection(MEMBERS).find_one({"_id": member_id}, {"referred_by": 1})
    link = (doc or {}).get("referred_by")
    return str(link["member_id"]) if link else None


async def load_referral_reward(store: Store, *, session: Session | None = None) -> (
    ReferralReward | None
):
    doc = await load_settings(store, _SETTINGS, session=session)
    if doc is None:
        return None
    return ReferralReward(referrer=gift_from_document(doc.get("referrer")),
                          referee=gift_from_document(doc.get("referee")))


async def save_referral_reward(store: Store, reward: ReferralReward | None, *,
                               clock: Clock, audit: Audit | None) -> ReferralReward | None:
    """Store the (already checked) reward; None, or nothing for either side, switches
    referral rewards off. Applies to first orders recorded from now on."""
    if reward is not None and reward.referrer is None and reward.referee is None:
        reward = None
    fields: dict[str, Any] | None = None
    if reward is not None:
        fields = {side: gift_document(gift) if gift else None
                  for side, gift in (("referrer", reward.referrer), ("referee", reward.referee))}
    await save_settings(store, _SETTINGS, fields, now=clock(), audit=audit,
                        operation="referralRewardSet")
    return reward


async def reward_first_order(
    store: Store, session: Session, *, member_id: str, order_id: str, now: datetime,
    programme: Programme,
) -> tuple[str, ...]:
    """Inside the transaction recording `member_id`'s first order: reward the member who
    referred them, and them, once. Points are credited here; a voucher is left PENDING for
    `scanner.gifts` to issue once the order is committed: returns those gifts' keys."""
    doc = await store.collection(MEMBERS).find_one({"_id": member_id}, {"referred_by": 1},
                                                   session=session)
    link = (doc or {}).get("referred_by")
    if not link or link.get("rewarded_at") is not None:
        return ()
    reward = await load_referral_reward(store, session=session)
    sides = (("referrer", link["member_id"], reward.referrer if reward else None,
              "Referral reward: a friend you invited made their first order"),
             ("referee", member_id, reward.referee if reward else None,
              "Welcome reward: you joined with a friend's referral code"))
    details = {"referee": member_id, "referrer": link["member_id"], "order_id": order_id}
    pending: list[str] = []
    for side, beneficiary, gift, reason in sides:
        key = f"referral:{member_id}:{side}"
        if gift is not None and gift.points:
            await grant_points(store, session, key=key, member_id=beneficiary,
                               occasion=Occasion.REFERRAL, points=gift.points, reason=reason,
                               now=now, programme=programme, details=details)
        elif gift is not None:
            await record_gift(store, session, key=key, member_id=beneficiary,
                              occasion=Occasion.REFERRAL, gift=gift,
                              status=GiftStatus.PENDING, now=now, details=details)
            pending.append(key)
    await store.collection(MEMBERS).update_one(
        {"_id": member_id},
        {"$set": {"referred_by.order_id": order_id, "referred_by.rewarded_at": now,
                  "referred_by.rewarded": reward is not None}},
        session=session,
    )
    return tuple(pending)
