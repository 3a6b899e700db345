"""Ended sign-ins, so that an access token dies with its session.

An access token names its sign-in (`sid`, the refresh-token family). When a sign-in ends -
sign-out, a refresh token presented twice, an account gone - the family is written here,
and every instance refuses that sign-in's access tokens from then on, without a database
round trip per request: each keeps the ended sign-ins in memory, learns of its own at once
and of other instances' within `sync_interval` (it reads the revocations recorded since its
last look, with a margin for clocks that disagree). A record is kept as long as an access
token issued before it could live.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from auth.collections import REVOKED_SESSIONS
from store import Session, Store, log_retrying
from store.clock import Clock

_log = logging.getLogger(__name__)
# How far back each look reaches before the previous one, for revocations written by an
# instance whose clock runs behind this one's, or committed while the last look ran.
_CLOCK_MARGIN = timedelta(minutes=2)


class SessionRevocations:
    def __init__(
        self, store: Store, *, clock: Clock, token_lifetime: timedelta,
        sync_interval: timedelta,
    ) -> None:
        self._revocations = store.collection(REVOKED_SESSIONS)
        self._clock = clock
        self._token_lifetime = token_lifetime
        self._sync_interval = sync_interval
        self._ended: dict[str, datetime] = {}  # session id → when its last token expires
        self._looked_at: datetime | None = None

    def is_revoked(self, session_id: str | None) -> bool:
        return session_id is not None and session_id in self._ended

    async def revoke(self, session_id: str, *, session: Session | None = None) -> None:
        """End a sign-in everywhere: here at once, on other instances at their next look
        (`session`: as part of the caller's transaction)."""
        now = self._clock()
        until = now + self._token_lifetime
        self._forget_expired(now)  # also when no sync runs (a single instance)
        self._ended[session_id] = until
        await self._revocations.update_one(
            {"_id": session_id},
            {"$setOnInsert": {"revoked_at": now, "expires_at": until}},
            upsert=True, session=session,
        )

    async def sync(self) -> None:
        """Learn of the sign-ins other instances ended since the last look."""
        now = self._clock()
        query = {"expires_at": {"$gt": now}}
        if self._looked_at is not None:
            query["revoked_at"] = {"$gte": self._looked_at - _CLOCK_MARGIN}
        async for record in self._revocations.find(query, {"expires_at": 1}):
            self._ended[record["_id"]] = record["expires_at"]
        self._looked_at = now
        self._forget_expired(now)

    def _forget_expired(self, now: datetime) -> None:
        """Drop sign-ins whose last access token has expired: they need no refusing."""
        for session_id in [s for s, until in self._ended.items() if until <= now]:
            del self._ended[session_id]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Load every live revocation, then look again every `sync_interval` (never when it
        is zero: a single instance knows its own revocations)."""
        await self.sync()
        seconds = self._sync_interval.total_seconds()
        if seconds <= 0:
            yield
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await self.sync()
                except Exception as error:
                    log_retrying(_log, "reading revoked sign-ins failed; retrying", error)

        task = asyncio.create_task(loop(), name="session-revocations")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
