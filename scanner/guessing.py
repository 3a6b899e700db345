"""Rate-limiting failures that look like guessing voucher codes or card tokens.

Each failed scan (not found, bad signature, mistyped code, unknown card) counts against the
staff account and the device in fixed windows kept in MongoDB, so every app instance adds
to the same counters. Past `max_failures` in a window the key is locked for `lockout`: the
lock is written to MongoDB and remembered in this process, where every later scan checks
it before touching a voucher — without a database round trip, which keeps a genuine
checkout at its minimum. Another instance learns of the lock at its first failure for the
key. A genuine voucher that is already redeemed is not a failure here.

Scans by the same key run one at a time in a process (`one_at_a_time`): a burst of
concurrent guesses cannot all pass the lock check before the first failure is counted.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scanner.collections import SCAN_FAILURES, SCAN_LOCKS
from store import ReturnDocument, Store
from store.clock import Clock
from store.errors import RateLimited


@dataclass(frozen=True, slots=True)
class GuessingLimit:
    max_failures: int = 10
    window: timedelta = timedelta(minutes=1)
    lockout: timedelta = timedelta(minutes=5)


def scan_keys(*, actor_id: str, device_id: str | None, client_address: str) -> list[str]:
    """Who a failure counts against: the account, and the device (or, without a device id,
    the client address)."""
    device = f"device:{device_id}" if device_id else f"address:{client_address}"
    return [f"actor:{actor_id}", device]


class GuessingLimiter:
    def __init__(self, store: Store, clock: Clock, limit: GuessingLimit) -> None:
        self._failures = store.collection(SCAN_FAILURES)
        self._locks = store.collection(SCAN_LOCKS)
        self._clock = clock
        self.limit = limit
        self._known_locks: dict[str, datetime] = {}
        self._in_flight: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, keys: Sequence[str]) -> AsyncIterator[None]:
        """Hold every key's lock (in sorted order, so two scans never deadlock)."""
        ordered = sorted(set(keys))
        for key in ordered:
            lock, users = self._in_flight.get(key, (asyncio.Lock(), 0))
            self._in_flight[key] = (lock, users + 1)
        acquired: list[asyncio.Lock] = []
        try:
            for key in ordered:
                lock = self._in_flight[key][0]
                await lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in acquired:
                lock.release()
            for key in ordered:
                lock, users = self._in_flight[key]
                if users <= 1:
                    del self._in_flight[key]
                else:
                    self._in_flight[key] = (lock, users - 1)

    def ensure_allowed(self, keys: Sequence[str]) -> None:
        """Raise RateLimited when a key is locked (as far as this process knows)."""
        now = self._clock()
        until = max(
            (t for key in keys if (t := self._known_locks.get(key)) is not None and t > now),
            default=None,
        )
        if until is not None:
            raise _locked(until, now)

    async def record_failure(self, keys: Sequence[str]) -> None:
        """Count a failure; lock the keys that reach the limit. Raises RateLimited when
        another instance had locked a key already."""
        now = self._clock()
        window = int(self.limit.window.total_seconds())
        start = int(now.timestamp()) // window * window
        expires = datetime.fromtimestamp(start + window, now.tzinfo) + self.limit.window
        counters, locks = await asyncio.gather(
            asyncio.gather(*(
                self._failures.find_one_and_update(
                    {"_id": f"{key}|{start}"},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires}},
                    upsert=True, return_document=ReturnDocument.AFTER,
                )
                for key in keys
            )),
            self._locks.find({"_id": {"$in": list(keys)}, "locked_until": {"$gt": now}}).to_list(),
        )
        self._forget_expired(now)
        for lock in locks:
            self._known_locks[lock["_id"]] = lock["locked_until"]
        # A lock set elsewhere (another instance) hides this attempt's answer as well.
        self.ensure_allowed(keys)
        over = [
            key for key, doc in zip(keys, counters, strict=True)
            if doc is not None and doc["count"] >= self.limit.max_failures
        ]
        # The attempt that reaches the limit still gets its answer; the next ones do not.
        until = now + self.limit.lockout
        for key in over:
            await self._locks.update_one(
                {"_id": key}, {"$max": {"locked_until": until}}, upsert=True
            )
            self._known_locks[key] = max(until, self._known_locks.get(key, until))

    def _forget_expired(self, now: datetime) -> None:
        for key in [k for k, until in self._known_locks.items() if until <= now]:
            del self._known_locks[key]


def _locked(until: datetime, now: datetime) -> RateLimited:
    retry_after = max(1, int((until - now).total_seconds() + 0.999))
    return RateLimited(
        f"Too many failed scans: scanning is locked for {retry_after} seconds.",
        retry_after_seconds=retry_after,
    )
