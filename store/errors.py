"""The error hierarchy shared by every package, and database error classification.

It lives in `store`, the lowest layer, because every domain package may raise these and
none of them may import another.
"""

import logging
from collections.abc import Callable

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

_DUPLICATE_KEY = 11000
# MongoDB's code for a full disk; the embedded server passes SQLite's SQLITE_FULL on as text.
_OUT_OF_DISK_SPACE = 14031
_DISK_FULL_MESSAGES = ("database or disk is full", "no space left on device")
# What SQLite says of a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB), passed on as text.
_CORRUPT_MESSAGES = ("database disk image is malformed", "file is not a database")


def is_duplicate_key(error: BaseException) -> bool:
    """Whether `error` is a unique-index violation (E11000)."""
    return isinstance(error, DuplicateKeyError)


def only_duplicate_keys(error: BaseException) -> bool:
    """Whether every write of a failed unordered bulk write (insert_many) failed on a unique
    index, i.e. each document that failed is there already."""
    if not isinstance(error, BulkWriteError):
        return is_duplicate_key(error)
    failures = error.details.get("writeErrors", ())
    return bool(failures) and all(f.get("code") == _DUPLICATE_KEY for f in failures)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` (or what it was raised from) says the database could not be reached
    or did not answer in time: a dropped connection, a server that is down or restarting, a
    spent time budget. Such a failure passes by itself or is the operator's to fix; the
    request may be retried (a write with the same idempotency key)."""
    return _caused_by(error, _is_unavailable)


def _is_unavailable(error: BaseException) -> bool:
    return isinstance(error, ConnectionFailure) or (
        isinstance(error, PyMongoError) and error.timeout
    )




def is_storage_corrupt(error: BaseException) -> bool:
    """Whether `error` (or what it was raised from) is the embedded database finding its
    file damaged. Nothing more can be read or written safely until an operator recovers it
    (docs/deployment.md)."""
    return _caused_by(error, lambda e: isinstance(e, OperationFailure) and any(
        m in str(e).lower() for m in _CORRUPT_MESSAGES))

def log_retrying(log: logging.Logger, message: str, error: BaseException) -> None:
    """A background job's failure, before it tries again: one warning line when the
    database is unavailable or full (it passes, or an operator must act, and it would repeat
    every interval), the traceback for anything else."""
    if is_database_unavailable(error) or is_storage_full(error) or is_storage_corrupt(error):
        detail = " ".join(str(error).split())[:200]
        log.warning("%s: %s: %s", message, type(error).__name__, detail)
    else:
        log.error(message, exc_info=error)

def is_storage_full(error: BaseException) -> bool:
    """Whether `error` (or what it was raised from) is the database refusing a write because
    its disk is full. That write was refused; what was written before is intact."""
    return _caused_by(error, _is_full)


def _is_full(error: BaseException) -> bool:
    if not isinstance(error, OperationFailure):
        return False
    message = str(error).lower()
    return error.code == _OUT_OF_DISK_SPACE or any(m in message for m in _DISK_FULL_MESSAGES)


def _caused_by(error: BaseException, test: Callable[[BaseException], bool]) -> bool:
    # A few links are enough: errors re-raised around a driver error nest shallowly.
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if test(seen):
            return True
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return False


class KizunaError(Exception):
    """An expected failure of a use case: a stable machine `code`, a human message and,
    when one input caused it, the `field` path of that input.

    Every package's errors derive from this one class so the GraphQL layer maps them to
    payload errors in one place. Codes are part of the public API: never rename one.
    """

    code: str = "INVALID_INPUT"

    def __init__(self, message: str, *, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(KizunaError):
    """Input that fails validation."""

    code = "INVALID_INPUT"


class InvalidDate(InvalidInput):
    """A date or time that is not one, or not possible (an import's rows)."""

    code = "INVALID_DATE"


class NotFound(KizunaError):
    """A referenced object does not exist (or is not visible to the caller)."""

    code = "NOT_FOUND"


class RateLimited(KizunaError):
    """Too many attempts; `retry_after_seconds` says when to try again."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class IdempotencyConflict(KizunaError):
    """The same idempotency key was used before with a different payload."""

    code = "IDEMPOTENCY_CONFLICT"


class InputErrors(KizunaError):
    """Several independent input errors reported together (each keeps its own code)."""

    def __init__(self, errors: list[KizunaError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors
