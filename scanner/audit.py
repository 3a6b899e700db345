"""The audit trail of every scan: who checked or redeemed what, where, and the outcome.

Scan records go to the one audit trail (events/audit.py, collection `audit_log`, read by
`auditLog`), in its shape, with the operation named after the mutation
(`voucherCheck`, `voucherRedeem`, `voucherRedemptionVoid`, `memberCardScan`), the voucher
as target and the outcome (`OK`, `REPLAYED` or the refusal's code).

Records are buffered and written in batches by a background task (`run`), so an audit
record costs a checkout no database round trip of its own. A crash can lose the last
fraction of a second of records, never a redemption: the redemption itself (who, where,
when, which order) is written on the voucher by the conditional update that makes it
(events/audit.py explains why that guarantee is the right one at a till).

`adopt_legacy_records` moves the records of the former `scan_audit` collection into the
trail once, at start-up.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from events.audit import AUDIT_LOG, Audit, Target
from scanner.collections import SCAN_AUDIT
from store import Store, log_retrying, only_duplicate_keys

_log = logging.getLogger(__name__)
OK = "OK"


class ScanAction(StrEnum):
    CHECK = "voucherCheck"
    REDEEM = "voucherRedeem"
    VOID = "voucherRedemptionVoid"
    CARD_SCAN = "memberCardScan"


_LEGACY_ACTIONS = {"CHECK": ScanAction.CHECK, "REDEEM": ScanAction.REDEEM,
                   "VOID": ScanAction.VOID, "CARD_SCAN": ScanAction.CARD_SCAN}


@dataclass(frozen=True, slots=True)
class Scanner:
    """Who is scanning: a staff account (with its store) or a shop system, from where, in
    which request."""

    actor_id: str
    store_id: str | None
    device_id: str | None
    client_address: str
    role: str = "STAFF"
    request_id: str = ""

    def audit(self) -> Audit:
        """The scanner as the audit trail's actor."""
        return Audit(
            principal_id=self.actor_id, role=self.role, client_address=self.client_address,
            request_id=self.request_id, store_id=self.store_id, device_id=self.device_id,
            api_key_id=self.actor_id if self.role == "INTEGRATION" else None,
        )


def status_change(before: str, after: str) -> list[dict[str, Any]]:
    """A voucher's change of status, as the trail records it."""
    return [{"field": "status", "before": before, "after": after, "redacted": False}]


class AuditLog:
    def __init__(self, store: Store, *, flush_interval: float = 0.1, max_batch: int = 500) -> None:
        self._collection = store.collection(AUDIT_LOG)
        self._buffer: list[dict[str, Any]] = []
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._lock = asyncio.Lock()

    def record(
        self, *, action: ScanAction, outcome: str, scanner: Scanner, at: datetime,
        voucher_id: str | None = None, member_id: str | None = None,
        changes: list[dict[str, Any]] | None = None,
    ) -> None:
        self._buffer.append(scanner.audit().entry(
            operation=action.value, outcome=outcome, at=at, member_id=member_id,
            target=Target("Voucher", voucher_id) if voucher_id else (
                Target("Member", member_id) if member_id else None),
            changes=changes,
        ))

    async def flush(self) -> None:
        """Write everything recorded so far (one insert per batch)."""
        async with self._lock:
            while self._buffer:
                batch = self._buffer[: self._max_batch]
                del self._buffer[: len(batch)]
                try:
                    await self._collection.insert_many(batch, ordered=False)
                except Exception:
                    # Keep the records for the next flush rather than lose them.
                    self._buffer[:0] = batch
                    raise

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Flush in the background while the app runs, and once more at shutdown."""
        task = asyncio.create_task(self._flush_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            try:
                await self.flush()
            except Exception as error:
                log_retrying(_log, "writing the scan audit trail failed; retrying", error)


async def adopt_legacy_records(store: Store, *, batch: int = 500) -> int:
    """Move the records of the former `scan_audit` collection into the audit trail (in its
    shape, keeping their ids) and drop that collection; returns how many moved. Safe to
    run again after a crash: a record moved already stays as it is."""
    legacy = store.collection(SCAN_AUDIT)
    moved = 0
    while documents := await legacy.find({}).sort("_id", 1).limit(batch).to_list(batch):
        try:
            await store.collection(AUDIT_LOG).insert_many(
                [_adopted(doc) for doc in documents], ordered=False)
        except Exception as error:
            if not only_duplicate_keys(error):  # moved before a crash: there already
                raise
        await legacy.delete_many({"_id": {"$in": [doc["_id"] for doc in documents]}})
        moved += len(documents)
    if moved:
        await legacy.drop()
    return moved


def _adopted(doc: dict[str, Any]) -> dict[str, Any]:
    scanner = Scanner(actor_id=doc.get("actor_id") or "", store_id=doc.get("store_id"),
                      device_id=doc.get("device_id"),
                      client_address=doc.get("client_address") or "",
                      role="STAFF" if doc.get("store_id") else "INTEGRATION")
    action = _LEGACY_ACTIONS.get(doc.get("action") or "", ScanAction.CHECK)
    voucher_id, member_id = doc.get("voucher_id"), doc.get("member_id")
    entry = scanner.audit().entry(
        operation=action.value, outcome=doc.get("outcome") or OK, at=doc["at"],
        member_id=member_id,
        target=Target("Voucher", voucher_id) if voucher_id else (
            Target("Member", member_id) if member_id else None))
    return {**entry, "_id": doc["_id"]}
