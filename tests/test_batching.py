"""Group commit (store/batching.py): writes that arrive together go in one command, each
caller learns its own batch's outcome, and a caller that gives up loses nobody's write."""

import asyncio

import pytest

from store import Store
from store.batching import MOST_PER_BATCH, Batch

INSERTS = "batched"


def _inserting(store: Store, commands: list[int]) -> Batch[dict[str, int]]:
    async def insert(documents: list[dict[str, int]]) -> None:
        commands.append(len(documents))
        await store.collection(INSERTS).insert_many(documents)

    return Batch(insert)


async def _stored(store: Store) -> list[int]:
    return sorted([doc["_id"] async for doc in store.collection(INSERTS).find({})])


async def test_writes_that_arrive_together_go_in_one_command(store: Store) -> None:
    commands: list[int] = []
    batch = _inserting(store, commands)

    await asyncio.gather(*(batch.add({"_id": n}) for n in range(20)))
    await batch.add({"_id": 20})

    assert commands == [20, 1]  # the lone write afterwards waits for no company
    assert await _stored(store) == list(range(21))


async def test_a_batch_is_capped_and_the_rest_follow_in_the_next(store: Store) -> None:
    commands: list[int] = []
    batch = _inserting(store, commands)

    await asyncio.gather(*(batch.add({"_id": n}) for n in range(MOST_PER_BATCH + 3)))

    assert commands == [MOST_PER_BATCH, 3]
    assert await _stored(store) == list(range(MOST_PER_BATCH + 3))


async def test_each_caller_gets_its_own_batchs_error(store: Store) -> None:
    """A failed command fails the callers it carried, and only them."""
    commands: list[int] = []
    batch = _inserting(store, commands)
    await batch.add({"_id": 1})

    first = [batch.add({"_id": 1}), batch.add({"_id": 2})]  # a duplicate key: ordered, fails
    outcomes = await asyncio.gather(*first, return_exceptions=True)
    await batch.add({"_id": 3})

    assert [type(outcome).__name__ for outcome in outcomes] == ["BulkWriteError"] * 2
    assert await _stored(store) == [1, 3]


async def test_a_caller_that_gives_up_does_not_take_the_write_away(store: Store) -> None:
    commands: list[int] = []
    batch = _inserting(store, commands)
    impatient = asyncio.create_task(batch.add({"_id": 1}))
    patient = asyncio.create_task(batch.add({"_id": 2}))
    await asyncio.sleep(0)  # both are waiting for the command on its way

    impatient.cancel()
    await patient

    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert commands == [2]
    assert await _stored(store) == [1, 2]


def test_a_batch_outlives_the_event_loop_it_wrote_on() -> None:
    """A store kept across event loops: a write left on its way when its loop closed does
    not hold back the writes made on the next loop."""
    written: list[str] = []
    stuck = asyncio.Event()

    async def write(items: list[str]) -> None:
        if items == ["first"]:
            await stuck.wait()  # never set: the loop closes with this write on its way
        written.extend(items)

    batch: Batch[str] = Batch(write)
    first = asyncio.new_event_loop()
    first.create_task(batch.add("first"))
    first.run_until_complete(asyncio.sleep(0.01))
    first.close()

    asyncio.run(asyncio.wait_for(batch.add("second"), timeout=5))

    assert written == ["second"]
