"""Which errors are faults, what a client is told, and what the log keeps.

A fault (an exception nobody expected) is masked for the client and logged with its
traceback. Everything else - syntax and validation errors, limits, permission denials,
invalid input - is the client's business: it goes back as it is and leaves at most one
debug line, so a flood of bad requests cannot flood the log.
"""

import logging
import re

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.types import ExecutionContext
from strawberry.utils.logging import StrawberryLogger

from store.errors import KizunaError

_log = logging.getLogger("kizuna.graphql")
# graphql-core appends " Did you mean 'a' or 'b'?" (names never contain "?").
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def is_fault(error: GraphQLError) -> bool:
    """An unexpected exception, as opposed to a validation error or a permission denial."""
    original = error.original_error
    return original is not None and not isinstance(
        original, StrawberryGraphQLError | GraphQLError | KizunaError
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
        for error in errors:
            if self._production:
                error.message = without_suggestions(error.message)
            if is_fault(error):
                StrawberryLogger.error(error, execution_context)
            else:
                code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
                _log.debug("request refused (%s): %s", code, error.message.splitlines()[0])
