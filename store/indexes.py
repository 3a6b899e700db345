"""Declared indexes, created idempotently at start-up.

Each domain package declares the indexes its queries need as `IndexSpec`s; the composition
root hands them all to `ensure_indexes`, so no package creates indexes on its own.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import IndexModel

from store.client import Store


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index: collection, ordered keys (1 or -1) and options."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    name: str
    unique: bool = False
    expire_after_seconds: int | None = None
    partial_filter: Mapping[str, Any] = field(default_factory=dict)

    def model(self) -> IndexModel:
        options: dict[str, Any] = {"name": self.name, "unique": self.unique}
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        if self.partial_filter:
            options["partialFilterExpression"] = dict(self.partial_filter)
        return IndexModel(list(self.keys), **options)


async def ensure_indexes(store: Store, specs: Iterable[IndexSpec]) -> None:
    """Create every declared index; creating an index that exists is a no-op."""
    by_collection: dict[str, list[IndexModel]] = {}
    for spec in specs:
        by_collection.setdefault(spec.collection, []).append(spec.model())
    for collection, models in by_collection.items():
        await store.db[collection].create_indexes(models)
