"""Serialising transactions and writes for an engine that runs one at a time.

mongoeco's SQLite engine allows a single open transaction, and while it is open every other
session's command fails ("active transaction bound to another session"). A real replica set
runs them concurrently. The gate sits in front of the embedded engine and makes the
difference invisible to clients: a transaction waits for the engine to be free and then has
it to itself; plain writes and other commands wait while a transaction is open. Nothing
fails for concurrency, so the application code is the same on both servers.

Plain writes also run one at a time: concurrent writers on the engine's SQLite file make it
answer "database is locked", return empty reads or stall in its change-outbox bookkeeping
(mongoeco 4.11, seen under the scan audit's batched inserts running beside request writes).
Turns are taken in arrival order to keep any one kind of command from waiting behind an
endless stream of another.

Plain reads of documents (`reads_only`) do not pass the gate at all: the engine serves them
on reader connections beside the writer and any open transaction (store/engine.py,
override 5), so a member's home screen never queues behind a burst of orders.
"""
import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

type Response = bytes | None
type Execute = Callable[[], Awaitable[Response]]
type TransactionKey = tuple[str, str]

# Commands that never touch the engine's data; they must answer even while a transaction is
# open, or the driver's monitoring would think the server is down.
_UNGATED = frozenset(
    {"hello", "ismaster", "isMaster", "ping", "buildInfo", "buildinfo",
     "saslStart", "saslContinue", "getParameter", "hostInfo", "whatsmyuri", "killCursors"}
)
ENDS_TRANSACTION = frozenset({"commitTransaction", "abortTransaction"})
# endSessions is a write: mongoeco ends a session's transaction on the one writer
# connection, so beside another write it rolled that write back (an acknowledged insert
# lost when a client closed, as tests that start one app after another did).
_WRITES = frozenset(
    {"insert", "update", "delete", "findAndModify", "findandmodify", "create", "drop",
     "dropDatabase", "createIndexes", "dropIndexes", "collMod", "renameCollection",
     "endSessions"}
)


# Commands that read documents and nothing else (an aggregation that writes is not one).
_READS = frozenset({"find", "getMore", "aggregate", "count", "distinct"})
_WRITING_STAGES = frozenset({"$out", "$merge"})


def reads_only(command: str, body: Mapping[str, Any]) -> bool:
    """Whether a command only reads documents and belongs to no transaction."""
    if command not in _READS or transaction_key(body) is not None:
        return False
    if command == "aggregate":
        pipeline = body.get("pipeline") or []
        return not any(isinstance(stage, Mapping) and _WRITING_STAGES & stage.keys()
                       for stage in pipeline)
    return True


@dataclass(eq=False, slots=True)
class _Waiter:
    """A command waiting for its turn; compared by identity."""

    exclusive: bool
    """A plain write or a transaction (alone), as opposed to a plain read (with others)."""


@dataclass(slots=True)
class Owner:
    key: TransactionKey
    abort: Callable[[], Awaitable[object]]
    idle_since: float
    """When its last command ended (or it began): a client that died leaves it idle."""
    running: int = 0
    """Its commands in the engine now; a transaction at work is never abandoned, however
    long it reads (`kizuna verify` reads a whole ledger in one)."""

    def idle_for(self, now: float) -> float:
        return 0.0 if self.running else now - self.idle_since


def transaction_key(body: Mapping[str, Any]) -> TransactionKey | None:
    """The (session, txnNumber) of a command that belongs to a transaction, else None.

    Retryable writes also carry a txnNumber, but only transaction commands say
    `autocommit: false`.
    """
    if body.get("autocommit", True) is not False or "txnNumber" not in body:
        return None
    lsid = body.get("lsid") or {}
    return str(lsid.get("id")), str(body["txnNumber"])


class TransactionGate:
    """Admits one transaction, or one plain write, or any number of plain reads at a time,
    in the order they arrive.

    Arrival order is what keeps a member's home screen from waiting behind a burst of
    orders: a read waits for what arrived before it (at most the transaction or write
    running then, and those queued ahead), never for writes that come after it; and a
    transaction waits for the reads ahead of it, never for a stream of later ones.
    """

    def __init__(
        self, *, is_failure: Callable[[Response], bool], lifetime_seconds: float = 60.0
    ) -> None:
        self._is_failure = is_failure
        self._changed = asyncio.Condition()
        self._owner: Owner | None = None
        self._reading = 0
        self._writing = False
        self._queue: deque[_Waiter] = deque()
        self._lifetime = lifetime_seconds

    async def run(
        self,
        command: str,
        body: Mapping[str, Any],
        execute: Execute,
        abort: Callable[[], Awaitable[object]],
    ) -> Response:
        if command in _UNGATED:
            return await execute()
        key = transaction_key(body)
        if key is None:
            if command in _WRITES:
                return await self._run_write(execute)
            return await self._run_plain(execute)
        owner = self._owner
        if owner is not None and owner.key == key:
            return await self._run_owned(command, key, execute)
        if body.get("startTransaction"):
            await self._acquire(key, abort)
            return await self._run_owned(command, key, execute, starting=True)
        # A transaction whose gate was reclaimed after its lifetime: let the engine answer
        # (it no longer knows the transaction and says so).
        return await execute()

    async def _run_plain(self, execute: Execute) -> Response:
        async with self._changed:
            await self._take_turn(_Waiter(exclusive=False))
            self._reading += 1
        try:
            return await execute()
        finally:
            async with self._changed:
                self._reading -= 1
                self._changed.notify_all()

    async def _run_write(self, execute: Execute) -> Response:
        async with self._changed:
            await self._take_turn(_Waiter(exclusive=True))
            self._writing = True
        try:
            return await execute()
        finally:
            async with self._changed:
                self._writing = False
                self._changed.notify_all()

    async def _run_owned(
        self, command: str, key: TransactionKey, execute: Execute, *, starting: bool = False
    ) -> Response:
        owner = self._owner
        if owner is not None:
            owner.running += 1
        try:
            result = await execute()
        except BaseException:
            if starting or command in ENDS_TRANSACTION:
                await self._release(key)
            raise
        finally:
            if owner is not None:
                owner.running -= 1
                owner.idle_since = time.monotonic()
        # A transaction whose first command failed is not open in the engine, and the
        # driver may never send it an abort: release the gate now.
        failed_start = starting and self._is_failure(result)
        if failed_start or command in ENDS_TRANSACTION:
            await self._release(key)
        return result

    async def _acquire(self, key: TransactionKey, abort: Callable[[], Awaitable[object]]) -> None:
        async with self._changed:
            await self._take_turn(_Waiter(exclusive=True))
            self._owner = Owner(key=key, abort=abort, idle_since=time.monotonic())

    async def _take_turn(self, waiter: "_Waiter") -> None:
        """Queue `waiter` and wait (holding the condition) until it may run: it is first in
        line, or a read with only reads before it, and what runs now lets it."""
        self._queue.append(waiter)
        try:
            await self._wait_until(lambda: self._may_run(waiter))
        finally:
            self._queue.remove(waiter)
            # The reads queued right behind a read may now go too.
            self._changed.notify_all()

    def _may_run(self, waiter: "_Waiter") -> bool:
        if self._owner is not None or self._writing:
            return False
        if waiter.exclusive:
            return self._queue[0] is waiter and self._reading == 0
        for ahead in self._queue:
            if ahead is waiter:
                return True
            if ahead.exclusive:
                return False
        return False

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        """Wait (holding the condition) until `ready()`, reclaiming an abandoned transaction
        if one blocks the way for longer than its lifetime."""
        while not ready():
            await self._reclaim_if_abandoned()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def _reclaim_if_abandoned(self) -> None:
        """Abort a transaction left idle past its lifetime (a client that died mid-way)."""
        owner = self._owner
        if owner is None or owner.idle_for(time.monotonic()) < self._lifetime:
            return
        self._owner = None
        try:
            await owner.abort()
        except Exception:  # noqa: S110 - the engine may already have dropped it
            pass
        self._changed.notify_all()

    async def _release(self, key: TransactionKey) -> None:
        async with self._changed:
            if self._owner is not None and self._owner.key == key:
                self._owner = None
                self._changed.notify_all()

