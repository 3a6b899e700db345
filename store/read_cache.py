"""A few seconds' copy of the data every member screen reads and administrators rarely change
(the programme, the earning rules, the rewards, the segment definitions), so a home screen
does not pay a round trip for each of them on every request.

Entries are keyed by the collection they copy. A write made through this process forgets
the entry at once (`forget`), so this instance never serves what it has itself replaced;
another instance's write is seen within `ttl_seconds`. Reads inside a transaction never go
through the cache: what a write decides on is always read from the database.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class _Entry:
    value: Any
    fresh_until: float


class ReadCache:
    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> (
        None
    ):
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self._generation: dict[str, int] = {}

    async def get[T](self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value of `key`, or `load()`'s, which then stays `ttl_seconds`.

        Concurrent misses share one load, run as its own task so that a caller giving up
        does not cancel it for the others. A load that a `forget` overtook is returned to
        its callers but not kept: it may predate the write.
        """
        if self.ttl_seconds <= 0:
            return await load()
        entry = self._entries.get(key)
        if entry is not None and entry.fresh_until > self._clock():
            value: T = entry.value
            return value
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._loading[key] = task
            generation = self._generation.get(key, 0)
            task.add_done_callback(lambda done: self._settle(key, generation, done))
        result: T = await asyncio.shield(task)
        return result

    def _settle(self, key: str, generation: int, done: asyncio.Future[Any]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if done.cancelled() or done.exception() is not None:
            return
        if self._generation.get(key, 0) == generation:
            self._entries[key] = _Entry(done.result(), self._clock() + self.ttl_seconds)

    def forget(self, *keys: str) -> None:
        """Drop `keys` (and disown their loads in flight): the next read goes to the database."""
        for key in keys:
            self._entries.pop(key, None)
            self._loading.pop(key, None)
            self._generation[key] = self._generation.get(key, 0) + 1
