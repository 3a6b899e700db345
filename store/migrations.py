"""Data steps that run once per database, at start-up, after the indexes exist.

A step is idempotent (running it again after a crash halfway changes nothing it finished);
`run_once` records that it completed in `migrations` {_id: name, completed_at}, so later
start-ups skip it with one read.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from store.client import Store

MIGRATIONS = "migrations"


async def run_once(store: Store, name: str, step: Callable[[], Awaitable[None]]) -> bool:
    """Run `step` unless a completed run of `name` is recorded; True if it ran."""
    if await store.collection(MIGRATIONS).count_documents({"_id": name}, limit=1):
        return False
    await step()
    await store.collection(MIGRATIONS).update_one(
        {"_id": name}, {"$set": {"completed_at": datetime.now(UTC)}}, upsert=True)
    return True
