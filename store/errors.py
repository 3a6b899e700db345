"""The error hierarchy shared by every package, and database error classification.

It lives in `store`, the lowest layer, because every domain package may raise these and
none of them may import another.
"""

from pymongo.errors import DuplicateKeyError


def is_duplicate_key(error: BaseException) -> bool:
    """Whether `error` is a unique-index violation (E11000)."""
    return isinstance(error, DuplicateKeyError)


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
