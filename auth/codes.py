"""One-time codes that prove a person reads a mailbox: password reset, e-mail change.

A code is 8 characters from a 32-symbol alphabet without look-alikes (40 bits), shown to
the person only through an event the shop's messaging delivers. It is stored hashed (with a
salt of its own) in `account_codes`, one live code per purpose and subject:
`_id` = "<purpose>:<sha256 of the subject>" where the subject is the e-mail address for a
password reset (so that an unknown address gets a code document too, and every answer and
every later state looks the same as for a member) and the account id for an e-mail change.

A code works once, for `CodePolicy.lifetime`; each wrong try counts, and the last allowed
wrong try cancels it. Asking again replaces the code. The event that carried a code has it
blanked once the code can no longer be used (events/redaction.py); expired codes' events
are blanked by the background jobs (`redact_expired`), and the documents themselves go a
day after they expire (a TTL index on `purge_at`).

Documents: {_id, purpose, account_id (None: nobody has this address), salt, code_hash,
new_email (an e-mail change's new address), attempts, created_at, expires_at, purge_at,
used_at, burned, event_id (the event that carried it, until blanked)}.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from auth.attempts import AttemptLimit
from auth.collections import ACCOUNT_CODES
from auth.errors import CodeExpired, CodeUsed, WrongCode
from events.redaction import redact_secrets
from store import Document, KizunaError, ReturnDocument, Session, Store

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 8
PURGE_AFTER = timedelta(days=1)
_FIELD = ("input", "code")


class CodePurpose(StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a name
    EMAIL_CHANGE = "email_change"


@dataclass(frozen=True, slots=True)
class CodePolicy:
    """How long a code lives, how many wrong tries cancel it, how often one may be asked."""

    lifetime: timedelta = timedelta(minutes=15)
    max_attempts: int = 5
    requests_per_address: AttemptLimit = field(
        default_factory=lambda: AttemptLimit(5, timedelta(hours=1)))
    """Codes asked for one e-mail address (a reset) or one member (an e-mail change)."""
    requests_per_client: AttemptLimit = field(
        default_factory=lambda: AttemptLimit(20, timedelta(hours=1)))
    """Codes asked, and codes tried, from one client address."""


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize_code(typed: str) -> str:
    """The code as stored: upper case, without spaces or dashes (people copy it so)."""
    return "".join(typed.split()).replace("-", "").upper()


def code_key(purpose: CodePurpose, subject: str) -> str:
    return f"{purpose.value}:{hashlib.sha256(subject.encode()).hexdigest()}"


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def code_document(
    *, key: str, purpose: CodePurpose, account_id: str | None, code: str, now: datetime,
    policy: CodePolicy, event_id: str | None, new_email: str | None = None,
) -> Document:
    salt = secrets.token_hex(16)
    expires_at = now + policy.lifetime
    return {"_id": key, "purpose": purpose.value, "account_id": account_id, "salt": salt,
            "code_hash": _digest(salt, code), "new_email": new_email, "attempts": 0,
            "created_at": now, "expires_at": expires_at, "purge_at": expires_at + PURGE_AFTER,
            "used_at": None, "burned": False, "event_id": event_id}


async def put_code(store: Store, session: Session, document: Document) -> None:
    """Store `document` in the caller's transaction, replacing the subject's previous code
    (whose event has its code blanked in the same transaction)."""
    previous = await store.collection(ACCOUNT_CODES).find_one_and_replace(
        {"_id": document["_id"]}, document, upsert=True, session=session,
        return_document=ReturnDocument.BEFORE, projection={"event_id": 1})
    await redact_secrets(store, [previous.get("event_id") if previous else None],
                         session=session)


async def check_code(
    store: Store, *, key: str, typed: str, now: datetime, policy: CodePolicy
) -> Document:
    """The live code document under `key` if `typed` is its code. Every try counts, before
    the comparison, so concurrent guesses share the tries allowed (the last wrong one
    cancels the code). Raises WrongCode (also when no code was asked for), CodeExpired
    (too old, or cancelled), CodeUsed."""
    codes = store.collection(ACCOUNT_CODES)
    # Counted outside any transaction: a refused try must stay counted.
    tried = await codes.find_one_and_update(
        {"_id": key, "burned": False, "used_at": None, "expires_at": {"$gt": now},
         "attempts": {"$lt": policy.max_attempts}},
        {"$inc": {"attempts": 1}}, return_document=ReturnDocument.AFTER)
    if tried is None:
        raise await _refusal(store, key, now=now)
    if hmac.compare_digest(_digest(tried["salt"], normalize_code(typed)), tried["code_hash"]):
        return tried
    if tried["attempts"] >= policy.max_attempts:
        # Conditional on the same code: a new one asked meanwhile starts afresh.
        await codes.update_one({"_id": key, "code_hash": tried["code_hash"]},
                               {"$set": {"burned": True, "event_id": None, "used_at": now}})
        await redact_secrets(store, [tried.get("event_id")])
    raise WrongCode("This code is not right; check it or ask for a new one.", field=_FIELD)


async def _refusal(store: Store, key: str, *, now: datetime) -> KizunaError:
    """Why no try could be counted on the code under `key`."""
    found = await store.collection(ACCOUNT_CODES).find_one({"_id": key})
    if found is None:
        return WrongCode("This code is not right; check it or ask for a new one.", field=_FIELD)
    if not found["burned"] and found["expires_at"] > now and found["used_at"] is not None:
        return CodeUsed("This code was used already; ask for a new one.", field=_FIELD)
    return CodeExpired("This code no longer works (too old or too many wrong tries); ask "
                       "for a new one.", field=_FIELD)


async def spend_code(store: Store, session: Session, found: Document, *, now: datetime) -> None:
    """Mark the code `check_code` returned as used, in the caller's transaction, and blank
    it in its event; raises CodeUsed when a concurrent request used it first."""
    spent = await store.collection(ACCOUNT_CODES).find_one_and_update(
        {"_id": found["_id"], "code_hash": found["code_hash"], "used_at": None},
        {"$set": {"used_at": now, "event_id": None}}, session=session,
        projection={"event_id": 1})
    if spent is None:
        raise CodeUsed("This code was used already; ask for a new one.", field=_FIELD)
    await redact_secrets(store, [found.get("event_id")], session=session)


async def redact_expired(store: Store, *, now: datetime, limit: int = 200) -> int:
    """Blank the codes of expired codes' events (a background job); returns how many."""
    codes = store.collection(ACCOUNT_CODES)
    expired: list[dict[str, Any]] = await codes.find(
        {"expires_at": {"$lte": now}, "event_id": {"$ne": None}}, {"event_id": 1}
    ).limit(limit).to_list(limit)
    if not expired:
        return 0
    await redact_secrets(store, [doc["event_id"] for doc in expired])
    await codes.update_many({"_id": {"$in": [doc["_id"] for doc in expired]}},
                            {"$set": {"event_id": None}})
    return len(expired)
