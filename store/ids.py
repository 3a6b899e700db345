"""Identifiers for stored documents."""

from bson import ObjectId


def new_id() -> str:
    """A new unique, roughly time-ordered id (24 hex characters) for a document's `_id`."""
    return str(ObjectId())
