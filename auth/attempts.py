"""Counting attempts per key (account, client address) in fixed windows: failed sign-ins,
registrations.

Counters live in MongoDB so every app instance sees the same numbers. An attempt reserves
its slot before the password is checked and gives it back when it succeeds, so a burst of
concurrent guesses can never get more than `max_attempts` password checks per window, and
gets exactly that many.
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from auth.collections import ATTEMPTS
from store import ReturnDocument, Store
from store.clock import Clock
from store.errors import RateLimited


@dataclass(frozen=True, slots=True)
class AttemptLimit:
    max_attempts: int
    window: timedelta


class AttemptLimiter:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._attempts = store.collection(ATTEMPTS)
        self._clock = clock

    def _slots(self, limits: Mapping[str, AttemptLimit]) -> dict[str, tuple[AttemptLimit, int]]:
        now = self._clock().timestamp()
        slots = {}
        for key, limit in limits.items():
            window = int(limit.window.total_seconds())
            start = int(now // window) * window
            slots[f"{key}|{start}"] = (limit, start + window)
        return slots

    async def reserve(
        self, limits: Mapping[str, AttemptLimit], *, what: str = "sign-in attempts"
    ) -> list[str]:
        """Count one attempt against every key; raise RateLimited ("Too many <what>") if
        any is over its limit. Returns the counters used, for `release`."""
        slots = self._slots(limits)
        now = self._clock()
        # Each attempt reads back its own increment, so of N concurrent attempts exactly
        # the first `max_attempts` pass, whatever order they are answered in.
        counters = await asyncio.gather(*(
            self._attempts.find_one_and_update(
                {"_id": slot_id},
                {
                    "$inc": {"count": 1},
                    "$setOnInsert": {
                        "expires_at": now + timedelta(seconds=window_end - now.timestamp())
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            for slot_id, (_, window_end) in slots.items()
        ))
        counts = {doc["_id"]: doc["count"] for doc in counters if doc is not None}
        over = [
            window_end
            for slot_id, (limit, window_end) in slots.items()
            if counts.get(slot_id, 0) > limit.max_attempts
        ]
        if over:
            retry_after = max(1, int(max(over) - now.timestamp()))
            raise RateLimited(
                f"Too many {what}. Try again in {retry_after} seconds.",
                retry_after_seconds=retry_after,
            )
        return list(slots)

    async def release(self, counters: list[str]) -> None:
        """Give back the slots of an attempt that succeeded (in the windows it counted in)."""
        await self._attempts.update_many({"_id": {"$in": counters}}, {"$inc": {"count": -1}})
