"""Reads beside writes: a plain read is answered while a transaction is open, sees only
committed data, never half a transaction and never misses a write already acknowledged.

On the embedded server plain reads run on reader connections beside the writer
(store/engine.py, override 5); on a replica set MongoDB gives the same guarantees.
"""

import asyncio
from collections import Counter

from store import Session, Store

WAIT_SECONDS = 10.0



async def test_a_read_is_answered_while_a_transaction_is_open_and_does_not_see_it(
    store: Store,
) -> None:
    balances = store.collection("balances")
    await balances.insert_one({"_id": "m1", "points": 10})
    async with store.client.start_session() as session:
        await session.start_transaction()
        await balances.update_one({"_id": "m1"}, {"$inc": {"points": 5}}, session=session)
        await balances.insert_one({"_id": "m2", "points": 1}, session=session)

        # Before the change: a read of one document, of several, and a count.
        one = await asyncio.wait_for(balances.find_one({"_id": "m1"}), WAIT_SECONDS)
        every = await asyncio.wait_for(balances.find({}).to_list(), WAIT_SECONDS)
        counted = await asyncio.wait_for(balances.count_documents({}), WAIT_SECONDS)
        assert one == {"_id": "m1", "points": 10}
        assert every == [{"_id": "m1", "points": 10}]
        assert counted == 1

        await session.commit_transaction()

    assert await balances.find_one({"_id": "m1"}) == {"_id": "m1", "points": 15}
    assert await balances.count_documents({}) == 2


async def test_reads_during_writes_see_whole_transactions_and_every_acknowledged_write(
    store: Store,
) -> None:
    batches = store.collection("batches")
    singles = store.collection("singles")
    await batches.create_index("batch")
    per_batch, writers, rounds = 5, 3, 8
    acknowledged: set[str] = set()
    written_singles: list[str] = []
    writing = True
    problems: list[str] = []

    async def write_batches(writer: int) -> None:
        for round_ in range(rounds):
            batch = f"w{writer}-r{round_}"

            async def work(session: Session, batch: str = batch) -> None:
                for i in range(per_batch):
                    await batches.insert_one({"_id": f"{batch}-{i}", "batch": batch},
                                             session=session)
                    await asyncio.sleep(0)  # keep the transaction open across turns

            await store.transaction(work)
            acknowledged.add(batch)
            # Read your own write, at once, outside the transaction.
            if await batches.count_documents({"batch": batch}) != per_batch:
                problems.append(f"{batch} not whole right after its commit")

    async def write_singles() -> None:
        for i in range(rounds * writers):
            key = f"s{i}"
            await singles.insert_one({"_id": key})
            written_singles.append(key)
            if await singles.find_one({"_id": key}) is None:
                problems.append(f"empty read of {key} right after its insert")

    async def read() -> int:
        reads = 0
        while writing:
            before = set(acknowledged)
            seen = Counter(doc["batch"] for doc in await batches.find({}).to_list())
            partial = {batch: n for batch, n in seen.items() if n != per_batch}
            if partial:
                problems.append(f"half a transaction: {partial}")
            if missing := before - seen.keys():
                problems.append(f"acknowledged but not read: {sorted(missing)}")
            singles_before = list(written_singles)
            if singles_before and await singles.find_one({"_id": singles_before[-1]}) is None:
                problems.append(f"empty read of {singles_before[-1]}")
            reads += 1
        return reads

    async def write_all() -> None:
        nonlocal writing
        try:
            await asyncio.gather(*(write_batches(w) for w in range(writers)), write_singles())
        finally:
            writing = False

    *_, reads_a, reads_b = await asyncio.gather(write_all(), read(), read())

    assert problems == []
    assert reads_a + reads_b > 0
    assert await batches.count_documents({}) == per_batch * writers * rounds
    assert len(acknowledged) == writers * rounds


async def test_what_a_read_learns_beside_an_open_transaction_holds_after_its_commit(
    store: Store,
) -> None:
    """The planner's knowledge of a collection ("no document holds an array here"), learnt
    by a read while a transaction writes the first array, must not outlive the commit."""
    tags = store.collection("tags")
    await tags.create_index("tag")
    await tags.insert_one({"_id": "a", "tag": "x"})
    async with store.client.start_session() as session:
        await session.start_transaction()
        await tags.insert_one({"_id": "b", "tag": ["x", "y"]}, session=session)
        assert await tags.find({"tag": "x"}).to_list() == [{"_id": "a", "tag": "x"}]
        assert await tags.find_one({"tag": "x"}) == {"_id": "a", "tag": "x"}
        await session.commit_transaction()

    assert await tags.find({"tag": "x"}, {"_id": 1}).sort("_id").to_list() == [
        {"_id": "a"}, {"_id": "b"}]
    assert await tags.count_documents({"tag": "x"}) == 2
