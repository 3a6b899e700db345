"""Classifying database errors without leaking PyMongo types into the domain."""

from pymongo.errors import DuplicateKeyError


def is_duplicate_key(error: BaseException) -> bool:
    """Whether `error` is a unique-index violation (E11000)."""
    return isinstance(error, DuplicateKeyError)
