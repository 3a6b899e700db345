"""The live feed: one reader of the outbox per process, handing each new event to the
subscribers it concerns, and the catch-up read for a subscriber that resumes.

The reader follows a MongoDB change stream on a replica set; where there is none (the
embedded engine) it polls the outbox. Either way the database is read once per process,
never once per subscriber.

Polling reads the events whose id (an ObjectId, stamped when the event is built) was stamped
in the last `lookback` seconds, and skips those it has handed out already: a transaction may
commit an event a moment after a newer one, and a plain `_id > last seen` would lose it.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from events.catalogue import SECOND, Event, event_from_document
from events.outbox import OUTBOX
from store import Store, log_retrying

log = logging.getLogger("kizuna.events")

RESUME_WINDOW = timedelta(hours=24)
"""How far back a resuming subscriber is given what it missed."""

MAX_RESUMED = 1_000
"""At most this many missed events are replayed; a client further behind reloads."""


class SubscriberTooSlow(Exception):
    """A subscriber's queue filled up: it is dropped, and resumes with the last id it saw."""


_TOO_SLOW = "too slow"
_CLOSED = "closed"


@dataclass(eq=False, slots=True)
class Subscriber:
    """One subscription's view of the feed: the events `wants` accepts, in order."""

    wants: Callable[[Event], bool]
    queue: asyncio.Queue[Event | str] = field(
        default_factory=lambda: asyncio.Queue(maxsize=256))
    dropped: bool = False

    def offer(self, event: Event) -> bool:
        """Whether the event was queued for this subscription."""
        if self.dropped or not self.wants(event):
            return False
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            self._last_word(_TOO_SLOW)
            return False
        return True

    def close(self) -> None:
        """End the stream after what it holds (the server is stopping)."""
        if not self.dropped:
            self.dropped = True
            self._last_word(_CLOSED)

    def _last_word(self, word: str) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(word)

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if isinstance(event, Event):
                yield event
            elif event == _TOO_SLOW:
                raise SubscriberTooSlow(
                    "Events came faster than this subscription read them; subscribe again "
                    "with the id of the last event you received.")
            else:
                return


def _id_at(at: float) -> str:
    """The smallest event id (ObjectId hex) stamped at or after the epoch second `at`."""
    return f"{max(0, int(at)):08x}" + "0" * 16


class EventFeed:
    """Follows the outbox for this process and fans the events out to its subscribers.

    Give it a `Store` of its own: its reads are not any request's round trips.
    """

    def __init__(self, store: Store, *, poll_interval: float = 0.1,
                 lookback: float = 3.0) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._lookback = lookback
        self._subscribers: set[Subscriber] = set()
        self._handed_out: dict[str, float] = {}
        self._polling = True
        self._reading = asyncio.Lock()
        self.read = 0
        """Events handed out to this process's subscriptions so far (for /metrics)."""
        self.delivered = 0
        """Events queued for a subscription so far, one per subscription that wanted it."""

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @contextlib.asynccontextmanager
    async def subscribe(self, wants: Callable[[Event], bool]) -> AsyncIterator[Subscriber]:
        """Receive the events `wants` accepts that are committed from now on, while the
        block runs."""
        async with self._reading:
            if self._polling and not self._subscribers:
                # The poll rests while nobody listens: what it finds now is the past.
                await self._poll_once(hand_out=False)
            subscriber = Subscriber(wants)
            self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["EventFeed"]:
        """Follow the outbox while the block runs; at its end every subscription ends."""
        self._polling = not await self._has_change_streams()
        task = asyncio.create_task(self._poll() if self._polling else self._follow(),
                                   name="event-feed")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for subscriber in list(self._subscribers):
                subscriber.close()

    def _hand_out(self, event: Event) -> None:
        self.read += 1
        for subscriber in list(self._subscribers):
            self.delivered += subscriber.offer(event)

    async def _has_change_streams(self) -> bool:
        hello = await self._store.client.admin.command("hello")
        return bool(hello.get("setName"))

    async def _follow(self) -> None:
        """Hand out what a change stream on the outbox reports, resuming after a failure."""
        resume_after: Any = None
        while True:
            try:
                async with await self._store.collection(OUTBOX).watch(
                    [{"$match": {"operationType": "insert"}}], resume_after=resume_after,
                ) as stream:
                    async for change in stream:
                        resume_after = stream.resume_token
                        self._hand_out(event_from_document(change["fullDocument"]))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_retrying(log, "the event feed's change stream failed; resuming", error)
                await asyncio.sleep(1)

    async def _poll(self) -> None:
        while True:
            try:
                async with self._reading:
                    if self._subscribers:
                        await self._poll_once(hand_out=True)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log_retrying(log, "reading the outbox for the event feed failed; retrying",
                             error)
            await asyncio.sleep(self._poll_interval)

    async def _poll_once(self, *, hand_out: bool) -> None:
        now = time.time()
        first = int(now - self._lookback)
        self._handed_out = {key: seen for key, seen in self._handed_out.items()
                            if key >= _id_at(first)}
        # The seconds as the event ids spell them (SECOND): an equality the database
        # answers from an index, so a poll reads the last seconds' events only.
        seconds = [_id_at(second)[:8] for second in range(first, int(now) + 2)]
        # Those handed out already are skipped here, not in the query: a list of them as
        # long as a busy shop's last seconds is more than mongoeco takes in one filter.
        cursor = self._store.collection(OUTBOX).find({SECOND: {"$in": seconds}}).sort("_id", 1)
        async for doc in cursor:
            if doc["_id"] in self._handed_out:
                continue
            self._handed_out[doc["_id"]] = now
            if hand_out:
                self._hand_out(event_from_document(doc))


# Event ids carry the wall-clock time of the machine that built them (ObjectIds), so the
# windows over ids are measured in wall-clock time too.


async def missed_events(store: Store, *, where: dict[str, Any], after: str) -> list[Event]:
    """The events matching `where` after the event id `after`, no older than the resume
    window, oldest first (at most MAX_RESUMED)."""
    oldest = _id_at(time.time() - RESUME_WINDOW.total_seconds())
    cursor = store.collection(OUTBOX).find(
        {**where, "_id": {"$gt": max(after, oldest)}}).sort("_id", 1).limit(MAX_RESUMED)
    return [event_from_document(doc) async for doc in cursor]


def resumable(after: str) -> bool:
    """Whether the event id `after` is recent enough to resume from."""
    return after >= _id_at(time.time() - RESUME_WINDOW.total_seconds())
