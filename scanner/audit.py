"""The audit trail of every scan: who checked or redeemed what, where, and the outcome.

Records are buffered and written in batches by a background task (`run`), so an audit
record costs a checkout no database round trip of its own. A crash can lose the last
fraction of a second of records, never a redemption: the redemption itself is written on
the voucher. Document shape: {_id, at, action, outcome, actor_id, store_id, device_id,
client_address, voucher_id, member_id}.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from scanner.collections import SCAN_AUDIT
from store import Store, log_retrying, new_id

_log = logging.getLogger(__name__)
OK = "OK"


class ScanAction(StrEnum):
    CHECK = "CHECK"
    REDEEM = "REDEEM"
    VOID = "VOID"
    CARD_SCAN = "CARD_SCAN"


@dataclass(frozen=True, slots=True)
class Scanner:
    """Who is scanning: a staff account (with its store) or a shop system, and from where."""

    actor_id: str
    store_id: str | None
    device_id: str | None
    client_address: str


class AuditLog:
    def __init__(self, store: Store, *, flush_interval: float = 0.1, max_batch: int = 500) -> None:
        self._collection = store.collection(SCAN_AUDIT)
        self._buffer: list[dict[str, Any]] = []
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._lock = asyncio.Lock()

    def record(
        self, *, action: ScanAction, outcome: str, scanner: Scanner, at: datetime,
        voucher_id: str | None = None, member_id: str | None = None,
    ) -> None:
        self._buffer.append({
            "_id": new_id(), "at": at, "action": action.value, "outcome": outcome,
            "actor_id": scanner.actor_id, "store_id": scanner.store_id,
            "device_id": scanner.device_id, "client_address": scanner.client_address,
            "voucher_id": voucher_id, "member_id": member_id,
        })

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
