"""Which errors are faults, what a client is told, and what the log keeps.

A fault (an exception nobody expected) is masked for the client and logged with its
traceback. An outage of the database (unreachable, restarting, out of disk) is no bug in
the request: the client is told so with a stable code and may retry, and the log keeps one
line. Everything else - syntax and validation errors, limits, permission denials, invalid
input - is the client's business: it goes back as it is and leaves at most one debug line,
so a flood of bad requests cannot flood the log.
"""

import logging
import re
from dataclasses import dataclass

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types import ExecutionContext
from strawberry.utils.logging import StrawberryLogger

from store.errors import (
    KizunaError,
    is_database_unavailable,
    is_storage_corrupt,
    is_storage_full,
)

_log = logging.getLogger("kizuna.graphql")
# graphql-core appends " Did you mean 'a' or 'b'?" (names never contain "?").
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


@dataclass(frozen=True, slots=True)
class Outage:
    """The database failing every request alike, as the client is told about it."""

    code: str
    message: str
    retry_after_seconds: int
    log_level: int


DATABASE_UNAVAILABLE = Outage(
    "DATABASE_UNAVAILABLE",
    "The database is restarting or unreachable; try again in a few seconds.",
    # The embedded database is back within a few seconds of dying (docs/deployment.md).
    retry_after_seconds=3, log_level=logging.WARNING,
)
DATABASE_FULL = Outage(
    "DATABASE_FULL",
    "The database's disk is full, so it cannot store changes; try again later.",
    # Someone has to free space: retrying at once would only add load.
    retry_after_seconds=60, log_level=logging.ERROR,
)

DATABASE_CORRUPT = Outage(
    "DATABASE_CORRUPT",
    "The database's file is damaged; an operator must recover it before it can answer.",
    # Nothing passes by itself: retrying soon would only add load.
    retry_after_seconds=300, log_level=logging.CRITICAL,
)


def outage_of(error: BaseException | None) -> Outage | None:
    """The outage `error` reveals, if it is one."""
    if error is None:
        return None
    if is_database_unavailable(error):
        return DATABASE_UNAVAILABLE
    if is_storage_full(error):
        return DATABASE_FULL
    if is_storage_corrupt(error):
        return DATABASE_CORRUPT
    return None


def log_outage(outage: Outage, error: BaseException) -> None:
    """One line, no traceback: the cause is outside the code, and repeats per request."""
    detail = " ".join(str(error).split())[:200]
    _log.log(outage.log_level, "%s: %s: %s", outage.code, type(error).__name__, detail)


def is_fault(error: GraphQLError) -> bool:
    """An unexpected exception, as opposed to a validation error, a permission denial or
    an outage of the database."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, StrawberryGraphQLError | GraphQLError | KizunaError)
        and outage_of(original) is None
    )


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


class ReportingSchema(strawberry.Schema):
    """A schema that logs only faults in full and, in production, names nothing in the
    schema that the client did not name itself (no "Did you mean …" hints)."""

    def __init__(self, *args: object, production: bool, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._production = production

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        told_outage = False
        for error in errors:
            if self._production:
                error.message = without_suggestions(error.message)
            outage = outage_of(error.original_error)
            if outage is not None:
                # Told as it is (never masked, nothing internal in it), logged once.
                error.message = outage.message
                error.extensions = {**(error.extensions or {}), "code": outage.code}
                if not told_outage:
                    log_outage(outage, error.original_error or error)
                told_outage = True
            elif is_fault(error):
                StrawberryLogger.error(error, execution_context)
            else:
                code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
                _log.debug("request refused (%s): %s", code, error.message.splitlines()[0])
