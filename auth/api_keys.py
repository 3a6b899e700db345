"""API keys for shop systems (role INTEGRATION): shown once, stored as a hash.

A key reads `kz_<prefix>_<secret>`. The prefix finds the record with one indexed lookup;
the secret has 256 bits of entropy, so a plain SHA-256 of it is as good as a slow hash and
keeps every integration request cheap.
"""

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auth.collections import API_KEYS
from auth.roles import ApiKeyScope, Principal, Role
from auth.validation import clean_name
from events import audit as audit_log
from events.audit import Audit, Target
from store import Document, InvalidInput, NotFound, ReturnDocument, Session, Store, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

KEY_MARKER = "kz_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    scopes: frozenset[ApiKeyScope]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_from_document(doc: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=doc["_id"], name=doc["name"], prefix=doc["prefix"],
        scopes=frozenset(ApiKeyScope(s) for s in doc["scopes"]), created_at=doc["created_at"],
        created_by=doc["created_by"], revoked_at=doc.get("revoked_at"),
    )


async def create_api_key(
    store: Store, *, name: str, scopes: list[ApiKeyScope], created_by: str, clock: Clock,
    audit: Audit | None,
) -> tuple[ApiKey, str]:
    """Create a key, audited as `audit` (never its secret); returns it with the full
    secret, which is never retrievable again."""
    if not scopes:
        raise InvalidInput("Give the key at least one scope.", field=("input", "scopes"))
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now, key_id = clock(), new_id()
    doc = {
        "_id": key_id, "name": clean_name(name), "prefix": prefix,
        "secret_hash": _digest(secret), "scopes": sorted({s.value for s in scopes}),
        "created_at": now, "created_by": created_by, "revoked_at": None,
    }
    await audit_log.insert(store, audit, operation="apiKeyCreate",
                           target=Target("ApiKey", key_id), collection=API_KEYS,
                           document=doc, at=now)
    return api_key_from_document(doc), f"{KEY_MARKER}{prefix}_{secret}"


async def authenticate_api_key(store: Store, presented: str) -> Principal | None:
    """The INTEGRATION principal for a valid, unrevoked key, else None."""
    parts = presented.removeprefix(KEY_MARKER).split("_", 1)
    if not presented.startswith(KEY_MARKER) or len(parts) != 2:
        return None
    prefix, secret = parts
    doc = await store.collection(API_KEYS).find_one(
        {"prefix": prefix, "revoked_at": None}, {"secret_hash": 1, "scopes": 1}
    )
    if doc is None or not hmac.compare_digest(doc["secret_hash"], _digest(secret)):
        return None
    return Principal(
        subject_id=doc["_id"], role=Role.INTEGRATION,
        scopes=frozenset(ApiKeyScope(s) for s in doc["scopes"]),
    )


async def revoke_api_key(
    store: Store, *, key_id: str, clock: Clock, audit: Audit | None
) -> ApiKey:
    """Revoke a key (a revoked key stays revoked when it was), audited as `audit`."""
    doc = await _revoke(store, key_id, clock(), audit)
    if doc is None:
        raise NotFound("No API key with this id.", field=("input", "apiKey"))
    return api_key_from_document(doc)


async def _revoke(
    store: Store, key_id: str, now: datetime, audit: Audit | None
) -> Document | None:
    keys = store.collection(API_KEYS)
    revoke = [{"$set": {"revoked_at": {"$ifNull": ["$revoked_at", now]}}}]
    if audit is None:
        return await keys.find_one_and_update({"_id": key_id}, revoke,
                                              return_document=ReturnDocument.AFTER)

    async def work(session: Session) -> Document | None:
        before = await keys.find_one_and_update({"_id": key_id}, revoke, session=session)
        if before is None:
            return None
        after = {**before, "revoked_at": before.get("revoked_at") or now}
        audit.record(store, session, operation="apiKeyRevoke",
                     target=Target("ApiKey", key_id), at=now, before=before, after=after)
        return after

    return await store.transaction(work)


async def list_api_keys(store: Store, *, first: int, after_id: str | None) -> tuple[
    list[ApiKey], Page
]:
    page = await fetch_page(
        store.collection(API_KEYS), filter={}, first=first, after_id=after_id,
        descending=True,
    )
    return [api_key_from_document(doc) for doc in page.documents], page


async def get_api_keys(store: Store, key_ids: list[str]) -> dict[str, ApiKey]:
    cursor = store.collection(API_KEYS).find({"_id": {"$in": key_ids}})
    return {doc["_id"]: api_key_from_document(doc) async for doc in cursor}
