"""The personal data `events` holds about a member: the events about them (the outbox), the
audit trail's records about them, and the webhook deliveries of their events.

None of it is deleted on erasure: the outbox is what shop systems were told and what
`kizuna verify` matches the ledger against, the audit trail is the programme's record of
who changed what, deliveries are the proof of what was sent. Each keeps its shape and its
pseudonymous member id; the personal values inside are emptied or replaced
(events/personal_data.py `Scrubber`).
"""

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from events.audit import AUDIT_LOG
from events.catalogue import SECOND, WEBHOOKS_PENDING
from events.outbox import OUTBOX
from events.personal_data import (
    ERASED,
    Erasure,
    Person,
    PersonalData,
    Phase,
    Scrubber,
    is_personal_key,
    public_record,
    rewrite,
)
from events.redaction import SECRET_FIELD
from events.webhooks import DELIVERIES, ENDPOINTS
from store import Document, IndexSpec, Store

INDEXES = (
    # The audit records about a member (scans, vouchers issued to them) by member id.
    IndexSpec(AUDIT_LOG, (("member_id", 1), ("_id", 1)), name="by_member"),
)


async def _events(store: Store, person: Person) -> AsyncGenerator[Document]:
    cursor = store.collection(OUTBOX).find({"member_id": person.member_id}).sort("_id", 1)
    async for doc in cursor:
        record = public_record(doc, drop=(WEBHOOKS_PENDING, SECOND))
        # A one-time code (password reset, e-mail change) is for the inbox it was sent to:
        # an export read with a stolen access token must not carry a live one.
        record["data"] = {key: value for key, value in (record.get("data") or {}).items()
                          if key != SECRET_FIELD}
        yield record


async def _scrub_events(store: Store, erasure: Erasure) -> None:
    await _scrub(store, erasure, {"member_id": erasure.person.member_id})


async def scrub_events_about(store: Store, erasure: Erasure, subject_ids: list[str]) -> None:
    """Scrub the erased member out of the events of other members' records `subject_ids`
    (e.g. the other side of a gift, which names them)."""
    if subject_ids:
        await _scrub(store, erasure, {"subject.id": {"$in": subject_ids}})


async def _scrub(store: Store, erasure: Erasure, query: Document) -> None:
    scrub = Scrubber(erasure.person)

    def changes(doc: Document) -> dict[str, Any] | None:
        data = scrub.value(doc.get("data") or {})
        return {"data": data} if data != doc.get("data") else None

    await rewrite(store, OUTBOX, aiter(store.collection(OUTBOX).find(query, {"data": 1})),
                  changes)


_AUDIT_QUERIES = ("target.id", "member_id", "actor.id")


async def _audit_records(store: Store, person: Person) -> AsyncGenerator[Document]:
    """The records about the member or made by them, oldest first: one query per way a
    record names them, merged by id."""
    seen: dict[str, Document] = {}
    for field in _AUDIT_QUERIES:
        async for doc in store.collection(AUDIT_LOG).find({field: person.member_id}):
            seen[doc["_id"]] = doc
    for record_id in sorted(seen):
        doc = seen[record_id]
        # Who acted is kept to their role: staff's devices and addresses are theirs.
        actor = doc.get("actor") or {}
        yield {**public_record(doc), "actor": {"role": actor.get("role")}}


def _scrubbed_changes(changes: list[Mapping[str, Any]], scrub: Scrubber) -> list[Document]:
    scrubbed: list[Document] = []
    for change in changes:
        field = str(change.get("field", ""))
        if is_personal_key(field.rsplit(".", 1)[-1]):
            scrubbed.append({**change, "before": None, "after": None, "redacted": True})
        else:
            scrubbed.append({**change, "before": scrub.value(change.get("before")),
                             "after": scrub.value(change.get("after"))})
    return scrubbed


async def _scrub_audit(store: Store, erasure: Erasure) -> None:
    member_id, scrub = erasure.person.member_id, Scrubber(erasure.person)

    def changes(doc: Document) -> dict[str, Any] | None:
        fields: dict[str, Any] = {}
        scrubbed = _scrubbed_changes(doc.get("changes") or [], scrub)
        if scrubbed != doc.get("changes"):
            fields["changes"] = scrubbed
        actor = doc.get("actor") or {}
        if actor.get("id") == member_id and actor.get("client_address") not in (None, ERASED):
            fields["actor.client_address"] = ERASED
        return fields or None

    for field in _AUDIT_QUERIES:
        await rewrite(store, AUDIT_LOG, aiter(store.collection(AUDIT_LOG).find(
            {field: member_id}, {"changes": 1, "actor": 1})), changes)


async def _scrub_deliveries(store: Store, erasure: Erasure) -> None:
    """The receivers' answers to the member's events may echo what was sent: the attempts'
    answers and errors are scrubbed (one query per endpoint, on its member index)."""
    scrub = Scrubber(erasure.person)

    def changes(doc: Document) -> dict[str, Any] | None:
        attempts = [{**a, "response": scrub.value(a.get("response")),
                     "error": scrub.value(a.get("error"))} for a in doc.get("attempts") or []]
        return {"attempts": attempts} if attempts != doc.get("attempts") else None

    endpoint_ids = [doc["_id"] async for doc in store.collection(ENDPOINTS).find({}, {"_id": 1})]
    for endpoint_id in endpoint_ids:
        await rewrite(store, DELIVERIES, aiter(store.collection(DELIVERIES).find(
            {"endpoint_id": endpoint_id, "member_id": erasure.person.member_id},
            {"attempts": 1})), changes)


PERSONAL_DATA = (
    PersonalData(
        section="events", collection=OUTBOX, export=_events, erase=_scrub_events,
        phase=Phase.RECORDS,
        kept="Every event about the member, its personal fields emptied: what shop systems "
        "were told, and what `kizuna verify` matches the ledger against."),
    PersonalData(
        section="audit_records", collection=AUDIT_LOG, export=_audit_records,
        erase=_scrub_audit, phase=Phase.RECORDS,
        kept="Who changed what about the member, personal values redacted, until the audit "
        "retention deletes it."),
    PersonalData(
        section="webhook_deliveries", collection=DELIVERIES, erase=_scrub_deliveries,
        phase=Phase.RECORDS,
        kept="Which events were sent where and how the receivers answered, answers "
        "scrubbed."),
)
