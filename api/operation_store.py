"""The persisted operations: a collection of their own, and an in-process copy of the ones
in use so that a request by hash costs no database round trip in the common case.

One document per operation (collection `persisted_operations`):
`{_id: <id>, sha256, body, name, trusted, source: "apq"|"manifest", client, created_at,
last_used, expires_at}`. The id is the SHA-256 hex of the body for automatic persisted
queries and Apollo manifests, and whatever Relay's compiler chose for Relay manifests.

Registered (APQ) operations are a cache, not a record: `client` is a keyed hash of the
client's network (api/persisted_operations.py `client_key`), never an address; past a cap
the least recently used registrations are evicted to make room (nobody can fill the store
and lock registration out); and one expires `retention` after its last use (a TTL index on
`expires_at`, moved forward with `last_used`). A use is written at most once per
USE_INTERVAL per operation, in the background and in batches, so a hit from the in-process
copy still costs no round trip on the request's path. Trusted ones never expire and are
never evicted.
"""

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from store import Collection, Document, IndexSpec, Session, Store, is_duplicate_key
from store.clock import Clock

log = logging.getLogger("kizuna.persisted_operations")

OPERATIONS = "persisted_operations"
INDEXES = (
    IndexSpec(OPERATIONS, (("sha256", 1),), name="by_sha256"),
    # The per-client and total caps count, and evict the least recently used, by these.
    IndexSpec(OPERATIONS, (("source", 1), ("client", 1), ("last_used", 1)),
              name="by_source_client_use"),
    IndexSpec(OPERATIONS, (("source", 1), ("last_used", 1)), name="by_source_use"),
    IndexSpec(OPERATIONS, (("expires_at", 1),), name="registration_expiry",
              expire_after_seconds=0),
)
CACHE_SIZE = 2000
"""Operations kept in memory per process: far more than the apps of one shop send."""
CACHE_SECONDS = 60.0
"""How long a copy is used before the database is asked again: a manifest added or an
operation removed on another process counts here within a minute."""
USE_INTERVAL = timedelta(hours=1)
"""How stale a registration's `last_used` may be: refreshed at most this often per
operation and process (eviction and expiry need an order of days, not of seconds)."""
_USES_REMEMBERED = 20_000
"""Bound on the operations whose last written use a process remembers; forgetting costs
only an early refresh."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredOperation:
    id: str
    body: str
    sha256: str
    name: str | None
    trusted: bool
    source: str

    @classmethod
    def of(cls, document: Document) -> "StoredOperation":
        return cls(id=document["_id"], body=document["body"], sha256=document["sha256"],
                   name=document.get("name"), trusted=bool(document.get("trusted")),
                   source=document.get("source", "apq"))


@dataclass(frozen=True, slots=True)
class TrustedOperation:
    """One operation of a manifest, checked: its id, body and operation name."""

    id: str
    body: str
    name: str | None


@dataclass(frozen=True, slots=True)
class RegistrationLimits:
    """Bounds on automatic registrations: in all, and per client (network)."""

    max_operations: int
    max_per_client: int


@dataclass(frozen=True, slots=True)
class ManifestOutcome:
    added: int
    upgraded: int
    """Operations registered automatically before, now trusted."""
    unchanged: int


class ManifestConflict(Exception):
    """Ids of the manifest already stored with a different body; nothing was written."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(", ".join(ids))
        self.ids = list(ids)


class _Copies:
    """A small LRU of recent look-ups, each valid for CACHE_SECONDS."""

    def __init__(self, size: int, seconds: float, now: Callable[[], float]) -> None:
        self._entries: OrderedDict[str, tuple[float, StoredOperation | None]] = OrderedDict()
        self._size = size
        self._seconds = seconds
        self._now = now

    def get(self, key: str) -> tuple[bool, StoredOperation | None]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        loaded, value = entry
        if self._now() - loaded > self._seconds:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    def put(self, key: str, value: StoredOperation | None) -> None:
        self._entries[key] = (self._now(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class OperationStore:
    """Look-ups (cached), automatic registrations (bounded) and trusted manifests."""

    def __init__(self, store: Store, *, clock: Clock, retention: timedelta = timedelta(days=30),
                 cache_size: int = CACHE_SIZE, cache_seconds: float = CACHE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention
        self._copies = _Copies(cache_size, cache_seconds, monotonic)
        self._used: dict[str, datetime] = {}
        """Registered operations' last use written (or being written) by this process."""
        self._pending: set[str] = set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def database(self) -> Store:
        return self._store

    @property
    def _collection(self) -> Collection:
        return self._store.collection(OPERATIONS)

    async def by_id(self, operation_id: str) -> StoredOperation | None:
        """The operation stored under `operation_id`, or None. Only a found one is kept in
        memory: an unknown hash is usually registered by the very next request."""
        key = "id:" + operation_id
        found, value = self._copies.get(key)
        if found:
            if value is not None:
                self._note_use(value)
            return value
        document = await self._collection.find_one({"_id": operation_id})
        if document is None:
            return None
        operation = StoredOperation.of(document)
        self._copies.put(key, operation)
        self._note_use(operation)
        return operation

    def _note_use(self, operation: StoredOperation) -> None:
        """Remember that a registered operation was used; written in the background at
        most once per USE_INTERVAL, so the request does not wait for it."""
        if operation.trusted:
            return
        now = self._clock()
        last = self._used.get(operation.id)
        if last is not None and now - last < USE_INTERVAL:
            return
        if len(self._used) >= _USES_REMEMBERED:
            self._used.clear()
        self._used[operation.id] = now
        self._pending.add(operation.id)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_uses())

    async def _write_uses(self) -> None:
        # A failure only leaves `last_used` older than it should be: logged, not raised.
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await self.write_uses()
            except Exception:
                log.warning("could not record the use of persisted operations",
                            exc_info=True)

    async def write_uses(self) -> None:
        """Write the uses noted so far (one update for the batch): each moves the
        operation's `last_used` and its expiry forward."""
        while self._pending:
            ids = list(self._pending)
            self._pending.clear()
            now = self._clock()
            await self._collection.update_many(
                {"_id": {"$in": ids}, "source": "apq"},
                {"$set": {"last_used": now, "expires_at": now + self._retention}})

    async def trusted_by_sha256(self, digest: str) -> StoredOperation | None:
        """A trusted operation whose body has this SHA-256 (any id), or None; both answers
        are kept in memory (the full-text path of the allow-list)."""
        key = "sha256:" + digest
        found, value = self._copies.get(key)
        if found:
            return value
        document = await self._collection.find_one({"sha256": digest, "trusted": True})
        operation = None if document is None else StoredOperation.of(document)
        self._copies.put(key, operation)
        return operation

    async def register(self, *, body: str, digest: str, name: str | None, client: str,
                       limits: RegistrationLimits) -> bool:
        """Store an automatically persisted query under its SHA-256 (`client`: the keyed
        hash of the client's network, never an address). At a cap — this client's
        `max_per_client`, or `max_operations` in all — the least recently used automatic
        registrations (this client's, then anyone's) are evicted first; trusted operations
        never are. False only when registration is off (`max_operations` 0).

        Registrations racing at the cap may each see room for one more: the store can then
        hold a few more than the cap until the next registration, which evicts down to it."""
        collection = self._collection
        if limits.max_operations == 0 or limits.max_per_client == 0:
            return False
        await self._make_room({"source": "apq", "client": client}, limits.max_per_client)
        await self._make_room({"source": "apq"}, limits.max_operations)
        now = self._clock()
        try:
            await collection.insert_one({
                "_id": digest, "sha256": digest, "body": body, "name": name,
                "trusted": False, "source": "apq", "client": client, "created_at": now,
                "last_used": now, "expires_at": now + self._retention,
            })
            self._used[digest] = now
        except Exception as error:
            if not is_duplicate_key(error):  # registered meanwhile: the same body
                raise
        self._copies.put("id:" + digest, StoredOperation(
            id=digest, body=body, sha256=digest, name=name, trusted=False, source="apq"))
        return True

    async def _make_room(self, query: Document, cap: int) -> None:
        """Evict the least recently used documents matching `query` until one more fits
        under `cap`."""
        collection = self._collection
        count = await collection.count_documents(query)
        if count < cap:
            return
        oldest = [document["_id"] async for document in collection.find(
            query, {"_id": 1}).sort("last_used", 1).limit(count - cap + 1)]
        # `trusted: False` again: a manifest may have made one trusted meanwhile.
        await collection.delete_many({"_id": {"$in": oldest}, "trusted": False})
        for evicted in oldest:
            self._used.pop(evicted, None)
            self._copies.discard("id:" + evicted)

    async def add_trusted(self, operations: Sequence[TrustedOperation]) -> ManifestOutcome:
        """Store a manifest's operations as trusted, all or nothing: an id already stored
        with another body raises ManifestConflict and writes nothing; the same id and body
        again changes nothing (a registered one becomes trusted)."""
        ids = [operation.id for operation in operations]

        async def work(session: Session) -> ManifestOutcome:
            collection = self._collection
            existing = {
                document["_id"]: document
                async for document in collection.find({"_id": {"$in": ids}}, session=session)
            }
            conflicts = [op.id for op in operations
                         if op.id in existing and existing[op.id]["body"] != op.body]
            if conflicts:
                raise ManifestConflict(conflicts)
            now = self._clock()
            new = [_trusted_document(op, now) for op in operations if op.id not in existing]
            upgrade = [op.id for op in operations
                       if op.id in existing and not existing[op.id].get("trusted")]
            if new:
                await collection.insert_many(new, session=session)
            if upgrade:
                await collection.update_many(
                    {"_id": {"$in": upgrade}},
                    {"$set": {"trusted": True, "source": "manifest", "trusted_at": now},
                     "$unset": {"expires_at": "", "client": "", "last_used": ""}},
                    session=session)
            return ManifestOutcome(added=len(new), upgraded=len(upgrade),
                                   unchanged=len(operations) - len(new) - len(upgrade))

        outcome = await self._store.transaction(work)
        self._copies.clear()
        return outcome

    async def listed(self, *, trusted_only: bool) -> list[StoredOperation]:
        """The stored operations, trusted ones first, by name then id."""
        query: Document = {"trusted": True} if trusted_only else {}
        operations = [StoredOperation.of(document)
                      async for document in self._collection.find(query)]
        return sorted(operations, key=lambda op: (not op.trusted, op.name or "", op.id))

    async def remove(self, operation_id: str) -> bool:
        result = await self._collection.delete_one({"_id": operation_id})
        self._copies.clear()
        return result.deleted_count == 1


async def forget_client_addresses(store: Store) -> None:
    """Registrations made before clients were stored as keyed hashes hold a raw address
    (and no `last_used`): deleted — they are a cache, their clients register them again
    on the next miss — with the index that counted by address alone."""
    collection = store.collection(OPERATIONS)
    await collection.delete_many({"source": "apq", "last_used": {"$exists": False}})
    with contextlib.suppress(Exception):  # a database made after it never had it
        await collection.drop_index("by_source_client")


def _trusted_document(operation: TrustedOperation, now: datetime) -> Document:
    return {"_id": operation.id, "sha256": sha256_hex(operation.body), "body": operation.body,
            "name": operation.name, "trusted": True, "source": "manifest", "created_at": now,
            "trusted_at": now}
