"""Check, redeem and void vouchers at checkout.

Redemption is one conditional `find_one_and_update` whose filter holds every precondition
(active, unexpired, right channel and store, minimum total, key not voided): exactly one of
any number of concurrent attempts can match it. Only when it does not match is the voucher
read again, to tell a replay of the same request from a real refusal and say why.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import events
from auth.accounts import get_account
from auth.stores import get_stores
from loyalty.idempotency import fingerprint
from loyalty.members import reference as reference_data  # `reference` is what a cashier scanned
from loyalty.purchases import Channel
from scanner import codes, voucher_events
from scanner.audit import OK, ScanAction, Scanner, status_change
from scanner.collections import VOUCHERS
from scanner.desk import ScanDesk, guess_keys
from scanner.errors import (
    InvalidCode,
    InvalidSignature,
    ManagerRequired,
    NotRedeemed,
    RedemptionVoided,
    VoidWindowClosed,
    VoucherNotFound,
)
from scanner.guessing import GuessKeys
from scanner.policy import order_total_problem, unusable_reason
from scanner.vouchers import MAX_AMOUNT, Voucher, VoucherStatus, voucher_from_document
from store import IdempotencyConflict, InvalidInput, KizunaError, ReturnDocument, Store

MAX_REFERENCE_LENGTH = 100
MAX_REASON_LENGTH = 500
_GUESSING = (InvalidSignature, InvalidCode, VoucherNotFound)


@dataclass(frozen=True, slots=True)
class VoucherReference:
    """What the cashier scanned (`payload`) or typed (`code`): exactly one of them."""

    payload: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    voucher: Voucher | None
    problem: KizunaError | None

    @property
    def redeemable(self) -> bool:
        return self.voucher is not None and self.problem is None


class Refused(Exception):
    """The voucher exists but cannot be redeemed now: `reason` says why, `voucher` shows
    its state (for ALREADY_REDEEMED: when and where)."""

    def __init__(self, reason: KizunaError, voucher: Voucher) -> None:
        super().__init__(reason.message)
        self.reason = reason
        self.voucher = voucher


@dataclass(frozen=True, slots=True)
class RedeemResult:
    voucher: Voucher
    replayed: bool


def _target(desk: ScanDesk, reference: VoucherReference) -> dict[str, Any]:
    """The filter that finds the referenced voucher; raises InvalidSignature or InvalidCode
    before any database call when the reference cannot be one of ours."""
    if (reference.payload is None) == (reference.code is None):
        raise InvalidInput("Give either the scanned payload or the typed code.",
                           field=("input",))
    if reference.payload is not None:
        claims = desk.tokens.verify(reference.payload)
        return {"_id": claims.voucher_id, "code": claims.code}
    try:
        return {"code": codes.normalize(reference.code or "")}
    except codes.MalformedCode as error:
        raise InvalidCode(
            "This is not a valid voucher code: check it for a typo.", field=("input", "code")
        ) from error


async def _programme_zone(store: Store) -> ZoneInfo:
    """The zone a refusal's dates are worded in: the programme's (from the read cache)."""
    return (await reference_data.programme(store)).timezone


async def _store_names(store: Store, voucher: Voucher) -> dict[str, str]:
    """Names of the store where the voucher was redeemed, for "already redeemed at …"."""
    redemption = voucher.redemption
    if redemption is None or redemption.store_id is None:
        return {}
    stores = await get_stores(store, [redemption.store_id])
    return {store_id: shop.name for store_id, shop in stores.items()}


async def check_voucher(
    desk: ScanDesk, *, reference: VoucherReference, scanner: Scanner, channel: Channel
) -> CheckResult:
    """What the voucher gives and whether it can be redeemed here now. Writes nothing but
    an audit record; raises RateLimited (nothing checked) or InvalidInput."""
    keys = guess_keys(scanner)
    async with desk.limiter.one_at_a_time(keys):
        return await _check(desk, keys, reference=reference, scanner=scanner, channel=channel)


async def _check(
    desk: ScanDesk, keys: GuessKeys, *, reference: VoucherReference, scanner: Scanner,
    channel: Channel,
) -> CheckResult:
    desk.limiter.ensure_allowed(keys)
    now = desk.clock()
    try:
        doc = await desk.store.collection(VOUCHERS).find_one(_target(desk, reference))
        if doc is None:
            raise VoucherNotFound("No voucher has this code.")
    except _GUESSING as error:
        desk.audit.record(action=ScanAction.CHECK, outcome=error.code, scanner=scanner, at=now)
        await desk.limiter.record_failure(keys)
        return CheckResult(voucher=None, problem=error)
    voucher = voucher_from_document(doc)
    problem = unusable_reason(
        voucher, now=now, timezone=await _programme_zone(desk.store), channel=channel,
        store_id=scanner.store_id, store_names=await _store_names(desk.store, voucher),
    )
    desk.audit.record(
        action=ScanAction.CHECK, outcome=problem.code if problem else OK, scanner=scanner,
        at=now, voucher_id=voucher.id, member_id=voucher.member_id,
    )
    return CheckResult(voucher=voucher, problem=problem)


def _validate_order(order_reference: str, order_total: int, idempotency_key: str) -> str:
    reference = order_reference.strip()
    if not reference or len(reference) > MAX_REFERENCE_LENGTH:
        raise InvalidInput(f"Give the order reference (1–{MAX_REFERENCE_LENGTH} characters).",
                           field=("input", "orderReference"))
    if not 0 <= order_total <= MAX_AMOUNT:
        raise InvalidInput("The order total must be zero or more, in minor units.",
                           field=("input", "orderTotal"))
    if not 0 < len(idempotency_key) <= MAX_REFERENCE_LENGTH:
        raise InvalidInput(f"Give an idempotency key of 1–{MAX_REFERENCE_LENGTH} characters.",
                           field=("input", "idempotencyKey"))
    return reference


async def redeem_voucher(
    desk: ScanDesk,
    *,
    reference: VoucherReference,
    scanner: Scanner,
    channel: Channel,
    order_reference: str,
    order_total: int,
    idempotency_key: str,
) -> RedeemResult:
    """Flip an ACTIVE voucher to REDEEMED exactly once. A retry with the same key returns
    the first success. Raises RateLimited, InvalidInput or a guessing failure (InvalidCode,
    InvalidSignature, VoucherNotFound) before finding a voucher, and Refused (the voucher's
    unusable reason, OrderTotalTooLow, IdempotencyConflict, RedemptionVoided) after."""
    order_reference = _validate_order(order_reference, order_total, idempotency_key)
    keys = guess_keys(scanner)
    async with desk.limiter.one_at_a_time(keys):
        return await _redeem(
            desk, keys, reference=reference, scanner=scanner, channel=channel,
            order_reference=order_reference, order_total=order_total,
            idempotency_key=idempotency_key,
        )


async def _redeem(
    desk: ScanDesk,
    keys: GuessKeys,
    *,
    reference: VoucherReference,
    scanner: Scanner,
    channel: Channel,
    order_reference: str,
    order_total: int,
    idempotency_key: str,
    retried: bool = False,
) -> RedeemResult:
    desk.limiter.ensure_allowed(keys)
    now = desk.clock()
    vouchers = desk.store.collection(VOUCHERS)
    request_hash = fingerprint({
        "order_reference": order_reference, "order_total": order_total,
        "store_id": scanner.store_id, "channel": channel.value,
    })
    try:
        target = _target(desk, reference)
    except _GUESSING as error:
        await _failed_guess(desk, scanner, keys, error, now)
        raise
    preconditions: list[dict[str, Any]] = [
        {"$or": [{"min_order_total": None}, {"min_order_total": {"$lte": order_total}}]},
    ]
    if channel is Channel.STORE:
        preconditions.append({"$or": [{"store_ids": None}, {"store_ids": scanner.store_id}]})
    redemption = {
        "redeemed_at": now, "channel": channel.value, "store_id": scanner.store_id,
        "redeemed_by": scanner.actor_id, "order_reference": order_reference,
        "order_total": order_total, "idempotency_key": idempotency_key,
        "device_id": scanner.device_id, "request_hash": request_hash,
    }
    status = VoucherStatus.REDEEMED.value
    redeemed = await vouchers.find_one_and_update(
        {
            **target, "status": VoucherStatus.ACTIVE.value, "expires_at": {"$gt": now},
            "channels": channel.value, "$and": preconditions,
            "voided_redemptions.idempotency_key": {"$ne": idempotency_key},
        },
        events.staged([events.literally({"status": status, "redemption": redemption})],
                      voucher_events.redeemed(redemption, status=status)),
        return_document=ReturnDocument.AFTER,
    )
    if redeemed is not None:
        await events.publish(desk.store, VOUCHERS, redeemed)
        voucher = voucher_from_document(redeemed)
        desk.audit.record(action=ScanAction.REDEEM, outcome=OK, scanner=scanner, at=now,
                          voucher_id=voucher.id, member_id=voucher.member_id,
                          changes=status_change(VoucherStatus.ACTIVE.value, status))
        return RedeemResult(voucher=voucher, replayed=False)
    current = await vouchers.find_one(target)
    if current is None:
        missing = VoucherNotFound("No voucher has this code.")
        await _failed_guess(desk, scanner, keys, missing, now)
        raise missing
    voucher = voucher_from_document(current)
    outcome = _refusal(voucher, request_hash=request_hash, idempotency_key=idempotency_key,
                       raw=current)
    if outcome is None:
        desk.audit.record(action=ScanAction.REDEEM, outcome="REPLAYED", scanner=scanner,
                          at=now, voucher_id=voucher.id, member_id=voucher.member_id)
        return RedeemResult(voucher=voucher, replayed=True)
    if not isinstance(outcome, _Unexplained):
        desk.audit.record(action=ScanAction.REDEEM, outcome=outcome.code, scanner=scanner,
                          at=now, voucher_id=voucher.id, member_id=voucher.member_id)
        raise Refused(outcome, voucher)
    problem = unusable_reason(
        voucher, now=now, timezone=await _programme_zone(desk.store), channel=channel,
        store_id=scanner.store_id, store_names=await _store_names(desk.store, voucher),
    ) or order_total_problem(voucher, order_total)
    if problem is None:
        if retried:
            raise RuntimeError(f"voucher {voucher.id} is usable but refused redemption")
        # The voucher changed between the write and the read (a void): ask once more.
        return await _redeem(
            desk, keys, reference=reference, scanner=scanner, channel=channel,
            order_reference=order_reference, order_total=order_total,
            idempotency_key=idempotency_key, retried=True,
        )
    desk.audit.record(action=ScanAction.REDEEM, outcome=problem.code, scanner=scanner, at=now,
                      voucher_id=voucher.id, member_id=voucher.member_id)
    raise Refused(problem, voucher)


class _Unexplained(KizunaError):
    """Not a replay or a key problem: the voucher's own state says why."""


def _refusal(
    voucher: Voucher, *, request_hash: str, idempotency_key: str, raw: dict[str, Any]
) -> KizunaError | None:
    """None for a replay of the redemption that succeeded; a key error; or _Unexplained."""
    redemption = raw.get("redemption")
    if voucher.stored_status is VoucherStatus.REDEEMED and redemption is not None and (
        redemption["idempotency_key"] == idempotency_key
    ):
        if redemption["request_hash"] != request_hash:
            return IdempotencyConflict(
                "This idempotency key was used for a different redemption.",
                field=("input", "idempotencyKey"),
            )
        return None
    if idempotency_key in voucher.voided_keys:
        return RedemptionVoided(
            "This redemption was voided by a manager; start a new checkout to redeem again.",
            field=("input", "idempotencyKey"),
        )
    return _Unexplained("")


async def _failed_guess(
    desk: ScanDesk, scanner: Scanner, keys: GuessKeys, error: KizunaError, now: datetime
) -> None:
    desk.audit.record(action=ScanAction.REDEEM, outcome=error.code, scanner=scanner, at=now)
    await desk.limiter.record_failure(keys)


async def void_redemption(
    desk: ScanDesk, *, voucher_id: str, scanner: Scanner, reason: str
) -> Voucher:
    """A store manager reactivates a voucher redeemed at their store within the void
    window; raises ManagerRequired, VoucherNotFound, NotRedeemed or VoidWindowClosed."""
    cleaned = " ".join(reason.split())
    if not cleaned or len(cleaned) > MAX_REASON_LENGTH:
        raise InvalidInput(f"Say why (1–{MAX_REASON_LENGTH} characters).",
                           field=("input", "reason"))
    account = await get_account(desk.store, scanner.actor_id)
    if account is None or not account.manager or account.store_id != scanner.store_id:
        raise ManagerRequired("Only a manager of this store can void a redemption.")
    now = desk.clock()
    vouchers = desk.store.collection(VOUCHERS)
    current = await vouchers.find_one({"_id": voucher_id})
    redemption = current.get("redemption") if current else None
    if current is None or (redemption and redemption["store_id"] != scanner.store_id):
        # Another store's voucher is none of this manager's business: same answer as none.
        raise VoucherNotFound("No voucher redeemed at this store has this id.",
                              field=("input", "voucherId"))
    if current["status"] != VoucherStatus.REDEEMED.value or redemption is None:
        raise NotRedeemed("This voucher is not redeemed.", field=("input", "voucherId"))
    if redemption["redeemed_at"] < now - desk.void_window:
        minutes = int(desk.void_window.total_seconds() // 60)
        raise VoidWindowClosed(
            f"A redemption can only be voided within {minutes} minutes.",
            field=("input", "voucherId"),
        )
    status = VoucherStatus.ACTIVE.value
    void = {**redemption, "voided_at": now, "voided_by": scanner.actor_id, "reason": cleaned}
    voided = await vouchers.find_one_and_update(
        {"_id": voucher_id, "status": VoucherStatus.REDEEMED.value,
         "redemption.idempotency_key": redemption["idempotency_key"]},
        events.staged(
            [events.literally({"status": status, "redemption": None}),
             {"$set": {"voided_redemptions": {
                 "$concatArrays": [{"$ifNull": ["$voided_redemptions", []]},
                                  [{"$literal": void}]]}}}],
            voucher_events.voided(redemption, by=scanner.actor_id, reason=cleaned, at=now,
                                  status=status),
        ),
        return_document=ReturnDocument.AFTER,
    )
    if voided is None:
        raise NotRedeemed("This voucher is not redeemed any more.", field=("input", "voucherId"))
    await events.publish(desk.store, VOUCHERS, voided)
    voucher = voucher_from_document(voided)
    desk.audit.record(action=ScanAction.VOID, outcome=OK, scanner=scanner, at=now,
                      voucher_id=voucher.id, member_id=voucher.member_id,
                      changes=[*status_change(VoucherStatus.REDEEMED.value, status),
                               {"field": "voidReason", "before": None, "after": cleaned,
                                "redacted": False}])
    return voucher
