"""The one clock of the code base: use cases take a `Clock` so tests can move time."""

from collections.abc import Callable
from datetime import UTC, datetime

type Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, timezone-aware UTC, at millisecond precision (what BSON dates store)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
