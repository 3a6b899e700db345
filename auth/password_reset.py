"""Password reset for members who forgot theirs, or never had one (imported members).

`request_password_reset` answers the same whether an account has the address or not, and
does the same work either way: it counts the request against the address and the client,
reads the account, and writes a code document under the address in one transaction (for an
unknown address the code is sent nowhere and can never be confirmed). The only difference
is the `member.password_reset_requested` event, which rides in the same commit. Later
confirmations then look alike too: a wrong code, an expired one, too many wrong tries —
the answers for an unknown address are those for a member's.
"""

import events
from auth.accounts import account_from_document
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
from auth.credentials import checked_new_password, password_changed_event
from auth.errors import CodeExpired, WrongCode
from auth.roles import Role
from auth.sign_in import Authenticator
from auth.validation import normalize_email
from events import Event, EventType, Subject, SubjectKind
from store import Session
from store.clock import Clock

_RESET = CodePurpose.PASSWORD_RESET


async def request_password_reset(
    auth: Authenticator, *, email: str, client_address: str, clock: Clock
) -> None:
    """Send a one-time code to the member with this email (through
    `member.password_reset_requested`), if there is one; nothing tells which. Raises
    InvalidEmail (the address's form), RateLimited (per address and per client)."""
    normalized = normalize_email(email)
    policy = auth.codes
    await auth.attempts.reserve({
        f"code:{_RESET.value}:{normalized}": policy.requests_per_address,
        f"code-client:{client_address}": policy.requests_per_client,
    }, what="password reset requests")
    now, code = clock(), new_code()

    async def work(session: Session) -> None:
        doc = await auth.store.collection(ACCOUNTS).find_one(
            {"email": normalized, "role": Role.MEMBER.value},
            {"email": 1, "name": 1}, session=session)
        requested = None if doc is None else Event(
            EventType.MEMBER_PASSWORD_RESET_REQUESTED, Subject(SubjectKind.MEMBER, doc["_id"]),
            occurred_at=now, member_id=doc["_id"],
            data={"member": {"id": doc["_id"], "email": doc["email"], "name": doc["name"]},
                  "code": code, "expires_at": now + policy.lifetime})
        await put_code(auth.store, session, code_document(
            key=code_key(_RESET, normalized), purpose=_RESET,
            account_id=doc["_id"] if doc else None, code=code, now=now, policy=policy,
            event_id=requested.id if requested else None))
        if requested is not None:
            events.record(auth.store, session, requested)

    await auth.store.transaction(work)


async def confirm_password_reset(
    auth: Authenticator, *, email: str, code: str, new_password: str, client_address: str,
    clock: Clock,
) -> None:
    """Set a new password with the code sent for `email`, and end every sign-in of the
    account. Raises InvalidEmail, WeakPassword, WrongCode, CodeExpired, CodeUsed,
    RateLimited (tries per client)."""
    normalized = normalize_email(email)
    policy = auth.codes
    await auth.attempts.reserve({f"code-try:{client_address}": policy.requests_per_client},
                                what="codes tried")
    async with auth.passwords.turn(client=client_address):
        # Judged after the client's try is counted and inside a password turn: zxcvbn costs
        # up to ~30 ms of CPU, which an anonymous caller must not get for free. Before the
        # code, so a weak password spends none of the code's tries.
        checked_new_password(new_password, email=normalized, min_score=auth.passwords.min_score)
        now = clock()
        found = await check_code(auth.store, key=code_key(_RESET, normalized), typed=code,
                                 now=now, policy=policy)
        new_hash = await auth.passwords.hash(new_password)
    account_id = found["account_id"]
    if account_id is None:  # nobody has the address: its code was never sent anywhere
        raise WrongCode("This code is not right; check it or ask for a new one.",
                        field=("input", "code"))
    accounts = auth.store.collection(ACCOUNTS)

    async def work(session: Session) -> None:
        await spend_code(auth.store, session, found, now=now)
        doc = await accounts.find_one_and_update(
            {"_id": account_id, "email": normalized},
            {"$set": {"password_hash": new_hash, "password_changed_at": now}},
            projection={"password_hash": 0}, session=session)
        if doc is None:  # the account changed its email (or went) since the code was sent
            raise CodeExpired("This code no longer works; ask for a new one.",
                              field=("input", "code"))
        events.record(auth.store, session, password_changed_event(
            account_from_document(doc), reason="reset", at=now))
        # In the same transaction: a new password never commits with the old sign-ins alive.
        await auth.refresh_tokens.revoke_all(account_id, session=session)

    await auth.store.transaction(work)
