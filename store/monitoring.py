"""Counting database round trips (PyMongo command monitoring) for /metrics and benchmarks."""

from collections.abc import Callable

from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

# Driver housekeeping, not work done for a request.
_HOUSEKEEPING = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "saslStart"})


class CommandCounter(CommandListener):
    """Counts commands sent to the server, by name, and the ones that failed."""

    def __init__(self) -> None:
        self.total = 0
        self.failures = 0
        self.by_name: dict[str, int] = {}
        self.timed: Callable[[str, float, bool], None] | None = None
        """Told each command's name, seconds and success when it ends (api's metrics)."""

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in _HOUSEKEEPING:
            return
        self.total += 1
        self.by_name[event.command_name] = self.by_name.get(event.command_name, 0) + 1

    def succeeded(self, event: CommandSucceededEvent) -> None:
        timed = self.timed
        if timed is not None and event.command_name not in _HOUSEKEEPING:
            timed(event.command_name, event.duration_micros / 1e6, True)

    def failed(self, event: CommandFailedEvent) -> None:
        self.failures += 1
        timed = self.timed
        if timed is not None and event.command_name not in _HOUSEKEEPING:
            timed(event.command_name, event.duration_micros / 1e6, False)
