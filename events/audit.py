"""The audit trail: who changed what, when, and how — one collection, `audit_log`.

Every write by an administrator, a store's staff or a shop system (API key) leaves one
record: the actor (`Audit`: principal, role, API key, store, device, client address,
request id), the operation (the GraphQL mutation's name, e.g. `rewardUpdate`), its target
(`Target`: a node type and id), its outcome (`OK` or the code of a refusal, for scans) and
the change: the before and after of each field it changed, nested fields by dotted path.

Guarantees, by kind of write:
- A write made in a transaction records its entry with `Audit.record`, in that transaction
  (`Store.insert_at_commit`: all records of the transaction in one insert as it ends, so one
  command more per write, whatever the number of records). The change and its record
  commit together or not at all. Writes that were a single plain update (catalogue, rules,
  settings, webhooks, keys) became small transactions for that: administrators' writes are
  rare and a round trip more costs them nothing that matters.
- Scans at a till (`voucherCheck`, `voucherRedeem`, `voucherRedemptionVoid`,
  `memberCardScan`) stay one conditional write with no transaction: their records go
  through `BufferedAuditLog`, in batches written in the background, so a checkout pays no
  round trip for its record (scanner/audit.py). Why that is the right guarantee there: the
  redemption's who, where, when and order are written *on the voucher* by the very
  conditional update that redeems it (and its event is staged on it), so nothing a
  redemption changes is ever unaccounted for; the audit record adds the request's context
  and the failed attempts, and a process crash can lose at most the last flush interval's
  records (`KIZUNA_SCAN_AUDIT_FLUSH_MS`, 100 ms). A transaction per checkout would add a
  commit and serialise every till behind the embedded engine's one-transaction gate.

Never recorded: a field whose name says it is a secret (passwords and their hashes, API key
secrets and hashes, webhook signing secrets, tokens): when one changes, the change lists
the field as `redacted`, without its values.

Ids are `store.ids.new_id_at(at)`: newest first and a period are ranges of `_id`, so every
filter is one equality and a two-sided `_id` range on a compound index (the embedded
engine serves that from the index; see store/engine.py), and retention deletes by `_id`.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store import Document, IndexSpec, ReturnDocument, Session, Store
from store.ids import first_id_at, new_id_at
from store.pagination import MAX_PAGE_SIZE, Page

AUDIT_LOG = "audit_log"
OK = "OK"

INDEXES = (
    IndexSpec(AUDIT_LOG, (("actor.id", 1), ("_id", 1)), name="by_actor"),
    IndexSpec(AUDIT_LOG, (("target.id", 1), ("_id", 1)), name="by_target"),
    IndexSpec(AUDIT_LOG, (("operation", 1), ("_id", 1)), name="by_operation"),
)

_SECRET_WORDS = ("password", "secret", "token", "hash", "private", "signing_key")
_NOT_CHANGES = frozenset({"_id", "outbox", "updated_at"})
_LOWEST_ID = "0" * 24
_HIGHEST_ID = "f" * 24


@dataclass(frozen=True, slots=True)
class Target:
    """What a write changed: the GraphQL node type (or `Programme` for the settings) and
    the stored id."""

    type: str
    id: str


@dataclass(frozen=True, slots=True)
class Audit:
    """Who acts, from where, in which request: built once per request from the caller
    and handed to every use case that writes."""

    principal_id: str
    role: str
    client_address: str
    request_id: str
    store_id: str | None = None
    api_key_id: str | None = None
    device_id: str | None = None

    def record(
        self, store: Store, session: Session, *, operation: str, target: Target,
        at: datetime, before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None, member_id: str | None = None,
    ) -> None:
        """Record `operation` on `target` in the transaction `session` runs in: it is
        written as that transaction commits, and never if it aborts."""
        store.insert_at_commit(session, AUDIT_LOG, self.entry(
            operation=operation, target=target, at=at, changes=changes(before, after),
            member_id=member_id or _member_of(after) or _member_of(before)))

    def entry(
        self, *, operation: str, target: Target | None, at: datetime,
        changes: list[Document] | None = None, outcome: str = OK,
        member_id: str | None = None,
    ) -> Document:
        """The stored record (for writers that batch records themselves)."""
        return {
            "_id": new_id_at(at), "at": at, "operation": operation, "outcome": outcome,
            "actor": {
                "id": self.principal_id, "role": self.role, "api_key_id": self.api_key_id,
                "store_id": self.store_id, "device_id": self.device_id,
                "client_address": self.client_address, "request_id": self.request_id,
            },
            "target": {"type": target.type, "id": target.id} if target else None,
            "member_id": member_id, "changes": changes or [],
        }


def _member_of(document: Mapping[str, Any] | None) -> str | None:
    """The member a changed document belongs to (a voucher's holder), so that the records
    about a member are found by `member_id` when their data is exported or erased."""
    member_id = (document or {}).get("member_id")
    return member_id if isinstance(member_id, str) else None


def is_secret(field: str) -> bool:
    """Whether a field's name says it holds a secret (it is never recorded)."""
    name = field.lower()
    return any(word in name for word in _SECRET_WORDS)


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Document]:
    """The fields that differ between two versions of a document (either may be None: a
    creation, a deletion), nested documents by dotted path, in field order; secrets are
    listed as redacted, without their values."""
    old, new = _flat(before or {}), _flat(after or {})
    found: list[Document] = []
    for field in dict.fromkeys([*old, *new]):
        if field.split(".", 1)[0] in _NOT_CHANGES or old.get(field) == new.get(field):
            continue
        if is_secret(field):
            found.append({"field": field, "before": None, "after": None, "redacted": True})
        else:
            found.append({"field": field, "before": old.get(field), "after": new.get(field),
                          "redacted": False})
    return found


def _flat(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not is_secret(path):
            flat.update(_flat(value, f"{path}."))
        else:
            flat[path] = value
    return flat


async def insert(
    store: Store, audit: Audit | None, *, operation: str, target: Target, collection: str,
    document: Document, at: datetime,
) -> None:
    """Insert `document` into `collection` and record its creation, in one transaction
    (a plain insert when there is no one to record: `audit` None)."""
    if audit is None:
        await store.collection(collection).insert_one(document)
        return

    async def work(session: Session) -> None:
        await store.collection(collection).insert_one(document, session=session)
        audit.record(store, session, operation=operation, target=target, at=at,
                     after=document)

    await store.transaction(work)


async def update(
    store: Store, audit: Audit | None, *, operation: str, target: Target, collection: str,
    fields: Mapping[str, Any], at: datetime, filter: Mapping[str, Any] | None = None,
    upsert: bool = False,
) -> Document | None:
    """`$set` `fields` (dotted paths allowed) on the document `filter` finds (by default
    the target's; `upsert`: created if there is none), recording the fields that changed
    in the same transaction; returns the document as changed, or None (and records
    nothing) when no document matched."""
    query = dict(filter) if filter is not None else {"_id": target.id}
    if audit is None:
        return await store.collection(collection).find_one_and_update(
            query, {"$set": dict(fields)}, upsert=upsert, return_document=ReturnDocument.AFTER)

    async def work(session: Session) -> Document | None:
        before = await store.collection(collection).find_one_and_update(
            query, {"$set": dict(fields)}, upsert=upsert, session=session)
        if before is None:
            if not upsert:
                return None
            before = {}
        after = with_fields(before, fields)
        audit.record(store, session, operation=operation, target=target, at=at,
                     before=before, after=after)
        return after

    return await store.transaction(work)


async def delete(
    store: Store, audit: Audit | None, *, operation: str, target: Target, collection: str,
    at: datetime, filter: Mapping[str, Any] | None = None,
) -> Document | None:
    """Delete the document `filter` finds (by default the target's) and record what it
    held, in one transaction; returns it, or None (nothing recorded) when none matched."""
    query = dict(filter) if filter is not None else {"_id": target.id}
    if audit is None:
        return await store.collection(collection).find_one_and_delete(query)

    async def work(session: Session) -> Document | None:
        before = await store.collection(collection).find_one_and_delete(query, session=session)
        if before is not None:
            audit.record(store, session, operation=operation, target=target, at=at,
                         before=before)
        return before

    return await store.transaction(work)


def with_fields(document: Mapping[str, Any], fields: Mapping[str, Any]) -> Document:
    """`document` as `{"$set": fields}` leaves it (dotted paths set nested fields)."""
    changed: Document = copy.deepcopy(dict(document))
    for path, value in fields.items():
        *parents, last = path.split(".")
        place = changed
        for name in parents:
            place = place.setdefault(name, {})
        place[last] = value
    return changed


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which records to read: every given filter must match; `start` ≤ at < `end`."""

    actor_id: str | None = None
    target: Target | None = None
    operation: str | None = None
    start: datetime | None = None
    end: datetime | None = None


async def read_page(
    store: Store, query: AuditQuery, *, first: int, after_id: str | None
) -> Page:
    """Up to `first` (at most 100) records newest first, after the record `after_id`: one
    indexed query (an equality, if any, and a two-sided range of `_id`)."""
    size = max(0, min(first, MAX_PAGE_SIZE))
    upper = _HIGHEST_ID
    if query.end is not None:
        # Ids know the second: a bound inside a second takes in the whole of it.
        whole = query.end.microsecond == 0
        upper = first_id_at(query.end if whole else query.end + timedelta(seconds=1))
    if after_id is not None:
        upper = min(upper, after_id)
    lower = first_id_at(query.start) if query.start is not None else _LOWEST_ID
    filter: Document = {"_id": {"$gte": lower, "$lt": upper}}
    if query.actor_id is not None:
        filter["actor.id"] = query.actor_id
    if query.target is not None:
        filter["target.id"] = query.target.id
        filter["target.type"] = query.target.type
    if query.operation is not None:
        filter["operation"] = query.operation
    if query.start is not None or query.end is not None:
        # Ids know the second; the exact bounds are checked on `at`.
        filter["at"] = {key: value for key, value in
                        (("$gte", query.start), ("$lt", query.end)) if value is not None}
    cursor = store.collection(AUDIT_LOG).find(filter).sort("_id", -1).limit(size + 1)
    documents = await cursor.to_list(size + 1)
    return Page(documents=documents[:size], has_next=len(documents) > size)


async def delete_older_than(store: Store, cutoff: datetime, *, batch: int = 250) -> int:
    """Delete the records made before `cutoff` (by `_id`, a batch at a time so no single
    write holds the database long); returns how many went."""
    collection = store.collection(AUDIT_LOG)
    deleted = 0
    while True:
        ids = [doc["_id"] async for doc in collection.find(
            {"_id": {"$gte": _LOWEST_ID, "$lt": first_id_at(cutoff)}, "at": {"$lt": cutoff}},
            {"_id": 1}).sort("_id", 1).limit(batch)]
        if not ids:
            return deleted
        result = await collection.delete_many({"_id": {"$in": ids}})
        deleted += result.deleted_count
        if len(ids) < batch:
            return deleted
