"""Erasing a member's personal data (GDPR Art. 17): `accountDelete` by the member (with
their password), `memberErase` by an administrator (with a reason), and the background job
that finishes an erasure a crash interrupted.

An erasure runs in three steps, and is safe to run again from the start at any point:
1. The account is marked (`erasure`: when, by whom, why, the operation) and its password
   removed, so nobody signs in with it again. The mark is what lets a re-run — the member
   or an administrator asking again, or the background job — finish the work.
2. Every declared eraser runs, by phase (events/personal_data.py `Phase`): open vouchers
   are cancelled, the balance closed, the data removed or pseudonymised, the records about
   the member scrubbed. Each finds what it did before done.
3. One transaction replaces the account by its pseudonymous remains (id, role, creation
   time, `erased_at`), records `member.erased` (the id and the time, nothing personal)
   and the audit record. Its filter (`erased_at` unset) makes it happen once: a concurrent
   or later erasure gets ALREADY_ERASED.
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import events
from auth.collections import ACCOUNTS
from auth.data_export import member_account, person_of
from auth.errors import AlreadyErased, InvalidCredentials
from auth.roles import Role
from auth.sign_in import Authenticator
from events import Event, EventType, Subject, SubjectKind
from events.audit import AUDIT_LOG, Audit, Target
from events.personal_data import ERASED, Erasure, PersonalData, Scrubber
from store import Document, IndexSpec, InvalidInput, Session, Store
from store.clock import Clock

log = logging.getLogger("kizuna.erasure")

PENDING_INDEX = IndexSpec(ACCOUNTS, (("erasure.started_at", 1),), name="erasure_pending",
                          partial_filter={"erasure.started_at": {"$exists": True}})
RESUME_AFTER = timedelta(minutes=10)
"""How old an unfinished erasure must be before the background job takes it over (one
still running in its request is left to finish)."""
_REMOVED_FIELDS = ("email", "name", "birthday", "password_hash", "marketing_consent",
                   "consents")
_MIN_REASON, _MAX_REASON = 3, 500


def erased_email(member_id: str) -> str:
    """An erased account's `email`: unique (the index wants one) and no address, so no
    sign-in, lookup or message can reach it."""
    return f"erased:{member_id}"


def check_reason(reason: str) -> str:
    cleaned = " ".join(reason.split())
    if not _MIN_REASON <= len(cleaned) <= _MAX_REASON:
        raise InvalidInput(f"Say why, in {_MIN_REASON} to {_MAX_REASON} characters.",
                           field=("input", "reason"))
    return cleaned


async def erase_member(
    store: Store, personal_data: Sequence[PersonalData], *, member_id: str, clock: Clock,
    actor: Audit, operation: str, reason: str | None,
) -> datetime:
    """Erase the member's personal data everywhere; returns when it was done. Raises
    NotFound, AlreadyErased. A started erasure that stopped is finished (its first actor
    and reason are kept)."""
    doc = await member_account(store, member_id)
    marker = doc.get("erasure") or {
        "started_at": clock(), "operation": operation,
        "reason": Scrubber(person_of(doc)).text(reason) if reason else None,
        "actor": {"id": actor.principal_id, "role": actor.role, "api_key_id": actor.api_key_id,
                  "store_id": actor.store_id, "request_id": actor.request_id,
                  "client_address": actor.client_address},
    }
    await store.collection(ACCOUNTS).update_one(
        {"_id": member_id, "erased_at": None},
        {"$set": {"erasure": marker, "password_hash": None}})
    if doc.get("outbox"):  # events staged on the account: out, so they are scrubbed too
        await events.publish(store, ACCOUNTS, doc)
    erasure = Erasure(person=person_of(doc), clock=clock, started_at=marker["started_at"])
    for declared in sorted(personal_data, key=lambda d: d.phase):
        if declared.erase is not None:
            await declared.erase(store, erasure)
    return await _finish(store, doc, marker, clock)


async def _finish(store: Store, doc: Document, marker: Document, clock: Clock) -> datetime:
    member_id, now = doc["_id"], clock()
    remains = {"_id": member_id, "role": Role.MEMBER.value, "created_at": doc["created_at"],
               "email": erased_email(member_id), "name": "", "birthday": None,
               "birthday_md": None, "birthday_set_at": None, "password_hash": None,
               "marketing_consent": False, "marketing_consent_at": None, "store_id": None,
               "manager": False, "erased_at": now}
    by = marker["actor"]
    audit = Audit(principal_id=by["id"], role=by["role"],
                  client_address=by.get("client_address") or "",
                  request_id=by.get("request_id") or "", store_id=by.get("store_id"),
                  api_key_id=by.get("api_key_id"))
    changes: list[Document] = [
        {"field": field, "before": None, "after": None, "redacted": True}
        for field in _REMOVED_FIELDS]
    if marker.get("reason"):
        changes.append({"field": "erasure_reason", "before": None, "after": marker["reason"],
                        "redacted": False})

    async def work(session: Session) -> None:
        replaced = await store.collection(ACCOUNTS).replace_one(
            {"_id": member_id, "erased_at": None}, remains, session=session)
        if replaced.matched_count == 0:
            raise AlreadyErased("This member's personal data was erased already.",
                                field=("input", "memberId"))
        events.record(store, session, Event(
            EventType.MEMBER_ERASED, Subject(SubjectKind.MEMBER, member_id), occurred_at=now,
            member_id=member_id, data={"member": {"id": member_id}, "erased_at": now}))
        store.insert_at_commit(session, AUDIT_LOG, audit.entry(
            operation=marker["operation"], target=Target("Member", member_id), at=now,
            changes=changes, member_id=member_id))

    await store.transaction(work)
    log.info("erased the personal data of member %s", member_id)
    return now


async def delete_own_account(
    auth: Authenticator, personal_data: Sequence[PersonalData], *, member_id: str,
    password: str, client_address: str, request_id: str, clock: Clock,
) -> datetime:
    """The member leaves: their password is checked (failures count like failed sign-ins)
    and their personal data erased. Raises InvalidCredentials, RateLimited, AlreadyErased;
    nothing is changed then. An erasure they started that stopped is finished without the
    password (it is gone by then)."""
    store = auth.store
    doc = await member_account(store, member_id)
    if doc.get("erasure") is None:
        async with auth.passwords.turn(client=client_address):
            counters = await auth.attempts.reserve(
                {f"account:{doc['email']}": auth.limits.per_account})
            matches = await auth.passwords.verify(doc.get("password_hash"), password)
        if not matches:
            raise InvalidCredentials("The password is incorrect.", field=("input", "password"))
        await auth.attempts.release(counters)
    # The member's own address is personal data: the audit record does not keep it.
    actor = Audit(principal_id=member_id, role=Role.MEMBER.value, client_address=ERASED,
                  request_id=request_id)
    return await erase_member(store, personal_data, member_id=member_id, clock=clock,
                              actor=actor, operation="accountDelete", reason=None)


async def finish_pending_erasures(
    store: Store, personal_data: Sequence[PersonalData], *, clock: Clock
) -> int:
    """Finish the erasures that started more than RESUME_AFTER ago and stopped (a crash);
    returns how many were finished now."""
    query: dict[str, Any] = {"erasure.started_at": {"$lt": clock() - RESUME_AFTER},
                             "erased_at": None, "role": Role.MEMBER.value}
    pending = [doc async for doc in store.collection(ACCOUNTS).find(query, {"erasure": 1})]
    finished = 0
    for doc in pending:
        by = doc["erasure"]["actor"]
        actor = Audit(principal_id=by["id"], role=by["role"],
                      client_address=by.get("client_address") or "",
                      request_id=by.get("request_id") or "")
        try:
            await erase_member(store, personal_data, member_id=doc["_id"], clock=clock,
                               actor=actor, operation=doc["erasure"]["operation"],
                               reason=None)
        except AlreadyErased:
            continue  # finished meanwhile by a request
        finished += 1
    return finished
