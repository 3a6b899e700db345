"""Identifiers for stored documents."""

from datetime import datetime

from bson import ObjectId


def new_id() -> str:
    """A new unique, roughly time-ordered id (24 hex characters) for a document's `_id`."""
    return str(ObjectId())


def first_id_at(at: datetime) -> str:
    """The smallest id `new_id` could have made at `at` (ids begin with their creation time,
    in whole seconds, so every id made from `at` on sorts at or after it)."""
    return str(ObjectId.from_datetime(at))
