"""The outbox: events written in the same unit of work as the change they describe.

Two ways in, one record:
- Inside a transaction, `record` inserts the events with the caller's session: they commit
  or vanish with the change.
- A change made by one conditional write (a voucher's redemption, its void) carries its
  event in that very write (`staged`: the event rides in the document's `outbox` field), so
  the change and its event are one atomic document update. `publish` then copies the events
  to the outbox and takes them off the document; if the process dies between the two,
  `publish_stranded` (at start-up and from the background jobs) finishes the job. An event
  published twice is inserted once: its id is fixed when it is staged.

Only this package knows the outbox's shape.
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from events.catalogue import (
    SECOND,
    WEBHOOKS_PENDING,
    Event,
    FromDocument,
    SubjectKind,
    event_from_document,
)
from store import IndexSpec, Session, Store, log_retrying, only_duplicate_keys

log = logging.getLogger("kizuna.events")

OUTBOX = "events"
STAGED_FIELD = "outbox"
"""The field of a document written by a conditional write that holds its unpublished
events."""

INDEXES = (
    IndexSpec(OUTBOX, (("member_id", 1), ("_id", 1)), name="member_feed"),
    IndexSpec(OUTBOX, (("store_id", 1), ("_id", 1)), name="store_feed"),
    IndexSpec(OUTBOX, (("subject.id", 1),), name="subject"),
    IndexSpec(OUTBOX, ((WEBHOOKS_PENDING, 1),), name="webhooks_pending"),
    IndexSpec(OUTBOX, ((SECOND, 1),), name="second"),
)


def staged_index(collection: str) -> IndexSpec:
    """The index `publish_stranded` finds `collection`'s unpublished events by."""
    return IndexSpec(collection, ((f"{STAGED_FIELD}._id", 1),), name="staged_events",
                     partial_filter={f"{STAGED_FIELD}._id": {"$exists": True}})


def record(store: Store, session: Session, *events: Event) -> None:
    """Write `events` with the caller's transaction: all the events of one transaction go
    in one command as it ends (Store.insert_at_commit)."""
    for event in events:
        store.insert_at_commit(session, OUTBOX, event.document())


def staged(pipeline: Sequence[Mapping[str, Any]], *events: Event) -> list[Mapping[str, Any]]:
    """`pipeline` (a conditional write's update pipeline) followed by the stage that
    stages `events` on the document it changes; their `FromDocument` values are read from
    the document as `pipeline` leaves it, everything else is taken literally."""
    new = [_expression(event.document()) for event in events]
    return [*pipeline, {"$set": {STAGED_FIELD: {
        "$concatArrays": [{"$ifNull": [f"${STAGED_FIELD}", []]}, new]}}}]


def literally(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A pipeline `$set` stage that sets `fields` to exactly these values (a string that
    starts with `$` stays a string)."""
    return {"$set": {name: {"$literal": value} for name, value in fields.items()}}


def _expression(value: Any) -> Any:
    if isinstance(value, FromDocument):
        return f"${value.path}"
    if isinstance(value, dict):
        return {key: _expression(item) for key, item in value.items()}
    return {"$literal": value}


def staged_document(document: Mapping[str, Any], *events: Event) -> dict[str, Any]:
    """A new `document` to insert that carries `events` staged."""
    return {**document, STAGED_FIELD: [event.document() for event in events]}


async def publish(
    store: Store, collection: str, document: Mapping[str, Any], *,
    session: Session | None = None,
) -> list[Event]:
    """Copy the events staged on `document` (as a conditional write returned it) to the
    outbox and take them off it; returns them.

    Outside a transaction the change is already made and its events are safe on the
    document: a failure here is logged, not raised, and `publish_stranded` finishes later.
    Publishings that happen at the same moment go together (PUBLISHING); each returns once
    its own events are in the outbox.
    """
    staged_docs: Sequence[Mapping[str, Any]] = document.get(STAGED_FIELD) or ()
    if not staged_docs:
        return []
    try:
        if session is None:
            await store.batches.named(PUBLISHING, partial(_publish_together, store)).add(
                (collection, document["_id"], staged_docs))
        else:
            await _insert_once(store, staged_docs, session=session)
            await _take_off(store, collection, [document["_id"]], staged_docs, session=session)
    except Exception as error:
        if session is not None:
            raise
        log_retrying(log, "publishing staged events failed; the relay will retry", error)
        return []
    return [event_from_document(doc) for doc in staged_docs]


async def publish_stranded(store: Store, collections: Iterable[str]) -> int:
    """Publish the events a crash left staged on documents of `collections`; returns how
    many documents had some."""
    found = 0
    for collection in collections:
        cursor = store.collection(collection).find(
            {f"{STAGED_FIELD}._id": {"$exists": True}}, {STAGED_FIELD: 1})
        async for document in cursor:
            await publish(store, collection, document)
            found += 1
    return found


PUBLISHING = "events.publish"
"""The batch in which concurrent publishings outside transactions go together: one insert
into the outbox, and one update per collection that takes the events off the documents."""


async def _publish_together(
    store: Store, staged: list[tuple[str, Any, Sequence[Mapping[str, Any]]]]
) -> None:
    await _insert_once(store, [doc for _, _, docs in staged for doc in docs], session=None)
    by_collection: dict[str, tuple[list[Any], list[Mapping[str, Any]]]] = {}
    for collection, document_id, docs in staged:
        document_ids, published = by_collection.setdefault(collection, ([], []))
        document_ids.append(document_id)
        published.extend(docs)
    for collection, (document_ids, published) in by_collection.items():
        await _take_off(store, collection, document_ids, published, session=None)


async def _take_off(
    store: Store, collection: str, document_ids: list[Any],
    published: Sequence[Mapping[str, Any]], *, session: Session | None,
) -> None:
    """Take the events `published` (staged, now in the outbox) off the documents
    `document_ids`. An event's id is unique, so pulling them all from all the documents
    pulls each from its own."""
    await store.collection(collection).update_many(
        {"_id": {"$in": document_ids}},
        {"$pull": {STAGED_FIELD: {"_id": {"$in": [doc["_id"] for doc in published]}}}},
        session=session,
    )


async def _insert_once(
    store: Store, documents: Sequence[Mapping[str, Any]], *, session: Session | None
) -> None:
    try:
        await store.collection(OUTBOX).insert_many(
            [dict(doc) for doc in documents], ordered=False, session=session)
    except Exception as error:
        # Published before (a retry after a crash): the outbox already holds it.
        if not only_duplicate_keys(error):
            raise


async def types_by_subject(
    store: Store, session: Session | None, kind: SubjectKind, where: Mapping[str, Any]
) -> dict[str, dict[str, str]]:
    """For `kizuna verify`: the events in the outbox about each subject of `kind` (their
    types by event id), by subject id, among the events that match `where` (a batch of
    members)."""
    found: dict[str, dict[str, str]] = {}
    cursor = store.collection(OUTBOX).find(
        {**where, "subject.kind": kind.value}, {"subject.id": 1, "type": 1}, session=session)
    async for doc in cursor:
        found.setdefault(doc["subject"]["id"], {})[doc["_id"]] = doc["type"]
    return found


def staged_types(document: Mapping[str, Any]) -> dict[str, str]:
    """The events staged on `document` (their types by event id). Between publishing's two
    steps an event is both staged and in the outbox: by id, it counts once."""
    return {event["_id"]: event["type"] for event in document.get(STAGED_FIELD) or ()}
