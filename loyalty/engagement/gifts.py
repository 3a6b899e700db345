"""Gifts: points or a voucher given for an occasion (a birthday, a referral), at most once
per key.

Every gift leaves a record in `gifts` whose `_id` is its once-only key, written in the same
transaction as the gift itself: a second grant for the same key is a duplicate-key error,
however many job runs or requests race for it. A points gift is one EARN ledger entry with
that same key. A voucher gift is issued by `scanner.gifts` (loyalty may not issue vouchers);
when loyalty decides on one inside its own transaction (a referral's first order) it writes
the record as PENDING, an outbox that `scanner.gifts` turns into the voucher exactly once:
right after the order commits (`deliver_gifts_now`), or else at the next job run
(`deliver_pending_gifts`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from events.audit import Audit, Target
from loyalty.collections import GIFT_SETTINGS, GIFTS, MEMBERS
from loyalty.ledger.entries import SYSTEM, Entry, EntryKind, Source
from loyalty.ledger.member_state import read_member
from loyalty.ledger.posting import Movement, credit
from loyalty.programme.settings import Programme
from store import IndexSpec, InvalidInput, Session, Store

MAX_GIFT_POINTS = 1_000_000


class Occasion(StrEnum):
    BIRTHDAY = "BIRTHDAY"
    REFERRAL = "REFERRAL"
    CHALLENGE = "CHALLENGE"
    LEADERBOARD = "LEADERBOARD"
    DRAW = "DRAW"


class GiftStatus(StrEnum):
    GRANTED = "GRANTED"
    PENDING = "PENDING"
    """A voucher gift decided, not issued yet (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class VoucherGift:
    """What a gift voucher gives; checked by `scanner.gifts` like any voucher."""

    kind: str
    title: str
    valid_days: int
    amount_off: int | None = None
    percent_off: int | None = None
    currency: str | None = None
    product_sku: str | None = None


@dataclass(frozen=True, slots=True)
class Gift:
    """Points or a voucher: exactly one of them."""

    points: int | None = None
    voucher: VoucherGift | None = None


@dataclass(frozen=True, slots=True)
class PendingGift:
    key: str
    member_id: str
    occasion: Occasion
    voucher: VoucherGift


INDEXES = (
    IndexSpec(GIFTS, (("status", 1), ("_id", 1)), name="status"),
    IndexSpec(
        MEMBERS, (("referral_code", 1),), name="referral_code_unique", unique=True,
        partial_filter={"referral_code": {"$exists": True}},
    ),
)


def check_points(points: int, *, field: tuple[str, ...]) -> int:
    if not 0 < points <= MAX_GIFT_POINTS:
        raise InvalidInput(f"A points gift is 1 to {MAX_GIFT_POINTS} points.", field=field)
    return points


def gift_document(gift: Gift) -> dict[str, Any]:
    voucher = gift.voucher
    return {
        "points": gift.points,
        "voucher": None if voucher is None else {
            "kind": voucher.kind, "title": voucher.title, "valid_days": voucher.valid_days,
            "amount_off": voucher.amount_off, "percent_off": voucher.percent_off,
            "currency": voucher.currency, "product_sku": voucher.product_sku,
        },
    }


def gift_from_document(doc: Mapping[str, Any] | None) -> Gift | None:
    if not doc:
        return None
    voucher = doc.get("voucher")
    return Gift(
        points=doc.get("points"),
        voucher=None if voucher is None else VoucherGift(
            kind=voucher["kind"], title=voucher["title"], valid_days=voucher["valid_days"],
            amount_off=voucher.get("amount_off"), percent_off=voucher.get("percent_off"),
            currency=voucher.get("currency"), product_sku=voucher.get("product_sku"),
        ),
    )


async def load_settings(store: Store, name: str, *, session: Session | None = None) -> (
    dict[str, Any] | None
):
    return await store.collection(GIFT_SETTINGS).find_one({"_id": name}, session=session)


async def save_settings(store: Store, name: str, fields: Mapping[str, Any] | None, *,
                        now: datetime, audit: Audit | None, operation: str) -> None:
    """Replace the settings `name` (None switches them off), recording `operation` as
    `audit` in the same transaction."""
    settings = store.collection(GIFT_SETTINGS)
    after = None if fields is None else {**fields, "updated_at": now}

    async def work(session: Session) -> None:
        if after is None:
            before = await settings.find_one_and_delete({"_id": name}, session=session)
        else:
            before = await settings.find_one_and_replace({"_id": name}, after, upsert=True,
                                                         session=session)
        if audit is not None:
            audit.record(store, session, operation=operation,
                         target=Target("GiftSettings", name), at=now, before=before,
                         after=after)

    await store.transaction(work)


async def record_gift(
    store: Store,
    session: Session,
    *,
    key: str,
    member_id: str,
    occasion: Occasion,
    gift: Gift,
    status: GiftStatus,
    now: datetime,
    entry_id: str | None = None,
    voucher_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Write the gift's record; a duplicate-key error means it was given already."""
    await store.collection(GIFTS).insert_one(
        {
            "_id": key, "member_id": member_id, "occasion": occasion.value,
            "gift": gift_document(gift), "status": status.value, "entry_id": entry_id,
            "voucher_id": voucher_id, "created_at": now,
            "granted_at": now if status is GiftStatus.GRANTED else None,
            "details": dict(details or {}),
        },
        session=session,
    )


async def grant_points(
    store: Store,
    session: Session,
    *,
    key: str,
    member_id: str,
    occasion: Occasion,
    points: int,
    reason: str,
    now: datetime,
    programme: Programme,
    details: Mapping[str, Any] | None = None,
) -> Entry:
    """Credit a points gift (spendable at once) and record it, inside the caller's
    transaction; the ledger entry shares the gift's key."""
    member = await read_member(store, member_id, session=session)
    movement = Movement(
        key=key, kind=EntryKind.EARN, reason=reason, source=Source(occasion.value, key),
        actor=SYSTEM, occurred_at=now, recorded_at=now, details=details or {},
    )
    entry = await credit(store, session, movement, member=member, points=points,
                         programme=programme)
    await record_gift(store, session, key=key, member_id=member_id, occasion=occasion,
                      gift=Gift(points=points), status=GiftStatus.GRANTED, now=now,
                      entry_id=entry.id, details=details)
    return entry


async def given_keys(store: Store, keys: Sequence[str]) -> set[str]:
    """Which of `keys` have a gift record already (one query)."""
    cursor = store.collection(GIFTS).find({"_id": {"$in": list(keys)}}, {"_id": 1})
    return {doc["_id"] async for doc in cursor}


async def pending_gifts(
    store: Store, *, limit: int, keys: Sequence[str] | None = None
) -> list[PendingGift]:
    """Voucher gifts waiting to be issued (only those of `keys`, if given), oldest key
    first."""
    query: dict[str, Any] = {"status": GiftStatus.PENDING.value}
    if keys is not None:
        query["_id"] = {"$in": list(keys)}
    cursor = store.collection(GIFTS).find(query).sort("_id", 1).limit(limit)
    found: list[PendingGift] = []
    async for doc in cursor:
        gift = gift_from_document(doc["gift"])
        if gift is not None and gift.voucher is not None:
            found.append(PendingGift(key=doc["_id"], member_id=doc["member_id"],
                                     occasion=Occasion(doc["occasion"]), voucher=gift.voucher))
    return found


async def claim_pending(store: Store, session: Session, *, key: str, now: datetime) -> bool:
    """PENDING → GRANTED, inside the transaction that issues the voucher; False if another
    run claimed it first (concurrent claims conflict on the document: one commits)."""
    result = await store.collection(GIFTS).update_one(
        {"_id": key, "status": GiftStatus.PENDING.value},
        {"$set": {"status": GiftStatus.GRANTED.value, "granted_at": now}},
        session=session,
    )
    return result.modified_count == 1


async def attach_voucher(store: Store, session: Session, *, key: str, voucher_id: str) -> None:
    await store.collection(GIFTS).update_one(
        {"_id": key}, {"$set": {"voucher_id": voucher_id}}, session=session
    )
