"""Accounts: members who register themselves, staff bound to a store, admins."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import events
from auth.collections import ACCOUNTS, CONSENTS, STORES
from auth.consents import ConsentState, Purpose, consent_states, registration_consents
from auth.errors import EmailTaken
from auth.member_search import index_name
from auth.password_strength import DEFAULT_MIN_SCORE
from auth.passwords import Passwords
from auth.roles import Principal, Role
from auth.validation import check_birthday, check_password, clean_name, normalize_email
from events import Event, EventType, Subject, SubjectKind
from events import audit as audit_log
from events.audit import Audit, Target
from store import (
    IndexSpec,
    KizunaError,
    NotFound,
    ReturnDocument,
    Session,
    Store,
    is_duplicate_key,
    new_id,
)
from store.clock import Clock
from store.errors import InputErrors

type Enrolment = Callable[[Session, str, datetime], Awaitable[None]]
"""Writes that must commit with a new member's account (given its id and creation time),
or not at all."""

# The birthday job finds the members born on a day by the stored "MM-DD".
BIRTHDAY_INDEX = IndexSpec(ACCOUNTS, (("birthday_md", 1), ("_id", 1)), name="birthday_day")


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str
    name: str
    role: Role
    created_at: datetime
    birthday: date | None = None
    marketing_consent: bool = False
    store_id: str | None = None
    # Store managers may void a redemption made at their store.
    manager: bool = False
    birthday_set_at: datetime | None = None
    """When the birthday was last set or changed (birthday gifts need notice)."""
    marketing_consent_at: datetime | None = None
    """When the member gave marketing consent (None without consent)."""
    erased_at: datetime | None = None
    """When the member's personal data was erased (auth/erasure.py)."""
    consents: Mapping[Purpose, ConsentState] = field(default_factory=dict)
    """The current consent of each purpose (auth/consents.py)."""

    def consents_to(self, purpose: Purpose) -> bool:
        state = self.consents.get(purpose)
        return state is not None and state.granted

    def principal(self, *, session_id: str | None = None) -> Principal:
        return Principal(
            subject_id=self.id, role=self.role, store_id=self.store_id, session_id=session_id
        )


def account_from_document(doc: Mapping[str, Any]) -> Account:
    birthday = doc.get("birthday")
    return Account(
        id=doc["_id"],
        email=doc["email"],
        name=doc["name"],
        role=Role(doc["role"]),
        created_at=doc["created_at"],
        birthday=date.fromisoformat(birthday) if birthday else None,
        marketing_consent=bool(doc.get("marketing_consent", False)),
        store_id=doc.get("store_id"),
        manager=bool(doc.get("manager", False)),
        birthday_set_at=doc.get("birthday_set_at"),
        marketing_consent_at=doc.get("marketing_consent_at"),
        erased_at=doc.get("erased_at"),
        consents=consent_states(doc),
    )


@dataclass(frozen=True, slots=True)
class NewAccount:
    """Validated input for an account of any role."""

    email: str
    password: str
    name: str
    birthday: date | None = None
    marketing_consent: bool = False


def validate_new_account(
    *, email: str, password: str, name: str, birthday: date | None, today: date,
    min_score: int = DEFAULT_MIN_SCORE,
) -> NewAccount:
    """Check every field and report all problems at once (InputErrors); the password needs
    zxcvbn's `min_score`."""
    errors: list[KizunaError] = []
    normalized = email
    try:
        normalized = normalize_email(email)
    except KizunaError as error:
        errors.append(error)
    for check in (
        lambda: check_password(password, email=normalized, name=name, min_score=min_score),
        lambda: clean_name(name),
        lambda: check_birthday(birthday, today=today) if birthday else None,
    ):
        try:
            check()
        except KizunaError as error:
            errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return NewAccount(email=normalized, password=password, name=clean_name(name), birthday=birthday)


async def _insert_account(
    store: Store,
    passwords: Passwords,
    account: NewAccount,
    *,
    role: Role,
    clock: Clock,
    consents: Mapping[Purpose, bool] | None = None,
    store_id: str | None = None,
    manager: bool = False,
    enrolment: Enrolment | None = None,
    audit: Audit | None = None,
) -> Account:
    """Insert the account (the password hashed; with `audit`, its creation recorded — its
    hash never is); a member's `consents` (each purpose, given or not) are recorded with
    their history. Raises EmailTaken."""
    now = clock()
    marketing_consent = bool((consents or {}).get(Purpose.MARKETING_EMAIL, False))
    doc: dict[str, Any] = {
        "_id": new_id(),
        "email": account.email,
        "password_hash": await passwords.hash(account.password),
        "name": account.name,
        "role": role.value,
        "birthday": account.birthday.isoformat() if account.birthday else None,
        "birthday_md": account.birthday.strftime("%m-%d") if account.birthday else None,
        "birthday_set_at": now if account.birthday else None,
        "marketing_consent": marketing_consent,
        "marketing_consent_at": now if marketing_consent else None,
        "store_id": store_id,
        "manager": manager,
        "created_at": now,
    }
    try:
        if role is Role.MEMBER:
            # The account, its event, its consents' history, its name's words and the
            # programme's side of the new member (`enrolment`) commit together.
            state, history = registration_consents(consents or {}, member_id=doc["_id"],
                                                   at=now)
            doc.update(state)
            registered = registered_event(doc)

            async def work(session: Session) -> None:
                await store.collection(ACCOUNTS).insert_one(doc, session=session)
                events.record(store, session, registered)
                for record in history:
                    store.insert_at_commit(session, CONSENTS, record)
                await index_name(store, session, member_id=doc["_id"], name=doc["name"])
                if enrolment is not None:
                    await enrolment(session, doc["_id"], now)

            await store.transaction(work)
        else:
            await audit_log.insert(store, audit, operation="staffCreate",
                                   target=Target("Staff", doc["_id"]), collection=ACCOUNTS,
                                   document=doc, at=now)
    except Exception as error:
        if is_duplicate_key(error):
            raise EmailTaken(
                "An account with this email already exists.", field=("input", "email")
            ) from error
        raise
    return account_from_document(doc)


def registered_event(doc: dict[str, Any]) -> Event:
    """The event of a new member's account document `doc`."""
    return Event(
        EventType.MEMBER_REGISTERED, Subject(SubjectKind.MEMBER, doc["_id"]),
        occurred_at=doc["created_at"], member_id=doc["_id"],
        data={"member": {"id": doc["_id"], "email": doc["email"], "name": doc["name"],
                         "marketing_consent": doc["marketing_consent"]},
              **({"consents": {purpose: state["granted"]
                               for purpose, state in doc["consents"].items()}}
                 if doc.get("consents") else {})},
    )


async def register_member(
    store: Store,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    name: str,
    birthday: date | None,
    marketing_consent: bool,
    clock: Clock,
    enrolment: Enrolment | None = None,
    consents: Mapping[Purpose, bool] | None = None,
) -> Account:
    """Create a member account; raises InvalidEmail, WeakPassword, InvalidInput, EmailTaken,
    RateLimited (the password pool is full). `enrolment` (e.g. a referral link) commits with
    the account, or nothing is created. `consents` (each purpose given or not; a missing one
    is not given) overrides `marketing_consent` for MARKETING_EMAIL."""
    account = validate_new_account(
        email=email, password=password, name=name, birthday=birthday, today=clock().date(),
        min_score=passwords.min_score,
    )
    return await _insert_account(
        store, passwords, account, role=Role.MEMBER, clock=clock,
        consents={Purpose.MARKETING_EMAIL: marketing_consent, **(consents or {})},
        enrolment=enrolment,
    )


async def create_staff(
    store: Store,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    name: str,
    store_id: str,
    clock: Clock,
    audit: Audit | None,
    manager: bool = False,
) -> Account:
    """Create a staff account bound to an existing store (a manager may void redemptions
    made there); raises NotFound for the store."""
    account = validate_new_account(
        email=email, password=password, name=name, birthday=None, today=clock().date(),
        min_score=passwords.min_score,
    )
    if await store.collection(STORES).count_documents({"_id": store_id}, limit=1) == 0:
        raise NotFound("No store with this id.", field=("input", "store"))
    return await _insert_account(
        store, passwords, account, role=Role.STAFF, clock=clock, store_id=store_id,
        manager=manager, audit=audit,
    )


async def create_admin(
    store: Store, passwords: Passwords, *, email: str, password: str, name: str, clock: Clock
) -> Account:
    """Create an administrator (from the CLI only)."""
    account = validate_new_account(
        email=email, password=password, name=name, birthday=None, today=clock().date(),
        min_score=passwords.min_score,
    )
    return await _insert_account(store, passwords, account, role=Role.ADMIN, clock=clock)


async def get_account(store: Store, account_id: str) -> Account | None:
    doc = await store.collection(ACCOUNTS).find_one({"_id": account_id}, {"password_hash": 0})
    return account_from_document(doc) if doc else None


async def get_accounts(store: Store, account_ids: list[str]) -> dict[str, Account]:
    """Accounts by id in one query (for DataLoaders)."""
    cursor = store.collection(ACCOUNTS).find({"_id": {"$in": account_ids}}, {"password_hash": 0})
    return {doc["_id"]: account_from_document(doc) async for doc in cursor}


async def find_credentials(store: Store, email: str) -> tuple[Account, str | None] | None:
    """The account with this (normalised) email and its password hash (None: it has no
    password yet, e.g. imported; such an account signs in after a password reset)."""
    doc = await store.collection(ACCOUNTS).find_one({"email": email})
    return (account_from_document(doc), doc.get("password_hash")) if doc else None


async def credentials_of(store: Store, account_id: str) -> tuple[Account, str | None] | None:
    """The member account with this id and its password hash (None: no password yet)."""
    doc = await store.collection(ACCOUNTS).find_one(
        {"_id": account_id, "role": Role.MEMBER.value})
    return (account_from_document(doc), doc.get("password_hash")) if doc else None


async def find_member(store: Store, *, account_id: str | None, email: str | None) -> (
    Account | None
):
    """The member account with this id or email (exactly one of them), else None: not a
    member who was erased or whose erasure has begun (nothing new reaches them)."""
    query: dict[str, Any] = {"role": Role.MEMBER.value, "erased_at": None, "erasure": None}
    if account_id is not None:
        query["_id"] = account_id
    else:
        query["email"] = (email or "").strip().lower()
    doc = await store.collection(ACCOUNTS).find_one(query, {"password_hash": 0})
    return account_from_document(doc) if doc else None


async def set_birthday(store: Store, *, member_id: str, birthday: date, clock: Clock) -> Account:
    """Set or change a member's date of birth. A new day and month is remembered with the
    time (a birthday gift needs 30 days' notice); correcting only the year is not a new
    birthday. Raises InvalidInput, NotFound."""
    now = clock()
    check_birthday(birthday, today=now.date())
    accounts = store.collection(ACCOUNTS)
    current = await accounts.find_one({"_id": member_id, "role": Role.MEMBER.value},
                                      {"password_hash": 0})
    if current is None:
        raise NotFound("No member with this id.", field=("input",))
    changes = birthday_changes(current, birthday, now=now)
    if not changes:
        return account_from_document(current)
    doc = await accounts.find_one_and_update(
        {"_id": member_id}, {"$set": changes}, projection={"password_hash": 0},
        return_document=ReturnDocument.AFTER,
    )
    return account_from_document(doc or current)


def birthday_changes(current: Mapping[str, Any], birthday: date, *, now: datetime) -> (
    dict[str, Any]
):
    """The account fields that setting `birthday` (already checked) changes, none if it is
    the one stored. The anti-gaming rule: a new day and month is remembered with the time
    (`birthday_set_at`: a gift needs 30 days' notice); correcting only the year is not a
    new birthday."""
    day = birthday.isoformat()
    if current.get("birthday") == day:
        return {}
    changes: dict[str, Any] = {"birthday": day, "birthday_md": day[5:]}
    if current.get("birthday_md") != day[5:]:
        changes["birthday_set_at"] = now
    return changes


async def members_born_on(
    store: Store, *, month_days: Sequence[str], after_id: str | None, limit: int
) -> list[Account]:
    """Members whose birthday is one of `month_days` ("MM-DD"), in id order after
    `after_id` (a page of the birthday job)."""
    query: dict[str, Any] = {"birthday_md": {"$in": list(month_days)},
                             "role": Role.MEMBER.value}
    if after_id is not None:
        query["_id"] = {"$gt": after_id}
    cursor = store.collection(ACCOUNTS).find(query, {"password_hash": 0}).sort("_id", 1)
    return [account_from_document(doc) async for doc in cursor.limit(limit)]
