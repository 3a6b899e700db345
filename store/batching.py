"""Group commit: the same plain write, made by many requests at the same moment, sent as one
command.

While one batch's command is on its way, the writes that arrive wait and go together in
the next; a write that finds nothing on its way goes at once, so a lone request waits for
no company. On the embedded server every write takes its turn at the one writer, so a
checkout's two publishing writes, merged with those of the other checkouts in flight,
cost a fraction of a turn each instead of two whole turns.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

MOST_PER_BATCH = 256
"""Items in one command at most: a command stays well under MongoDB's 16 MB and 100,000
writes, and one failure cannot fail hundreds of callers."""


class Batch[T]:
    """Items written together by `write(items)`, a plain (not transactional) write that is
    correct for any number of items at once."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]]) -> None:
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        """Return once a command carrying `item` succeeded; raise its error if it failed.
        A caller that gives up (is cancelled) does not take the write away from the others:
        its item is written all the same."""
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._writer.get_loop() is not loop:
            # The store outlived the event loop it wrote on (one loop per test run, say):
            # what waited there can no longer be answered.
            self._writer, self._waiting = None, []
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await done

    async def _write_all(self) -> None:
        while self._waiting:
            taken = self._waiting[:MOST_PER_BATCH]
            del self._waiting[:MOST_PER_BATCH]
            try:
                await self._write([item for item, _ in taken])
            except Exception as error:  # noqa: BLE001 - each caller gets its batch's error
                for _, done in taken:
                    if not done.done():
                        done.set_exception(error)
            else:
                for _, done in taken:
                    if not done.done():
                        done.set_result(None)


class Batches:
    """A store's batches, by name."""

    def __init__(self) -> None:
        self._by_name: dict[str, Batch[Any]] = {}

    def named[T](self, name: str, write: Callable[[list[T]], Awaitable[None]]) -> Batch[T]:
        """The batch `name`, which writes with `write` (the first caller's: every caller of
        one name must pass the same function)."""
        batch: Batch[T] = self._by_name.setdefault(name, Batch(write))
        return batch
