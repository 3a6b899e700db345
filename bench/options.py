"""Options every scenario receives, parsed once by `python -m bench`."""

from dataclasses import dataclass, field


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
class HistoryShape:
    """What `scale` and `soak` write per member when they seed in bulk (bench.history):
    `entries` ledger entries in all, of which `orders` orders (one lot each) and `vouchers`
    reward redemptions (each a voucher; all but the last redeemed at a till, each of those
    with two scan audit records)."""

    entries: int = 10
    orders: int = 3
    vouchers: int = 2


DEFAULT_SIZES = (1_000, 10_000, 100_000)
DEFAULT_SUBSCRIBERS = (100, 1_000)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """`url` is an already running Kizuna server, or None to start a fresh one;
    `server_pid` is that server's process id, if known, for its CPU figures. `history`
    and `open_lots` are what `me` seeds per member; `sizes`, `shape` and `sample` are
    `scale`'s (and `soak`'s) bulk-seeded programme and its signed-in members;
    `subscribers` are the counts of live subscriptions `live` grows through."""

    url: str | None
    server_pid: int | None
    load: LoadOptions
    members: int
    history: int = 200
    open_lots: int = 20
    sizes: tuple[int, ...] = DEFAULT_SIZES
    shape: HistoryShape = field(default_factory=HistoryShape)
    sample: int = 50
    subscribers: tuple[int, ...] = DEFAULT_SUBSCRIBERS
    apq: bool = False
    """`graphql-static`, `home`: measure again sending APQ hashes instead of query text."""
    telemetry: bool = True
    """False: the bench's own server runs with KIZUNA_REQUEST_TELEMETRY=false (no request
    ids, access log or HTTP/GraphQL metrics), to measure what they cost."""
    challenges: int = 0
    """`order-earn`: active challenges every order qualifies for (bench/challenges.py)."""
