"""The data steps start-up runs once per database (store/migrations.py), composed here
because each spans packages that may not import one another."""

import logging

from api.operation_store import forget_client_addresses
from auth.member_search import backfill_words, member_accounts
from loyalty.collections import LEDGER, STATS
from loyalty.members.directory import enrol
from store import Store
from store.migrations import run_once

BATCH = 500
_log = logging.getLogger(__name__)


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
    await run_once(store, "persisted_operations_client_hash_v1",
                   lambda: forget_client_addresses(store))
    await _warn_if_roll_ups_missing(store)


async def _warn_if_roll_ups_missing(store: Store) -> None:
    """A database with a ledger but no roll-ups predates them: its figures read zero and
    verify reports them until `kizuna stats rebuild` runs (with no server writing, so it is
    not done here, where other instances may already serve)."""
    if (await store.collection(STATS).find_one({}, {"_id": 1}) is None
            and await store.collection(LEDGER).find_one({}, {"_id": 1}) is not None):
        _log.warning("the programme's roll-ups are missing (a database from before them): "
                     "programmeStats reads zero until `kizuna stats rebuild` runs with the "
                     "servers stopped (docs/analytics.md)")
