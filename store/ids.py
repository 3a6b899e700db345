"""Identifiers for stored documents."""

from datetime import datetime

from bson import ObjectId


def new_id() -> str:
    """A new unique, roughly time-ordered id (24 hex characters) for a document's `_id`."""
    return str(ObjectId())


def new_id_at(at: datetime) -> str:
    """A new unique id like `new_id`'s whose time part is `at` (to the second), so ids
    sort by `at` across seconds: a collection keyed so can be read newest first, and by
    period, through its `_id` index alone."""
    return (_seconds(at).to_bytes(4, "big") + ObjectId().binary[4:]).hex()


def first_id_at(at: datetime) -> str:
    """The smallest id `new_id` or `new_id_at` gives for the second of `at` (a range's
    lower bound: every id made from `at` on sorts at or after it)."""
    return _seconds(at).to_bytes(4, "big").hex() + "0" * 16


def _seconds(at: datetime) -> int:
    seconds = int(at.timestamp())
    if not 0 <= seconds < 2**32:
        raise ValueError("an id's time lies between 1970 and 2106")
    return seconds
