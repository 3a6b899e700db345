"""A member gives up a voucher before using it."""

from zoneinfo import ZoneInfo

import events
from scanner import voucher_events
from scanner.collections import VOUCHERS
from scanner.errors import VoucherNotFound
from scanner.policy import unusable_reason
from scanner.vouchers import Voucher, VoucherStatus, voucher_from_document
from store import ReturnDocument, Store
from store.client import Session
from store.clock import Clock


async def cancel_voucher(
    store: Store, *, voucher_id: str, member_id: str, clock: Clock, timezone: ZoneInfo,
    session: Session | None = None,
) -> Voucher:
    """Flip the member's ACTIVE, unexpired voucher to CANCELLED (one conditional write);
    raises VoucherNotFound, AlreadyRedeemed, VoucherCancelled or VoucherExpired (their dates
    in `timezone`, the programme's). Giving back what the voucher cost is the caller's
    business, in the same transaction (`session`)."""
    now = clock()
    vouchers = store.collection(VOUCHERS)
    status = VoucherStatus.CANCELLED.value
    doc = await vouchers.find_one_and_update(
        {"_id": voucher_id, "member_id": member_id, "status": VoucherStatus.ACTIVE.value,
         "expires_at": {"$gt": now}},
        events.staged([events.literally({"status": status, "cancelled_at": now})],
                      voucher_events.cancelled(at=now, status=status)),
        return_document=ReturnDocument.AFTER, session=session,
    )
    if doc is not None:
        await events.publish(store, VOUCHERS, doc, session=session)
        return voucher_from_document(doc)
    current = await vouchers.find_one({"_id": voucher_id, "member_id": member_id},
                                      session=session)
    if current is None:
        raise VoucherNotFound("You have no voucher with this id.", field=("input", "voucherId"))
    problem = unusable_reason(voucher_from_document(current), now=now, timezone=timezone)
    if problem is None:
        raise RuntimeError("an active voucher refused cancellation")
    raise problem
