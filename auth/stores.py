"""Stores: the physical shops that staff accounts are bound to."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auth.collections import STORES
from auth.errors import StoreCodeTaken
from auth.validation import clean_name
from events import audit as audit_log
from events.audit import Audit, Target
from store import InputErrors, InvalidInput, KizunaError, Store, is_duplicate_key, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")


@dataclass(frozen=True, slots=True)
class ShopStore:
    """A physical store (named so to avoid confusion with the database `Store`)."""

    id: str
    code: str
    name: str
    timezone: str
    created_at: datetime


def store_from_document(doc: Mapping[str, Any]) -> ShopStore:
    return ShopStore(
        id=doc["_id"], code=doc["code"], name=doc["name"], timezone=doc["timezone"],
        created_at=doc["created_at"],
    )


async def create_store(
    store: Store, *, code: str, name: str, timezone: str, clock: Clock, audit: Audit | None
) -> ShopStore:
    """Create a store with a unique short code (e.g. `PARIS-01`); raises InvalidInput or
    StoreCodeTaken."""
    errors: list[KizunaError] = []
    normalized_code = code.strip().upper()
    if not _CODE.match(normalized_code):
        errors.append(InvalidInput(
            "Use 2–32 letters, digits or dashes for the store code.", field=("input", "code")
        ))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors.append(InvalidInput(
            "Use an IANA time zone such as Europe/Paris.", field=("input", "timezone")
        ))
    try:
        cleaned_name = clean_name(name)
    except KizunaError as error:
        errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    now, store_id = clock(), new_id()
    doc = {
        "_id": store_id, "code": normalized_code, "name": cleaned_name, "timezone": timezone,
        "created_at": now,
    }
    try:
        await audit_log.insert(store, audit, operation="storeCreate",
                               target=Target("Store", store_id), collection=STORES,
                               document=doc, at=now)
    except Exception as error:
        if is_duplicate_key(error):
            raise StoreCodeTaken(
                "A store with this code already exists.", field=("input", "code")
            ) from error
        raise
    return store_from_document(doc)


async def get_stores(store: Store, store_ids: list[str]) -> dict[str, ShopStore]:
    cursor = store.collection(STORES).find({"_id": {"$in": store_ids}})
    return {doc["_id"]: store_from_document(doc) async for doc in cursor}


async def list_stores(store: Store, *, first: int, after_id: str | None) -> tuple[
    list[ShopStore], Page
]:
    page = await fetch_page(store.collection(STORES), filter={}, first=first, after_id=after_id)
    return [store_from_document(doc) for doc in page.documents], page
