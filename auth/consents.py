"""Consent per purpose, with the history that proves it.

Every consent given or withdrawn is one record in `consents`, never changed afterwards:
{_id (time-ordered), member_id, purpose, granted, channel, at}. The account keeps the
current state beside it, `consents.<purpose>` = {granted, at, channel}, so a screen reads
it with the account. MARKETING_EMAIL is also mirrored to the older `marketing_consent` and
`marketing_consent_at` fields, which existing readers (the `marketingConsent` field,
exports) use.

Registration records every purpose (given or not) with channel `registration`; an account
older than this history has only its marketing consent, from registration.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import events
from auth.collections import ACCOUNTS, CONSENTS
from events import Event, EventType, Subject, SubjectKind
from store import NotFound, Session, Store
from store.clock import Clock
from store.ids import new_id_at
from store.pagination import Page, fetch_page


class Purpose(StrEnum):
    MARKETING_EMAIL = "marketing_email"
    SMS = "sms"
    PERSONALISATION = "personalisation"


class Channel(StrEnum):
    """Through what a consent was given or withdrawn."""

    APP = "app"
    """The member, through the API (their app or the shop's site)."""
    REGISTRATION = "registration"
    IMPORT = "import"
    ADMIN = "admin"
    SHOP = "shop"
    """A shop system, with its API key."""


@dataclass(frozen=True, slots=True)
class ConsentState:
    purpose: Purpose
    granted: bool
    at: datetime | None
    """When it was last given or withdrawn (None: never asked)."""
    channel: str | None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: str
    member_id: str
    purpose: Purpose
    granted: bool
    channel: str
    at: datetime


def consent_states(doc: Mapping[str, Any]) -> dict[Purpose, ConsentState]:
    """The current consent of each purpose, read from an account document."""
    stored: Mapping[str, Any] = doc.get("consents") or {}
    states = {}
    for purpose in Purpose:
        found = stored.get(purpose.value)
        if found is not None:
            states[purpose] = ConsentState(purpose, bool(found["granted"]), found.get("at"),
                                           found.get("channel"))
        elif purpose is Purpose.MARKETING_EMAIL and doc.get("marketing_consent"):
            # An account from before the history: only registration could have set it.
            states[purpose] = ConsentState(purpose, True, doc.get("marketing_consent_at"),
                                           Channel.REGISTRATION.value)
        else:
            states[purpose] = ConsentState(purpose, False, None, None)
    return states


def state_fields(purpose: Purpose, granted: bool, *, channel: str, at: datetime) -> (
    dict[str, Any]
):
    """The account fields (dotted, for `$set`) that hold `purpose`'s current state."""
    fields: dict[str, Any] = {
        f"consents.{purpose.value}": {"granted": granted, "at": at, "channel": channel}}
    if purpose is Purpose.MARKETING_EMAIL:
        fields["marketing_consent"] = granted
        fields["marketing_consent_at"] = at if granted else None
    return fields


def history_record(*, member_id: str, purpose: Purpose, granted: bool, channel: str,
                   at: datetime) -> dict[str, Any]:
    return {"_id": new_id_at(at), "member_id": member_id, "purpose": purpose.value,
            "granted": granted, "channel": channel, "at": at}


def consent_event(*, member_id: str, purpose: Purpose, granted: bool, channel: str,
                  at: datetime) -> Event:
    return Event(EventType.MEMBER_CONSENT_CHANGED, Subject(SubjectKind.MEMBER, member_id),
                 occurred_at=at, member_id=member_id,
                 data={"consent": {"purpose": purpose.value, "granted": granted,
                                   "channel": channel, "at": at}})


async def record_consent(
    store: Store, session: Session, *, member_id: str, purpose: Purpose, granted: bool,
    channel: str, at: datetime, event: bool = True,
) -> None:
    """Record that the member gave (`granted`) or withdrew consent to `purpose` through
    `channel`, in the caller's transaction: one history record, the account's current
    state and (unless `event` is False) a `member.consent_changed` event. Callers record
    only what changed, except where the choice itself is worth proving (registration,
    import)."""
    await store.collection(ACCOUNTS).update_one(
        {"_id": member_id}, {"$set": state_fields(purpose, granted, channel=channel, at=at)},
        session=session)
    store.insert_at_commit(session, CONSENTS, history_record(
        member_id=member_id, purpose=purpose, granted=granted, channel=channel, at=at))
    if event:
        events.record(store, session, consent_event(
            member_id=member_id, purpose=purpose, granted=granted, channel=channel, at=at))


def registration_consents(choices: Mapping[Purpose, bool], *, member_id: str,
                          at: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """For a new member's account: the fields of every purpose's state (those not in
    `choices` not given) and the history records of those choices."""
    fields: dict[str, Any] = {"consents": {}}
    records = []
    for purpose in Purpose:
        granted = choices.get(purpose, False)
        channel = Channel.REGISTRATION.value
        fields["consents"][purpose.value] = {"granted": granted, "at": at, "channel": channel}
        records.append(history_record(member_id=member_id, purpose=purpose, granted=granted,
                                      channel=channel, at=at))
    return fields, records


async def update_consents(
    store: Store, *, member_id: str, choices: Mapping[Purpose, bool], channel: str,
    clock: Clock,
) -> dict[Purpose, ConsentState]:
    """Give or withdraw consents; only those that change are recorded (with an event
    each), in one transaction. Returns the states after. Raises NotFound."""
    now = clock()

    async def work(session: Session) -> dict[Purpose, ConsentState]:
        doc = await store.collection(ACCOUNTS).find_one(
            {"_id": member_id}, {"consents": 1, "marketing_consent": 1,
                                 "marketing_consent_at": 1}, session=session)
        if doc is None:
            raise NotFound("No member with this id.", field=("input",))
        states = consent_states(doc)
        for purpose, granted in choices.items():
            if states[purpose].granted is granted and states[purpose].at is not None:
                continue
            await record_consent(store, session, member_id=member_id, purpose=purpose,
                                 granted=granted, channel=channel, at=now)
            states[purpose] = ConsentState(purpose, granted, now, channel)
        return states

    return await store.transaction(work)


async def consent_history(
    store: Store, *, member_id: str, purpose: Purpose | None, first: int,
    after_id: str | None,
) -> tuple[list[ConsentRecord], Page]:
    """The member's consent records, newest first (of one purpose, or all)."""
    query: dict[str, Any] = {"member_id": member_id}
    if purpose is not None:
        query["purpose"] = purpose.value
    page = await fetch_page(store.collection(CONSENTS), filter=query, first=first,
                            after_id=after_id, descending=True)
    return [_record(doc) for doc in page.documents], page


async def consent_records(store: Store, record_ids: list[str]) -> dict[str, ConsentRecord]:
    """Consent records by id, in one query (for `node`)."""
    cursor = store.collection(CONSENTS).find({"_id": {"$in": record_ids}})
    return {doc["_id"]: _record(doc) async for doc in cursor}


def _record(doc: Mapping[str, Any]) -> ConsentRecord:
    return ConsentRecord(id=doc["_id"], member_id=doc["member_id"],
                         purpose=Purpose(doc["purpose"]), granted=doc["granted"],
                         channel=doc["channel"], at=doc["at"])
