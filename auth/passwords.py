"""Password hashing with argon2id, off the event loop and within a fixed budget.

Hashing is deliberately slow and memory-hungry (64 MiB a hash by default), so it runs in a
small pool of its own threads: at most `concurrent` hashes at once and `waiting` more in
line, of which at most `per_client` for any one client address. A request beyond that is
refused at once with RateLimited instead of queueing: a flood of sign-ins or registrations
cannot make every other one wait for minutes, nor grow the server's memory past
`concurrent` hashes' worth, and a flood from a few addresses cannot fill the line for
everyone else.
"""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from auth.password_strength import DEFAULT_MIN_SCORE
from store.errors import RateLimited

BUSY_RETRY_SECONDS = 2
# The pool whose turn the current task holds (so a hash inside a turn takes no second one).
_turn_of: ContextVar["Passwords | None"] = ContextVar("password_turn", default=None)


@dataclass(frozen=True, slots=True)
class PasswordCost:
    """argon2id cost: RFC 9106's second recommended profile by default."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4


@dataclass(frozen=True, slots=True)
class HashingCapacity:
    """How many hashes run at once, and how many more may wait for a thread."""

    concurrent: int = 2
    waiting: int = 32
    per_client: int = 2


@functools.cache
def _decoy(cost: PasswordCost) -> str:
    """The decoy hash for `cost`, made once per process: it matches nothing, so one serves
    every `Passwords` of that cost (tests start hundreds, each paid a hash for it)."""
    return PasswordHasher(
        time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
    ).hash("decoy password that matches nothing")


class Passwords:
    """Hashes and verifies passwords in a bounded pool of worker threads."""

    def __init__(
        self, cost: PasswordCost, capacity: HashingCapacity | None = None, *,
        min_score: int = DEFAULT_MIN_SCORE,
    ) -> None:
        # The zxcvbn score (0–4) a new password needs (auth/password_strength.py).
        self.min_score = min_score
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )
        self._capacity = capacity or HashingCapacity()
        self._executor = ThreadPoolExecutor(
            max_workers=self._capacity.concurrent, thread_name_prefix="argon2"
        )
        self._admitted = 0
        self._admitted_by_client: dict[str, int] = {}
        # A real hash to verify against when the account does not exist, so an unknown
        # email costs as much time as a wrong password.
        self._decoy = _decoy(cost)

    @contextlib.asynccontextmanager
    async def turn(self, *, client: str | None) -> AsyncIterator[None]:
        """A place in line for one password's work on behalf of `client` (a client address):
        the hashes and checks made inside it take no other place. Take it before any other
        work for the request (counting attempts, reading the account), so a request that
        would be refused costs nothing. Raises RateLimited when the line is full or holds
        `client`'s share."""
        if _turn_of.get() is self:
            yield
            return
        capacity = self._capacity
        mine = self._admitted_by_client.get(client, 0) if client is not None else 0
        if (self._admitted >= capacity.concurrent + capacity.waiting
                or mine >= capacity.per_client):
            raise RateLimited(
                "The server is busy checking passwords; try again in a moment.",
                retry_after_seconds=BUSY_RETRY_SECONDS,
            )
        self._admitted += 1
        if client is not None:
            self._admitted_by_client[client] = mine + 1
        token = _turn_of.set(self)
        try:
            yield
        finally:
            _turn_of.reset(token)
            self._admitted -= 1
            if client is not None:
                left = self._admitted_by_client.pop(client) - 1
                if left:
                    self._admitted_by_client[client] = left

    async def hash(self, password: str) -> str:
        """The argon2id hash of `password` (in the caller's turn, or one of its own: raises
        RateLimited when the line is full)."""
        async with self.turn(client=None):
            return await self._in_pool(lambda: self._hasher.hash(password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash, spends the same time and says no. In
        the caller's turn, or one of its own (RateLimited when the line is full)."""
        async with self.turn(client=None):
            return await self._in_pool(lambda: self._verify(password_hash, password))

    def close(self) -> None:
        """Stop the worker threads; hashes still waiting are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _in_pool[T](self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._decoy, password) and (
                password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False
