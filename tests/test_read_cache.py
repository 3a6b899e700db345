"""The read cache under the member screens: one load for concurrent misses, kept for its
time to live, forgotten on a write, never keeping what a write overtook or what failed."""

import asyncio

import pytest

from store.read_cache import ReadCache


class Loads:
    def __init__(self) -> None:
        self.count = 0
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> int:
        self.count += 1
        value = self.count
        await self.release.wait()
        return value


def _cache(ttl: float = 5.0) -> tuple[ReadCache, list[float]]:
    now = [100.0]
    return ReadCache(ttl, clock=lambda: now[0]), now


async def test_a_value_is_kept_for_its_time_to_live_then_read_again() -> None:
    cache, now = _cache()
    load = Loads()

    assert await cache.get("rewards", load) == 1
    now[0] += 4.9
    assert await cache.get("rewards", load) == 1
    now[0] += 0.2
    assert await cache.get("rewards", load) == 2
    assert load.count == 2


async def test_concurrent_misses_share_one_load() -> None:
    cache, _ = _cache()
    load = Loads()
    load.release.clear()

    waiting = [asyncio.create_task(cache.get("rules", load)) for _ in range(20)]
    await asyncio.sleep(0)
    load.release.set()

    assert await asyncio.gather(*waiting) == [1] * 20
    assert load.count == 1


async def test_forget_makes_the_next_read_load_and_disowns_a_load_in_flight() -> None:
    cache, _ = _cache()
    load = Loads()
    assert await cache.get("programme", load) == 1
    cache.forget("programme")
    load.release.clear()
    overtaken = asyncio.create_task(cache.get("programme", load))
    await asyncio.sleep(0)

    cache.forget("programme")  # a write lands while the load is in flight
    load.release.set()

    assert await overtaken == 2  # its callers get it…
    assert await cache.get("programme", load) == 3  # …but it is not kept
    assert await cache.get("programme", load) == 3


async def test_a_failed_load_reaches_every_caller_and_is_not_kept() -> None:
    cache, _ = _cache()
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise ConnectionError("database away")

    results = await asyncio.gather(*(cache.get("segments", failing) for _ in range(3)),
                                   return_exceptions=True)

    assert [type(r) for r in results] == [ConnectionError] * 3
    assert calls == 1
    with pytest.raises(ConnectionError):
        await cache.get("segments", failing)
    assert calls == 2


async def test_a_caller_giving_up_does_not_cancel_the_others_load() -> None:
    cache, _ = _cache()
    load = Loads()
    load.release.clear()
    impatient = asyncio.create_task(cache.get("rewards", load))
    patient = asyncio.create_task(cache.get("rewards", load))
    await asyncio.sleep(0)

    impatient.cancel()
    load.release.set()

    assert await patient == 1
    assert impatient.cancelled()
    assert await cache.get("rewards", load) == 1


async def test_zero_time_to_live_reads_every_time() -> None:
    cache, _ = _cache(ttl=0)
    load = Loads()

    assert [await cache.get("rewards", load) for _ in range(3)] == [1, 2, 3]
