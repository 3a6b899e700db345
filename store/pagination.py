"""Keyset pagination over `_id`, the storage half of Relay connections."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from store.client import Collection, Document

MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Page:
    documents: list[Document]
    has_next: bool


async def fetch_page(
    collection: Collection,
    *,
    filter: Mapping[str, Any],
    first: int,
    after_id: str | None,
    descending: bool = False,
) -> Page:
    """Up to `first` (capped at 100) documents after `after_id` in `_id` order; one query."""
    size = max(0, min(first, MAX_PAGE_SIZE))
    query = dict(filter)
    if after_id is not None:
        query["_id"] = {"$lt" if descending else "$gt": after_id}
    cursor = collection.find(query).sort("_id", -1 if descending else 1).limit(size + 1)
    documents = await cursor.to_list(size + 1)
    return Page(documents=documents[:size], has_next=len(documents) > size)
