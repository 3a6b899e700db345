"""Imported members (`kizuna import members`): accounts the shop brings over from its previous
programme, written a batch at a time (docs/import.md).

An imported account is a member account like a registered one (the same fields, name words
and, through `enrolment`, the same programme side), plus `external_id` (the shop's id for
the member, unique) and `imported` {file, line, payload_hash, at}; it has no password
(`password_hash: None`): sign-in refuses it like a wrong password until the member sets one
by password reset. It records `member.imported`, not `member.registered`, so the shop's
welcome messages are not sent to every member it already had. Consent given in the old
programme is recorded with channel "import" and the time the file gives (`consent_at`).
"""

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import events
from auth.collections import ACCOUNTS, CONSENTS, ERASED_EXTERNAL_IDS
from auth.consents import Channel, Purpose
from auth.member_search import MEMBER_WORDS, word_documents
from auth.roles import Role
from auth.validation import check_birthday, clean_name, normalize_email
from events import Event, EventType, Subject, SubjectKind
from store import IndexSpec, InvalidInput, KizunaError, Session, Store, new_id
from store.errors import InvalidDate

IMPORT_CHANNEL = Channel.IMPORT.value
PURPOSES = {"marketing_consent": Purpose.MARKETING_EMAIL.value, "sms_consent": Purpose.SMS.value,
            "personalisation_consent": Purpose.PERSONALISATION.value}
"""The consent columns of a members file and the consent purpose each records."""

EXTERNAL_ID_INDEX = IndexSpec(ACCOUNTS, (("external_id", 1),), name="external_id_unique",
                              unique=True,
                              partial_filter={"external_id": {"$exists": True}})
MAX_EXTERNAL_ID = 128
_EXTERNAL_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}

type BatchEnrolment = Callable[[Session, Sequence[tuple[str, datetime]]], Awaitable[None]]
"""The programme's side of a batch of new members (id, joined at), in their transaction."""


class DuplicateEmail(KizunaError):
    code = "DUPLICATE_EMAIL"


class ErasedMember(KizunaError):
    """The external id is of a member who was erased: they are not brought back."""

    code = "ERASED_MEMBER"


def external_id_digest(external_id: str) -> str:
    """What an erasure keeps of an external id (`erased_external_ids`): enough to recognise
    it in a later file, nothing that leads back to the person or to the pseudonymous
    member id."""
    return hashlib.sha256(f"kizuna-external-id:{external_id}".encode()).hexdigest()


class AlreadyImported(KizunaError):
    """The external id was imported before with other details."""

    code = "ALREADY_IMPORTED"


@dataclass(frozen=True, slots=True)
class ImportedMember:
    """One valid row of a members file."""

    external_id: str
    email: str
    name: str
    birthday: date | None
    consents: Mapping[str, bool]
    """Purpose → granted, for the consent columns the row fills."""
    consent_at: datetime | None
    line: int
    payload_hash: str = field(default="")


def clean_external_id(value: str) -> str:
    """The shop's member id, trimmed; raises InvalidInput."""
    cleaned = value.strip()
    if not _EXTERNAL_ID.match(cleaned):
        raise InvalidInput(f"Give an external id of 1 to {MAX_EXTERNAL_ID} printable "
                           "characters.", field=("external_id",))
    return cleaned


def parse_flag(value: str, column: str) -> bool | None:
    """A yes/no column: true/false, yes/no, 1/0 (any case); blank is None."""
    text = value.strip().lower()
    if not text:
        return None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise InvalidInput(f"{column} must be true or false, not {value.strip()!r}.",
                       field=(column,))


def parse_time(value: str, column: str) -> datetime | None:
    """An ISO 8601 time (a date alone is its midnight UTC; a time without an offset is
    UTC); blank is None."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = (datetime.fromisoformat(text) if "T" in text or " " in text
                  else datetime.combine(date.fromisoformat(text), datetime.min.time()))
    except ValueError:
        raise InvalidDate(f"{column} must be an ISO 8601 date or time, not {text!r}.",
                           field=(column,)) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def member_from_row(row: Mapping[str, str], *, line: int, now: datetime) -> ImportedMember:
    """The member a row describes; raises InvalidEmail or InvalidInput (the first problem)."""
    birthday_text = row.get("birthday", "").strip()
    try:
        birthday = date.fromisoformat(birthday_text) if birthday_text else None
    except ValueError:
        raise InvalidDate(f"birthday must be a date like 1990-04-23, not {birthday_text!r}.",
                           field=("birthday",)) from None
    if birthday is not None:
        try:
            check_birthday(birthday, today=now.date())
        except InvalidInput as error:
            raise InvalidDate(f"birthday {birthday_text}: {error.message}",
                              field=("birthday",)) from None
    consents: dict[str, bool] = {}
    for column, purpose in PURPOSES.items():
        flag = parse_flag(row.get(column, ""), column)
        if flag is not None:
            consents[purpose] = flag
    consent_at = parse_time(row.get("consent_at", ""), "consent_at")
    if consent_at is not None and consent_at > now:
        raise InvalidDate("consent_at is in the future.", field=("consent_at",))
    member = ImportedMember(
        external_id=clean_external_id(row.get("external_id", "")),
        email=normalize_email(row.get("email", ""), field=("email",)),
        name=clean_name(row.get("name", ""), field=("name",)), birthday=birthday,
        consents=consents, consent_at=consent_at, line=line,
    )
    payload = {"email": member.email, "name": member.name,
               "birthday": birthday.isoformat() if birthday else None,
               "consents": consents, "consent_at": consent_at.isoformat() if consent_at else None}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return ImportedMember(**{**_fields(member), "payload_hash": digest})


def _fields(member: ImportedMember) -> dict[str, Any]:
    return {name: getattr(member, name) for name in ImportedMember.__slots__}


@dataclass(frozen=True, slots=True)
class Existing:
    """What the database already holds of a batch's members."""

    by_external_id: Mapping[str, Mapping[str, Any]]
    """external id → {_id, imported.payload_hash}."""
    email_owners: Mapping[str, str | None]
    """email → the external id of the account holding it (None: not imported)."""
    erased: frozenset[str] = frozenset()
    """The digests of the batch's external ids that belonged to erased members."""


async def existing(store: Store, session: Session | None, members: Sequence[ImportedMember]) -> (
    Existing
):
    """The accounts with the batch's external ids or emails, and which ids were erased:
    three queries (≤ 250 each)."""
    accounts = store.collection(ACCOUNTS)
    ids = [m.external_id for m in members]
    emails = [m.email for m in members]
    by_id = {doc["external_id"]: doc async for doc in accounts.find(
        {"external_id": {"$in": ids}}, {"external_id": 1, "imported.payload_hash": 1},
        session=session)}
    owners = {doc["email"]: doc.get("external_id") async for doc in accounts.find(
        {"email": {"$in": emails}}, {"email": 1, "external_id": 1}, session=session)}
    erased = frozenset([doc["_id"] async for doc in store.collection(ERASED_EXTERNAL_IDS).find(
        {"_id": {"$in": [external_id_digest(i) for i in ids]}}, {"_id": 1}, session=session)])
    return Existing(by_id, owners, erased)


def check_against(member: ImportedMember, found: Existing) -> bool:
    """Whether the row is new (True) or already imported with the same details (False);
    raises AlreadyImported (other details), DuplicateEmail (another member's email) or
    ErasedMember (the member was erased: an old file must not bring them back)."""
    if external_id_digest(member.external_id) in found.erased:
        raise ErasedMember("This member was erased at their request; they are not imported "
                           "again.", field=("external_id",))
    before = found.by_external_id.get(member.external_id)
    if before is not None:
        if (before.get("imported") or {}).get("payload_hash") != member.payload_hash:
            raise AlreadyImported(
                "This external id was imported before with other details; change the "
                "member through the admin API instead.", field=("external_id",))
        return False
    if member.email in found.email_owners:
        raise DuplicateEmail("Another member has this email already.", field=("email",))
    return True


def account_document(member: ImportedMember, *, file: str, now: datetime) -> dict[str, Any]:
    """The account of an imported member: a registered member's fields (auth/accounts.py),
    without a password, with its external id and where it came from."""
    birthday = member.birthday
    marketing = member.consents.get("marketing_email", False)
    given_at = member.consent_at or now
    return {
        "_id": new_id(), "email": member.email, "password_hash": None, "name": member.name,
        "role": Role.MEMBER.value,
        "birthday": birthday.isoformat() if birthday else None,
        "birthday_md": birthday.strftime("%m-%d") if birthday else None,
        # The shop's record, known to Kizuna from the import on: gifts need their notice.
        "birthday_set_at": now if birthday else None,
        "marketing_consent": marketing, "marketing_consent_at": given_at if marketing else None,
        "consents": {purpose: {"granted": granted, "at": given_at, "channel": IMPORT_CHANNEL}
                     for purpose, granted in member.consents.items()},
        "store_id": None, "manager": False, "created_at": now,
        "external_id": member.external_id,
        "imported": {"file": file, "line": member.line, "payload_hash": member.payload_hash,
                     "at": now},
    }


def imported_event(doc: Mapping[str, Any]) -> Event:
    """`member.imported`: the body of `member.registered` plus the external id."""
    return Event(
        EventType.MEMBER_IMPORTED, Subject(SubjectKind.MEMBER, doc["_id"]),
        occurred_at=doc["created_at"], member_id=doc["_id"],
        data={"member": {"id": doc["_id"], "email": doc["email"], "name": doc["name"],
                         "marketing_consent": doc["marketing_consent"],
                         "external_id": doc["external_id"]}},
    )


async def insert_members(
    store: Store, session: Session, members: Sequence[ImportedMember], *, file: str,
    now: datetime, enrolment: BatchEnrolment,
) -> list[str]:
    """Insert the accounts of `members` (new ones, checked by `check_against`) with their
    name words, consent records and events, and `enrolment`, in the caller's transaction:
    a handful of commands whatever the batch's size. Returns the new member ids."""
    if not members:
        return []
    docs = [account_document(member, file=file, now=now) for member in members]
    await store.collection(ACCOUNTS).insert_many(docs, session=session)
    words = [word for doc in docs for word in word_documents(doc["_id"], doc["name"])]
    if words:
        await store.collection(MEMBER_WORDS).insert_many(words, session=session)
    consents = [{"_id": new_id(), "member_id": doc["_id"], "purpose": purpose, **state}
                for doc in docs for purpose, state in doc["consents"].items()]
    if consents:
        await store.collection(CONSENTS).insert_many(consents, session=session)
    events.record(store, session, *(imported_event(doc) for doc in docs))
    await enrolment(session, [(doc["_id"], now) for doc in docs])
    return [doc["_id"] for doc in docs]


async def members_by_external_id(store: Store, session: Session | None,
                                 external_ids: Sequence[str]) -> dict[str, str]:
    """external id → member id, for those of `external_ids` (≤ 250) that exist and are not
    erased or being erased (an erased member's points stay as they were)."""
    cursor = store.collection(ACCOUNTS).find(
        {"external_id": {"$in": list(external_ids)}, "role": Role.MEMBER.value,
         "erased_at": None, "erasure": None},
        {"external_id": 1}, session=session)
    return {doc["external_id"]: doc["_id"] async for doc in cursor}
