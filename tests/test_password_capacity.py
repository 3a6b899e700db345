"""Password hashing has a fixed budget: a flood is refused at once, not queued forever."""

import asyncio

import pytest

from auth.passwords import HashingCapacity, PasswordCost, Passwords
from store.errors import RateLimited

CHEAP = PasswordCost(time_cost=1, memory_kib=8 * 1024, parallelism=1)


async def test_hashes_beyond_the_running_and_waiting_ones_are_refused_at_once() -> None:
    passwords = Passwords(CHEAP, HashingCapacity(concurrent=1, waiting=2))
    try:
        stored = await passwords.hash("correct horse battery staple")
        outcomes = await asyncio.gather(
            *(passwords.verify(stored, "wrong guess") for _ in range(10)),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, RateLimited)]
        assert outcomes[:3] == [False, False, False]
        assert len(refused) == 7
        assert all(r.retry_after_seconds > 0 for r in refused)
        # Once the flood has drained, checks run again.
        assert await passwords.verify(stored, "correct horse battery staple") is True
    finally:
        passwords.close()


async def test_hashing_runs_on_its_own_threads_not_the_event_loops_default_pool() -> None:
    passwords = Passwords(CHEAP, HashingCapacity(concurrent=2, waiting=0))
    try:
        loop = asyncio.get_running_loop()
        default_pool_threads = await loop.run_in_executor(
            None, lambda: __import__("threading").current_thread().name
        )
        assert not default_pool_threads.startswith("argon2")
        with pytest.raises(RateLimited):
            await asyncio.gather(*(passwords.hash(f"pw-{i}") for i in range(3)))
    finally:
        passwords.close()


async def test_one_address_cannot_take_the_whole_line() -> None:
    passwords = Passwords(CHEAP, HashingCapacity(concurrent=1, waiting=8, per_client=2))

    async def check(client: str, password: str) -> bool:
        async with passwords.turn(client=client):
            return await passwords.verify(stored, password)

    try:
        stored = await passwords.hash("correct horse battery staple")
        flood = [check("10.0.0.1", "guess") for _ in range(6)]
        legit = check("10.0.0.9", "correct horse battery staple")
        *flooded, legit_outcome = await asyncio.gather(*flood, legit, return_exceptions=True)

        assert [isinstance(o, RateLimited) for o in flooded] == [False, False] + [True] * 4
        assert legit_outcome is True
    finally:
        passwords.close()
