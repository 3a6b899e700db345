"""The data steps start-up runs once per database (store/migrations.py), composed here
because each spans packages that may not import one another."""

from auth.member_search import backfill_words, member_accounts
from loyalty.members.directory import enrol
from store import Store
from store.migrations import run_once

BATCH = 500


async def member_directory(store: Store) -> None:
    """Every member account gets its name's words (auth) and its members document with its
    join date (loyalty): what the member list searches, filters and sorts on. Idempotent; a
    database made before the member list needs it once."""
    after: str | None = None
    while accounts := await member_accounts(store, after_id=after, limit=BATCH):
        await backfill_words(store, accounts)
        await enrol(store, [(account.id, account.created_at) for account in accounts])
        after = accounts[-1].id


async def migrate(store: Store) -> None:
    await run_once(store, "member_directory_v1", lambda: member_directory(store))
