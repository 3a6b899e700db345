"""Rate-limiting failures that look like guessing voucher codes or card tokens.

Each failed scan (not found, bad signature, mistyped code, unknown card) counts, in fixed
windows kept in MongoDB so every app instance adds to the same counters, against:
- the actor on its device (a staff account on one phone, a web shop's API key for one
  checkout's `deviceId`; without a device id, the actor at its client address), with the
  low ceiling `max_failures`: one cashier's or one customer's typos lock only themselves;
- the actor alone and the client address alone, with the higher `max_shared_failures`: a
  guess spread over many devices, or over many accounts from one address, still trips.
Past its ceiling in a window a key is locked for `lockout`: the lock is written to MongoDB
and remembered in this process, where every later scan checks it before touching a voucher —
without a database round trip, which keeps a genuine checkout at its minimum. Another
instance learns of the lock at its first failure for the key. A genuine voucher that is
already redeemed is not a failure here.

Scans from one device run one at a time in a process (`one_at_a_time`): a burst of
concurrent guesses from it cannot all pass the lock check before the first failure is
counted. Scans from different devices run side by side, so a burst spread over devices may
pass the shared ceilings by at most the number of scans in flight at that moment.
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
    max_shared_failures: int = 100
    window: timedelta = timedelta(minutes=1)
    lockout: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class GuessKeys:
    """Who a failed scan counts against."""

    device: str
    """The actor on its device, or at its client address when it names no device."""
    shared: tuple[str, ...]
    """The actor alone and the client address alone."""

    def all(self) -> tuple[str, ...]:
        return (self.device, *self.shared)


def scan_keys(*, actor_id: str, device_id: str | None, client_address: str) -> GuessKeys:
    where = f"device:{device_id}" if device_id else f"address:{client_address}"
    return GuessKeys(
        device=f"actor:{actor_id}|{where}",
        shared=(f"actor:{actor_id}", f"address:{client_address}"),
    )


class GuessingLimiter:
    def __init__(self, store: Store, clock: Clock, limit: GuessingLimit) -> None:
        self._failures = store.collection(SCAN_FAILURES)
        self._locks = store.collection(SCAN_LOCKS)
        self._clock = clock
        self.limit = limit
        self._known_locks: dict[str, datetime] = {}
        self._in_flight: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, keys: GuessKeys) -> AsyncIterator[None]:
        """Hold the device's lock while a scan from it runs."""
        key = keys.device
        lock, users = self._in_flight.get(key, (asyncio.Lock(), 0))
        self._in_flight[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._in_flight[key]
            if users <= 1:
                del self._in_flight[key]
            else:
                self._in_flight[key] = (lock, users - 1)

    def ensure_allowed(self, keys: GuessKeys) -> None:
        """Raise RateLimited when a key is locked (as far as this process knows)."""
        self._ensure_allowed(keys.all())

    def _ensure_allowed(self, keys: Sequence[str]) -> None:
        now = self._clock()
        until = max(
            (t for key in keys if (t := self._known_locks.get(key)) is not None and t > now),
            default=None,
        )
        if until is not None:
            raise _locked(until, now)

    def _ceiling(self, key: str, keys: GuessKeys) -> int:
        return self.limit.max_failures if key == keys.device else self.limit.max_shared_failures

    async def record_failure(self, guess_keys: GuessKeys) -> None:
        """Count a failure; lock the keys that reach the limit. Raises RateLimited when
        another instance had locked a key already."""
        keys = guess_keys.all()
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
        self._ensure_allowed(keys)
        over = [
            key for key, doc in zip(keys, counters, strict=True)
            if doc is not None and doc["count"] >= self._ceiling(key, guess_keys)
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
