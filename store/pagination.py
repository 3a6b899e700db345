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


def after_key(key: str, value: Any, document_id: str, *, descending: bool) -> dict[str, Any]:
    """The filter of the documents after (`value`, `document_id`) in the order of `key` then
    `_id`, both ascending or both descending: a range on `key` (where an index on
    (key, _id) seeks to) with the ties broken by `_id`. `value` must not be None."""
    beyond, inclusive = ("$lt", "$lte") if descending else ("$gt", "$gte")
    return {key: {inclusive: value},
            "$or": [{key: {beyond: value}}, {"_id": {beyond: document_id}}]}


async def fetch_keyset_page(
    collection: Collection, *, filter: Mapping[str, Any], key: str, first: int,
    after: tuple[Any, str] | None, descending: bool = True,
) -> Page:
    """Up to `first` (capped at 100) documents after `after` (key value, id) in the order of
    `key` then `_id`; one query. Every matching document must have `key`."""
    size = max(0, min(first, MAX_PAGE_SIZE))
    query = dict(filter)
    if after is not None:
        query = {"$and": [query, after_key(key, after[0], after[1], descending=descending)]}
    direction = -1 if descending else 1
    cursor = collection.find(query).sort([(key, direction), ("_id", direction)]).limit(size + 1)
    documents = await cursor.to_list(size + 1)
    return Page(documents=documents[:size], has_next=len(documents) > size)
