"""The raw ceiling of `checkout`: the minimal PyMongo work of one voucher check and
redemption, nothing else.

A small asyncio PyMongo client (store.client `connect`: our client options and command
counter) runs, per checkout, against the same database server as the Kizuna server under
test and on the same `vouchers` collection:

- `find_one({_id, code})` — what `voucherCheck` reads (scanner.redemption `check_voucher`);
- `find_one_and_update` with the filter of scanner.redemption `redeem_voucher` (the
  voucher's `_id` and code, ACTIVE, unexpired, the channel, the minimum order total and the
  store as preconditions, the idempotency key not voided), setting `status: REDEEMED` and
  a `redemption` of the same shape, returning the document after the update;
- `insert_one` of its outbox event (the smallest: the product's carries a fuller body and
  rides in the update first).

Each checkout takes a voucher of its own that the bench issued through `voucherIssue` and
set aside for this row, so the raw client and ours work on the same collection at the
same size (on the embedded database, an update's cost grows with its collection: see
bench/README.md). Left out on purpose, so it is the ceiling: HTTP and GraphQL, the bearer
token, verifying the QR signature, the guessing limiter, the audit trail (ours buffers it
and writes it in batches), building the answer.
"""

import asyncio
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.cpu import CpuSample, CpuUse
from bench.load import PhaseResult
from bench.measure import PhaseReport
from bench.servers import Target
from events import OUTBOX
from scanner.collections import VOUCHERS
from store import ReturnDocument, Store, new_id

NAME = "raw"
SUMMARY = (
    "raw: find_one {_id, code}; find_one_and_update {_id, code, ACTIVE, unexpired, channel, "
    "min total, store, key not voided} → $set REDEEMED + redemption; insert_one event"
)
CHANNEL = "STORE"
ACTOR = "raw-bench"


@dataclass(slots=True)
class CallLatencies:
    """Latencies (seconds) of the successful calls of one phase, by call."""

    by_call: dict[str, list[float]] = field(default_factory=dict)

    def add(self, call: str, seconds: float) -> None:
        self.by_call.setdefault(call, []).append(seconds)


@dataclass(frozen=True, slots=True)
class VoucherRef:
    """A voucher as stored: its `_id` and canonical code (what a QR payload carries)."""

    id: str
    code: str


class RawTill:
    """Redeems the given vouchers, one per `checkout()`, each exactly once."""

    def __init__(
        self, store: Store, vouchers: Iterable[VoucherRef], *, store_id: str, order_total: int
    ) -> None:
        self._store = store
        self._vouchers = deque(vouchers)
        self._store_id = store_id
        self._order_total = order_total
        self._run = secrets.token_hex(4)
        self._turn = 0
        self.calls = CallLatencies()

    def __len__(self) -> int:
        """Vouchers left."""
        return len(self._vouchers)

    def add(self, vouchers: Iterable[VoucherRef]) -> None:
        self._vouchers.extend(vouchers)

    async def checkout(self) -> str | None:
        """One check and redemption: None when it succeeded, else what went wrong."""
        voucher = self._vouchers.popleft()
        self._turn += 1
        key = f"{self._run}-{self._turn}"
        collection = self._store.collection(VOUCHERS)
        now = datetime.now(UTC)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            found = await collection.find_one({"_id": voucher.id, "code": voucher.code})
            if found is None or found["status"] != "ACTIVE":
                return "check: the voucher is not there or not active"
            checked = loop.time()
            self.calls.add("find_one", checked - started)
            redeemed = await collection.find_one_and_update(
                {
                    "_id": voucher.id,
                    "code": voucher.code,
                    "status": "ACTIVE",
                    "expires_at": {"$gt": now},
                    "channels": CHANNEL,
                    "$and": [
                        {
                            "$or": [
                                {"min_order_total": None},
                                {"min_order_total": {"$lte": self._order_total}},
                            ]
                        },
                        {"$or": [{"store_ids": None}, {"store_ids": self._store_id}]},
                    ],
                    "voided_redemptions.idempotency_key": {"$ne": key},
                },
                {
                    "$set": {
                        "status": "REDEEMED",
                        "redemption": {
                            "redeemed_at": now,
                            "channel": CHANNEL,
                            "store_id": self._store_id,
                            "redeemed_by": ACTOR,
                            "order_reference": f"raw-{key}",
                            "order_total": self._order_total,
                            "idempotency_key": key,
                            "device_id": None,
                            "request_hash": "0" * 64,
                        },
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
            if redeemed is not None:
                await self._store.collection(OUTBOX).insert_one({
                    "_id": new_id(), "type": "voucher.redeemed", "version": 1,
                    "occurred_at": now, "member_id": redeemed["member_id"],
                    "store_id": self._store_id,
                    "subject": {"kind": "voucher", "id": voucher.id}, "data": {}})
        except Exception as error:  # counted as an error of the phase, like a failed request
            return f"{type(error).__name__}: {error}"[:200]
        if redeemed is None:
            return "redeem: the precondition did not match"
        self.calls.add("find_one_and_update + insert event", loop.time() - checked)
        return None


async def raw_phase(
    target: Target, store: Store, phase: Callable[[], Awaitable[PhaseResult]]
) -> PhaseReport:
    """Run `phase` (a loop over a RawTill on `store`) and frame it with the raw client's
    own command counter and CPU readings; one report row."""
    commands_before = store.commands.total
    by_name_before = dict(store.commands.by_name)
    cpu_before = CpuSample.take(target.pid)
    result = await phase()
    cpu_after = CpuSample.take(target.pid)
    ops = max(result.operations, 1)
    mix = {
        name: (count - by_name_before.get(name, 0)) / ops
        for name, count in sorted(store.commands.by_name.items())
        if count != by_name_before.get(name, 0)
    }
    return PhaseReport(
        target=NAME,
        result=result,
        round_trips_per_op=(store.commands.total - commands_before) / ops,
        cpu=_database_cpu(cpu_before, cpu_after, max(result.elapsed, 1e-9)),
        commands_per_op=mix,
    )


def _database_cpu(before: CpuSample, after: CpuSample, elapsed: float) -> CpuUse:
    """CPU of a raw phase: the idle Kizuna server's own CPU is not this phase's work, so
    it is left out of `srv` (shown as -) and counted with `other`."""
    use = CpuUse.between(before, after, elapsed)
    other = None if use.other is None else use.other + (use.server or 0.0)
    return CpuUse(server_seconds=None, server=None, db=use.db, client=use.client, other=other)
