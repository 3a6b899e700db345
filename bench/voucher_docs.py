"""Voucher documents and their scans as `scanner` writes them, built in memory for bulk
seeding: `issue_voucher`'s document, `redeem_voucher`'s redemption, and the scan audit
records `AuditLog.record` makes (the writer hands those to the product's own AuditLog).

The builders use scanner.vouchers' own helpers for the benefit and restriction fields, so
the shapes stay in step with the product's.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loyalty.idempotency import fingerprint
from loyalty.purchases import Channel
from scanner import vouchers
from scanner.audit import OK, ScanAction, Scanner
from scanner.vouchers import (
    Benefit,
    Restrictions,
    SourceKind,
    VoucherStatus,
)


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """The arguments of one `AuditLog.record` call."""

    action: ScanAction
    outcome: str
    scanner: Scanner
    at: datetime
    voucher_id: str
    member_id: str


def voucher_document(
    *,
    member_id: str,
    holder_name: str,
    benefit: Benefit,
    restrictions: Restrictions,
    valid_days: int,
    source_kind: SourceKind,
    source_reference: str | None,
    now: datetime,
    issue_key: str | None,
) -> dict[str, Any]:
    """The document `scanner.vouchers.issue_voucher` inserts (benefit already validated)."""
    return vouchers.voucher_document(
        member_id=member_id, holder_name=holder_name, benefit=benefit,
        restrictions=restrictions, valid_for=timedelta(days=valid_days),
        source_kind=source_kind, source_reference=source_reference, now=now,
        issue_key=issue_key,
    )


def redeem_at_till(
    voucher: dict[str, Any], *, scanner: Scanner, at: datetime, order_reference: str,
    order_total: int, idempotency_key: str,
) -> list[ScanRecord]:
    """Mark `voucher` REDEEMED at `scanner`'s till as `redeem_voucher` does, and return the
    scans a checkout leaves: the check, then the redemption, both OK."""
    channel = Channel.STORE
    voucher["status"] = VoucherStatus.REDEEMED.value
    voucher["redemption"] = {
        "redeemed_at": at, "channel": channel.value, "store_id": scanner.store_id,
        "redeemed_by": scanner.actor_id, "order_reference": order_reference,
        "order_total": order_total, "idempotency_key": idempotency_key,
        "device_id": scanner.device_id,
        "request_hash": fingerprint({
            "order_reference": order_reference, "order_total": order_total,
            "store_id": scanner.store_id, "channel": channel.value,
        }),
    }
    checked = at - timedelta(seconds=20)
    return [
        ScanRecord(ScanAction.CHECK, OK, scanner, checked, voucher["_id"], voucher["member_id"]),
        ScanRecord(ScanAction.REDEEM, OK, scanner, at, voucher["_id"], voucher["member_id"]),
    ]
