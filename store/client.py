"""The connection to MongoDB and the one transaction helper of the code base."""

import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pymongo
from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from store.batching import Batches
from store.monitoring import CommandCounter
from store.read_cache import ReadCache

type Document = dict[str, Any]
type Collection = AsyncCollection[Document]
type Session = AsyncClientSession

_AT_COMMIT: "weakref.WeakKeyDictionary[Session, dict[str, list[Document]]]" = (
    weakref.WeakKeyDictionary())
"""What `Store.insert_at_commit` deferred, by the session of the transaction's attempt."""

# Long enough for a real replica set to ride out an election; pymongo's own default (120 s)
# would hold a request open far past any HTTP client's patience.
TRANSACTION_RETRY_BUDGET = timedelta(seconds=20)


@dataclass(frozen=True, slots=True)
class Store:
    """A connected database: plain collection access plus `transaction`."""

    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    commands: CommandCounter
    reads: ReadCache
    """Short-lived copies of rarely changed data (see store/read_cache.py)."""
    batches: Batches
    """Plain writes that concurrent requests make together, by name (store/batching.py)."""
    counter_shards: int = 1
    """Documents each shared counter is spread over, so that concurrent transactions on a
    replica set do not all write one document (loyalty/ledger/rollups.py)."""

    def collection(self, name: str) -> Collection:
        return self.db[name]

    async def transaction[T](
        self, work: Callable[[Session], Awaitable[T]], *,
        budget: timedelta = TRANSACTION_RETRY_BUDGET,
    ) -> T:
        """Run `work(session)` in one multi-document transaction and return its result,
        within `budget` (all attempts together; a long read-only check may need more).

        On a replica set the whole of `work` is retried on TransientTransactionError and the
        commit on UnknownTransactionCommitResult (PyMongo's `with_transaction` contract), so
        `work` must be safe to run again: it must do all its writes through `session`.
        The embedded server serialises transactions itself, so nothing fails there for
        concurrency. Exceptions raised by `work` abort the transaction and propagate.
        """
        async def attempt(session: Session) -> T:
            at_commit: dict[str, list[Document]] = {}
            _AT_COMMIT[session] = at_commit
            try:
                result = await work(session)
                for name, documents in at_commit.items():
                    await self.db[name].insert_many(documents, session=session)
            finally:
                del _AT_COMMIT[session]
            return result

        async with self.client.start_session() as session:
            with pymongo.timeout(budget.total_seconds()):
                return await session.with_transaction(
                    attempt,
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                )

    def insert_at_commit(self, session: Session, collection: str, document: Document) -> None:
        """Insert `document` into `collection` at the end of the transaction `session` runs
        in (`transaction`), together with every other document so deferred: one command per
        collection instead of one per document. Nothing is inserted if the work fails."""
        try:
            _AT_COMMIT[session].setdefault(collection, []).append(document)
        except KeyError:
            raise RuntimeError("insert_at_commit outside Store.transaction") from None

    async def require_transactions(self) -> None:
        """Raise unless the server supports multi-document transactions: a replica set, a
        sharded cluster, or the embedded server (its gate serialises them). A standalone
        mongod would fail on the first balance change."""
        hello = await self.client.admin.command("hello")
        if hello.get("setName") or hello.get("msg") == "isdbgrid":
            return
        build = await self.client.admin.command("buildInfo")
        if build.get("gitVersion") != "mongoeco":
            raise RuntimeError(
                "MongoDB must be a replica set or a sharded cluster (transactions); "
                "a single node can run as a one-member replica set (--replSet)"
            )

    async def count(self, collection: str, filter: Mapping[str, Any]) -> int:
        """How many documents of `collection` match `filter`, by the `count` command (not
        in a transaction). On the embedded engine it is one SQL COUNT over the index range,
        where `count_documents` (an aggregation) reads every matching document."""
        reply = await self.db.command({"count": collection, "query": dict(filter)})
        return int(reply["n"])

    async def ping(self) -> None:
        """Raise unless the server answers."""
        await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()


def connect(
    uri: str, database: str, *, timeout: timedelta = timedelta(seconds=5),
    read_cache: timedelta = timedelta(seconds=5), counter_shards: int = 1,
) -> Store:
    """A `Store` for `database` on the server at `uri` (connects lazily), keeping rarely
    changed data for `read_cache` (zero: not at all), with shared counters spread over
    `counter_shards` documents."""
    commands = CommandCounter()
    ms = int(timeout.total_seconds() * 1000)
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        uri,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        event_listeners=[commands],
        appname="kizuna",
    )
    return Store(client=client, db=client[database], commands=commands,
                 reads=ReadCache(read_cache.total_seconds()), batches=Batches(),
                 counter_shards=counter_shards)
