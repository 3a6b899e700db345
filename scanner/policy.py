"""Whether a voucher can be used here and now, and why not: pure, no I/O."""

from datetime import datetime
from zoneinfo import ZoneInfo

from loyalty.member_dates import local_time
from loyalty.purchases import Channel
from scanner.errors import (
    AlreadyRedeemed,
    OrderTotalTooLow,
    VoucherCancelled,
    VoucherExpired,
    WrongChannel,
    WrongStore,
)
from scanner.vouchers import Voucher, VoucherStatus
from store import KizunaError


def unusable_reason(
    voucher: Voucher,
    *,
    now: datetime,
    timezone: ZoneInfo,
    channel: Channel | None = None,
    store_id: str | None = None,
    store_names: dict[str, str] | None = None,
) -> KizunaError | None:
    """The first reason the voucher cannot be redeemed, in the order a cashier needs it:
    its state (redeemed, cancelled, expired), then where it may be used. `channel` None
    checks the state only (for the member's own actions). Dates in the message are in
    `timezone` (the programme's) and say so."""
    status = voucher.status(now)
    if status is VoucherStatus.REDEEMED and voucher.redemption is not None:
        redemption = voucher.redemption
        where = "online"
        if redemption.store_id is not None:
            where = "at " + (store_names or {}).get(redemption.store_id, "another store")
        when = local_time(redemption.redeemed_at, timezone)
        return AlreadyRedeemed(f"This voucher was already redeemed on {when} {where}.")
    if status is VoucherStatus.CANCELLED:
        return VoucherCancelled("This voucher was cancelled by its holder.")
    if status is VoucherStatus.EXPIRED:
        return VoucherExpired(
            f"This voucher expired on {local_time(voucher.expires_at, timezone)}."
        )
    if channel is None:
        return None
    restrictions = voucher.restrictions
    if channel not in restrictions.channels:
        where = "online" if channel is Channel.STORE else "in stores"
        return WrongChannel(f"This voucher can only be used {where}.")
    if (
        channel is Channel.STORE
        and restrictions.store_ids is not None
        and store_id not in restrictions.store_ids
    ):
        return WrongStore("This voucher is not valid in this store.")
    return None


def order_total_problem(voucher: Voucher, order_total: int) -> KizunaError | None:
    minimum = voucher.restrictions.min_order_total
    if minimum is not None and order_total < minimum:
        return OrderTotalTooLow(
            f"This voucher needs an order of at least {minimum} (minor units); "
            f"this one is {order_total}.",
            field=("input", "orderTotal"),
        )
    return None
