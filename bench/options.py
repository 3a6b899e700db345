"""Options every scenario receives, parsed once by `python -m bench`."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How hard and how long to load a target; the same for every target of a run."""

    rate: float
    duration: float
    concurrency: int
    warmup: float
    connections: int
    metrics_token: str | None


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """`url` is an already running Kizuna server, or None to start a fresh one;
    `server_pid` is that server's process id, if known, for its CPU figures. `history`
    and `open_lots` are what `me` seeds per member."""

    url: str | None
    server_pid: int | None
    load: LoadOptions
    members: int
    history: int = 200
    open_lots: int = 20
