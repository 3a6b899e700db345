"""A signed-in member changing their password or e-mail address.

Both need the current password, checked like a sign-in: in the password line, counted
against the account's failed sign-ins (a stolen access token cannot guess the password
faster than a sign-in could). A new e-mail address is confirmed with a one-time code sent
to it (auth/codes.py) before it replaces the old one; the old address is told through the
`member.email_changed` event.
"""

from datetime import datetime
from typing import Any

import events
from auth.accounts import Account, account_from_document, credentials_of
from auth.codes import (
    CodePurpose,
    check_code,
    code_document,
    code_key,
    new_code,
    put_code,
    spend_code,
)
from auth.collections import ACCOUNTS
from auth.errors import EmailTaken, InvalidCredentials, WeakPassword
from auth.sign_in import Authenticator
from auth.validation import check_password, normalize_email
from events import Event, EventType, Subject, SubjectKind
from store import InvalidInput, NotFound, ReturnDocument, Session, is_duplicate_key
from store.clock import Clock

_CURRENT = ("input", "currentPassword")


def checked_new_password(password: str, *, email: str, name: str = "", min_score: int) -> None:
    """Registration's strength rules for a new password; raises WeakPassword on
    `input.newPassword`."""
    try:
        check_password(password, email=email, name=name, min_score=min_score)
    except WeakPassword as error:
        raise WeakPassword(error.message, field=("input", "newPassword")) from error


async def _member(auth: Authenticator, member_id: str) -> tuple[Account, str | None]:
    found = await credentials_of(auth.store, member_id)
    if found is None:
        raise NotFound("No member with this id.", field=("input",))
    return found


async def _check_current(
    auth: Authenticator, account: Account, password_hash: str | None, password: str, *,
    client_address: str,
) -> None:
    """Check the current password (inside the caller's password turn), counted as a sign-in
    attempt; raises InvalidCredentials, RateLimited."""
    counters = await auth.attempts.reserve({
        f"account:{account.email}": auth.limits.per_account,
        f"client:{client_address}": auth.limits.per_client,
    })
    if not await auth.passwords.verify(password_hash, password):
        raise InvalidCredentials("The current password is incorrect.", field=_CURRENT)
    await auth.attempts.release(counters)


def password_changed_event(account: Account, *, reason: str, at: datetime) -> Event:
    """`member.password_changed` (`reason`: "changed" by the member, or "reset")."""
    return Event(EventType.MEMBER_PASSWORD_CHANGED, Subject(SubjectKind.MEMBER, account.id),
                 occurred_at=at, member_id=account.id,
                 data={"member": {"id": account.id, "email": account.email,
                                  "name": account.name}, "reason": reason})


async def change_password(
    auth: Authenticator, *, member_id: str, session_id: str | None, current_password: str,
    new_password: str, client_address: str, clock: Clock,
) -> int:
    """Replace the member's password and end every other sign-in (their refresh and access
    tokens); the caller's own (`session_id`) stays. Returns how many sign-ins ended.
    Raises WeakPassword, InvalidCredentials, RateLimited, NotFound."""
    account, password_hash = await _member(auth, member_id)
    async with auth.passwords.turn(client=client_address):
        # Inside the turn, like the hash: zxcvbn's CPU is bounded by the same pool.
        checked_new_password(new_password, email=account.email, name=account.name,
                             min_score=auth.passwords.min_score)
        await _check_current(auth, account, password_hash, current_password,
                             client_address=client_address)
        new_hash = await auth.passwords.hash(new_password)
    now = clock()

    async def work(session: Session) -> int:
        await auth.store.collection(ACCOUNTS).update_one(
            {"_id": member_id}, {"$set": {"password_hash": new_hash, "password_changed_at": now}},
            session=session)
        events.record(auth.store, session, password_changed_event(account, reason="changed",
                                                                   at=now))
        # In the same transaction: a new password never commits with the old sign-ins alive.
        return await auth.refresh_tokens.revoke_all(member_id, except_family=session_id,
                                                    session=session)

    return await auth.store.transaction(work)


async def request_email_change(
    auth: Authenticator, *, member_id: str, new_email: str, password: str,
    client_address: str, clock: Clock,
) -> datetime:
    """Send a one-time code to `new_email` (through `member.email_change_requested`);
    returns when it expires. Raises InvalidEmail, InvalidInput (the address is already
    the member's), InvalidCredentials, RateLimited, EmailTaken (only after the password
    was right, and each such answer counts against the member's code requests)."""
    normalized = normalize_email(new_email, field=("input", "newEmail"))
    account, password_hash = await _member(auth, member_id)
    if normalized == account.email:
        raise InvalidInput("This is already your email.", field=("input", "newEmail"))
    policy = auth.codes
    async with auth.passwords.turn(client=client_address):
        await _check_current(auth, account, password_hash, password,
                             client_address=client_address)
    await auth.attempts.reserve({
        f"code:{CodePurpose.EMAIL_CHANGE.value}:{member_id}": policy.requests_per_address,
        f"code-client:{client_address}": policy.requests_per_client,
    }, what="codes asked for")
    if await auth.store.collection(ACCOUNTS).count_documents({"email": normalized}, limit=1):
        raise EmailTaken("An account with this email already exists.",
                         field=("input", "newEmail"))
    now, code = clock(), new_code()
    expires_at = now + policy.lifetime
    requested = Event(
        EventType.MEMBER_EMAIL_CHANGE_REQUESTED, Subject(SubjectKind.MEMBER, member_id),
        occurred_at=now, member_id=member_id,
        data={"member": {"id": member_id, "email": account.email, "name": account.name},
              "new_email": normalized, "code": code, "expires_at": expires_at})

    async def work(session: Session) -> None:
        await put_code(auth.store, session, code_document(
            key=code_key(CodePurpose.EMAIL_CHANGE, member_id),
            purpose=CodePurpose.EMAIL_CHANGE, account_id=member_id, code=code, now=now,
            policy=policy, event_id=requested.id, new_email=normalized))
        events.record(auth.store, session, requested)

    await auth.store.transaction(work)
    return expires_at


async def confirm_email_change(
    auth: Authenticator, *, member_id: str, code: str, clock: Clock
) -> Account:
    """Make the address the code was sent to the member's sign-in email; the old address
    is told through `member.email_changed`. Raises WrongCode, CodeExpired, CodeUsed,
    EmailTaken (someone took the address meanwhile)."""
    now = clock()
    found = await check_code(auth.store, key=code_key(CodePurpose.EMAIL_CHANGE, member_id),
                             typed=code, now=now, policy=auth.codes)
    accounts = auth.store.collection(ACCOUNTS)

    async def work(session: Session) -> dict[str, Any]:
        await spend_code(auth.store, session, found, now=now)
        before = await accounts.find_one({"_id": member_id}, {"email": 1}, session=session)
        changed = await accounts.find_one_and_update(
            {"_id": member_id}, {"$set": {"email": found["new_email"], "email_changed_at": now}},
            projection={"password_hash": 0}, return_document=ReturnDocument.AFTER,
            session=session)
        if before is None or changed is None:
            raise NotFound("No member with this id.", field=("input",))
        events.record(auth.store, session, Event(
            EventType.MEMBER_EMAIL_CHANGED, Subject(SubjectKind.MEMBER, member_id),
            occurred_at=now, member_id=member_id,
            data={"member": {"id": member_id, "email": changed["email"],
                             "name": changed["name"]},
                  "previous_email": before["email"]}))
        return changed

    try:
        return account_from_document(await auth.store.transaction(work))
    except Exception as error:
        if is_duplicate_key(error):
            raise EmailTaken("An account with this email was created meanwhile; ask for a "
                             "code for another address.", field=("input", "code")) from error
        raise
