"""Vouchers: what they give, where they are valid, and how they are issued and read.

A voucher document (collection `vouchers`):
  {_id, code (canonical, unique), member_id, holder_first_name, benefit {kind, title,
   amount_off, percent_off, currency, product_sku}, min_order_total, store_ids (null = every
   store), channels, issued_at, expires_at, status (ACTIVE | REDEEMED | CANCELLED),
   redemption {…} | null, voided_redemptions [{…, voided_at, voided_by, reason}],
   cancelled_at, source {kind, reference}, issue_key, payload_hash}

EXPIRED is not stored: an ACTIVE voucher past `expires_at` is expired, so no job has to
flip it at midnight and no race between expiry and redemption exists.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import events
from auth.stores import get_stores
from events import Event
from events.audit import Audit, Target
from loyalty.idempotency import ensure_same_payload, fingerprint
from loyalty.money import check_currency
from loyalty.purchases import Channel
from scanner import codes, voucher_events
from scanner.collections import VOUCHERS
from store import (
    Document,
    InputErrors,
    InvalidInput,
    KizunaError,
    NotFound,
    Store,
    is_duplicate_key,
    new_id,
)
from store.client import Session
from store.clock import Clock
from store.pagination import Page, fetch_page

MAX_TITLE_LENGTH = 120
MAX_VALIDITY_DAYS = 3 * 366
MAX_AMOUNT = 100_000_000
_CODE_ATTEMPTS = 5


class VoucherKind(StrEnum):
    AMOUNT_OFF = "AMOUNT_OFF"
    PERCENT_OFF = "PERCENT_OFF"
    FREE_SHIPPING = "FREE_SHIPPING"
    FREE_PRODUCT = "FREE_PRODUCT"
    EXPERIENCE = "EXPERIENCE"


class VoucherStatus(StrEnum):
    ACTIVE = "ACTIVE"
    REDEEMED = "REDEEMED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class SourceKind(StrEnum):
    """Why the member holds the voucher."""

    GIFT = "GIFT"
    REWARD = "REWARD"
    BIRTHDAY = "BIRTHDAY"
    REFERRAL = "REFERRAL"
    CHALLENGE = "CHALLENGE"
    LEADERBOARD = "LEADERBOARD"
    DRAW = "DRAW"


@dataclass(frozen=True, slots=True)
class Benefit:
    kind: VoucherKind
    title: str
    amount_off: int | None = None
    percent_off: int | None = None
    currency: str | None = None
    product_sku: str | None = None

    def discount_on(self, order_total: int) -> int | None:
        """Money off an order of `order_total` minor units; None when not a money benefit."""
        if self.kind is VoucherKind.AMOUNT_OFF and self.amount_off is not None:
            return min(self.amount_off, order_total)
        if self.kind is VoucherKind.PERCENT_OFF and self.percent_off is not None:
            return order_total * self.percent_off // 100
        return None


@dataclass(frozen=True, slots=True)
class Restrictions:
    """Where and on what a voucher can be used; None / empty means no restriction."""

    store_ids: tuple[str, ...] | None = None
    channels: tuple[Channel, ...] = (Channel.ONLINE, Channel.STORE)
    min_order_total: int | None = None


@dataclass(frozen=True, slots=True)
class Redemption:
    redeemed_at: datetime
    channel: Channel
    store_id: str | None
    redeemed_by: str
    order_reference: str
    order_total: int
    discount: int | None  # derived from the benefit and the order total, never stored
    idempotency_key: str
    device_id: str | None


@dataclass(frozen=True, slots=True)
class Voucher:
    id: str
    code: str
    member_id: str
    holder_first_name: str
    benefit: Benefit
    restrictions: Restrictions
    issued_at: datetime
    expires_at: datetime
    stored_status: VoucherStatus
    source_kind: SourceKind
    source_reference: str | None
    redemption: Redemption | None = None
    cancelled_at: datetime | None = None
    voided_keys: frozenset[str] = field(default_factory=frozenset)

    def status(self, now: datetime) -> VoucherStatus:
        if self.stored_status is VoucherStatus.ACTIVE and self.expires_at <= now:
            return VoucherStatus.EXPIRED
        return self.stored_status


def _redemption_from(doc: Mapping[str, Any] | None, benefit: Benefit) -> Redemption | None:
    if not doc:
        return None
    return Redemption(
        redeemed_at=doc["redeemed_at"], channel=Channel(doc["channel"]),
        store_id=doc.get("store_id"), redeemed_by=doc["redeemed_by"],
        order_reference=doc["order_reference"], order_total=doc["order_total"],
        discount=benefit.discount_on(doc["order_total"]), idempotency_key=doc["idempotency_key"],
        device_id=doc.get("device_id"),
    )


def voucher_from_document(doc: Mapping[str, Any]) -> Voucher:
    stored = doc["benefit"]
    benefit = Benefit(
        kind=VoucherKind(stored["kind"]), title=stored["title"],
        amount_off=stored.get("amount_off"), percent_off=stored.get("percent_off"),
        currency=stored.get("currency"), product_sku=stored.get("product_sku"),
    )
    store_ids = doc.get("store_ids")
    return Voucher(
        id=doc["_id"], code=doc["code"], member_id=doc["member_id"],
        holder_first_name=doc["holder_first_name"],
        benefit=benefit,
        restrictions=Restrictions(
            store_ids=tuple(store_ids) if store_ids is not None else None,
            channels=tuple(Channel(c) for c in doc["channels"]),
            min_order_total=doc.get("min_order_total"),
        ),
        issued_at=doc["issued_at"], expires_at=doc["expires_at"],
        stored_status=VoucherStatus(doc["status"]),
        source_kind=SourceKind(doc["source"]["kind"]),
        source_reference=doc["source"].get("reference"),
        redemption=_redemption_from(doc.get("redemption"), benefit),
        cancelled_at=doc.get("cancelled_at"),
        voided_keys=frozenset(v["idempotency_key"] for v in doc.get("voided_redemptions", [])),
    )


def first_name(full_name: str) -> str:
    """What staff may see of a member's name at the till."""
    return full_name.split()[0] if full_name.split() else full_name


def validate_benefit(benefit: Benefit, restrictions: Restrictions) -> Benefit:
    """The benefit with its currency normalised; raises InvalidInput (all problems at once)."""
    errors: list[KizunaError] = []

    def problem(message: str, name: str) -> None:
        errors.append(InvalidInput(message, field=("input", name)))

    title = " ".join(benefit.title.split())
    if not title or len(title) > MAX_TITLE_LENGTH:
        problem(f"Give a title of 1–{MAX_TITLE_LENGTH} characters.", "title")
    currency = benefit.currency
    needs_currency = benefit.kind is VoucherKind.AMOUNT_OFF or restrictions.min_order_total
    if currency is not None:
        try:
            currency = check_currency(currency, field=("input", "currency"))
        except KizunaError as error:
            errors.append(error)
    elif needs_currency:
        problem("Give the currency of the amounts.", "currency")
    if benefit.kind is VoucherKind.AMOUNT_OFF:
        if benefit.amount_off is None or not 0 < benefit.amount_off <= MAX_AMOUNT:
            problem("An AMOUNT_OFF voucher needs a positive amountOff in minor units.",
                    "amountOff")
    elif benefit.amount_off is not None:
        problem("Only AMOUNT_OFF vouchers have an amountOff.", "amountOff")
    if benefit.kind is VoucherKind.PERCENT_OFF:
        if benefit.percent_off is None or not 0 < benefit.percent_off <= 100:
            problem("A PERCENT_OFF voucher needs a percentOff from 1 to 100.", "percentOff")
    elif benefit.percent_off is not None:
        problem("Only PERCENT_OFF vouchers have a percentOff.", "percentOff")
    sku = benefit.product_sku.strip() if benefit.product_sku else None
    if benefit.kind is VoucherKind.FREE_PRODUCT and not sku:
        problem("A FREE_PRODUCT voucher names the product's SKU.", "productSku")
    minimum = restrictions.min_order_total
    if minimum is not None and not 0 < minimum <= MAX_AMOUNT:
        problem("The minimum order total must be positive (minor units).", "minOrderTotal")
    if not restrictions.channels:
        problem("Allow at least one channel.", "channels")
    if restrictions.store_ids is not None and not restrictions.store_ids:
        problem("Name at least one store, or leave stores out for every store.", "storeIds")
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return Benefit(benefit.kind, title, benefit.amount_off, benefit.percent_off, currency, sku)


async def issue_voucher(
    store: Store,
    *,
    member_id: str,
    holder_name: str,
    benefit: Benefit,
    restrictions: Restrictions,
    valid_days: int,
    source_kind: SourceKind,
    source_reference: str | None,
    clock: Clock,
    audit: Audit | None,
    issue_key: str | None = None,
    session: Session | None = None,
) -> tuple[Voucher, bool]:
    """Issue a voucher with a fresh code; returns it and whether it is a replay.

    `issue_key` makes issuing idempotent (a replay returns the first voucher; the same key
    with other details is an IdempotencyConflict). Inside a transaction pass `session`.
    With `audit` (an administrator's gift) the issue is recorded in its transaction (the
    code never is: it redeems the voucher).
    """
    benefit = validate_benefit(benefit, restrictions)
    if not 1 <= valid_days <= MAX_VALIDITY_DAYS:
        raise InvalidInput(f"Validity must be 1 to {MAX_VALIDITY_DAYS} days.",
                           field=("input", "validDays"))
    valid_for = timedelta(days=valid_days)
    if restrictions.store_ids:
        known = await get_stores(store, list(restrictions.store_ids))
        if len(known) != len(set(restrictions.store_ids)):
            raise NotFound("No store has one of these ids.", field=("input", "storeIds"))
    now = clock()
    vouchers = store.collection(VOUCHERS)
    for _ in range(_CODE_ATTEMPTS):
        doc = voucher_document(
            member_id=member_id, holder_name=holder_name, benefit=benefit,
            restrictions=restrictions, valid_for=valid_for, source_kind=source_kind,
            source_reference=source_reference, now=now, issue_key=issue_key,
        )
        event = voucher_events.issued(doc)
        async def write(in_session: Session, doc: Document = doc, event: Event = event) -> None:
            await vouchers.insert_one(doc, session=in_session)
            events.record(store, in_session, event)
            if audit is not None:
                audit.record(store, in_session, operation="voucherIssue",
                             target=Target("Voucher", doc["_id"]), at=now, member_id=member_id,
                             after={k: v for k, v in doc.items() if k != "code"})

        try:
            if session is not None:
                await write(session)
            elif audit is not None:
                await store.transaction(write)
            else:
                # One insert carries the voucher and its event; publishing moves the event.
                written = events.staged_document(doc, event)
                await vouchers.insert_one(written)
                await events.publish(store, VOUCHERS, written)
            return voucher_from_document(doc), False
        except Exception as error:
            if not is_duplicate_key(error):
                raise
        if issue_key is not None:
            existing = await vouchers.find_one({"issue_key": issue_key}, session=session)
            if existing is not None:
                ensure_same_payload(existing["payload_hash"], doc["payload_hash"],
                                    what="voucher")
                return voucher_from_document(existing), True
        # Otherwise two 65-bit codes collided: astronomically rare; draw again.
    raise RuntimeError("could not draw a unique voucher code")


def voucher_document(
    *, member_id: str, holder_name: str, benefit: Benefit, restrictions: Restrictions,
    valid_for: timedelta, source_kind: SourceKind, source_reference: str | None,
    now: datetime, issue_key: str | None,
) -> dict[str, Any]:
    """The document of a new ACTIVE voucher with a fresh code (`benefit` validated); its
    `payload_hash` covers what a replay of the same issue must repeat."""
    details = {
        "member_id": member_id, "benefit": _benefit_document(benefit),
        "restrictions": _restrictions_document(restrictions),
        "valid_seconds": int(valid_for.total_seconds()), "source": source_kind.value,
        "reference": source_reference,
    }
    doc: dict[str, Any] = {
        "_id": new_id(), "code": codes.new_code(), "member_id": member_id,
        "holder_first_name": first_name(holder_name),
        "benefit": _benefit_document(benefit),
        **_restrictions_document(restrictions),
        "issued_at": now, "expires_at": now + valid_for,
        "status": VoucherStatus.ACTIVE.value, "redemption": None,
        "voided_redemptions": [], "cancelled_at": None,
        "source": {"kind": source_kind.value, "reference": source_reference},
        "payload_hash": fingerprint(details),
    }
    if issue_key is not None:
        doc["issue_key"] = issue_key
    return doc


def _benefit_document(benefit: Benefit) -> dict[str, Any]:
    return {
        "kind": benefit.kind.value, "title": benefit.title, "amount_off": benefit.amount_off,
        "percent_off": benefit.percent_off, "currency": benefit.currency,
        "product_sku": benefit.product_sku,
    }


def _restrictions_document(restrictions: Restrictions) -> dict[str, Any]:
    return {
        "store_ids": list(restrictions.store_ids) if restrictions.store_ids is not None else None,
        "channels": sorted(c.value for c in restrictions.channels),
        "min_order_total": restrictions.min_order_total,
    }


async def get_vouchers(store: Store, voucher_ids: Sequence[str]) -> dict[str, Voucher]:
    cursor = store.collection(VOUCHERS).find({"_id": {"$in": list(voucher_ids)}})
    return {doc["_id"]: voucher_from_document(doc) async for doc in cursor}


async def member_vouchers(
    store: Store, *, member_id: str, status: VoucherStatus | None, now: datetime, first: int,
    after_id: str | None,
) -> tuple[list[Voucher], Page]:
    """A member's vouchers, newest first, optionally of one (derived) status."""
    query: dict[str, Any] = {"member_id": member_id}
    if status is VoucherStatus.ACTIVE:
        query |= {"status": VoucherStatus.ACTIVE.value, "expires_at": {"$gt": now}}
    elif status is VoucherStatus.EXPIRED:
        query |= {"status": VoucherStatus.ACTIVE.value, "expires_at": {"$lte": now}}
    elif status is not None:
        query["status"] = status.value
    page = await fetch_page(
        store.collection(VOUCHERS), filter=query, first=first, after_id=after_id,
        descending=True,
    )
    return [voucher_from_document(doc) for doc in page.documents], page
