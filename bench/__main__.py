"""`python -m bench <scenario> [options]`: run one load scenario and print its figures."""

import argparse
import asyncio
import math
import os
import sys

from bench.graphql import BenchError
from bench.options import (
    DEFAULT_SIZES,
    DEFAULT_SUBSCRIBERS,
    BenchOptions,
    HistoryShape,
    LoadOptions,
)
from bench.report import print_report
from bench.scenarios import SCENARIOS, Scenario

MAX_DURATION_SECONDS = 600.0
MAX_REQUESTS_PER_PHASE = 1_000_000
MAX_HISTORY = 5_000
DEFAULT_MEMBERS = 50
MAX_SIZE = 1_000_000
MAX_PER_MEMBER = 1_000
MAX_SUBSCRIBERS = 10_000
MAX_CONNECTIONS_PER_ACCOUNT = 1_000


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(
        f"  {name:<16} {s.summary} ({_defaults(s)})" for name, s in SCENARIOS.items()
    )
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load a Kizuna server and print throughput, latency percentiles, errors "
        "and database round trips per operation.",
        epilog=f"scenarios:\n{listing}\n\nSee bench/README.md for how to read the output.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenario",
        choices=sorted(SCENARIOS),
        metavar="SCENARIO",
        help="one of: " + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--url",
        help="an already started Kizuna server on this machine, e.g. "
        "http://127.0.0.1:8000 (default: start a fresh one on a free port)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="open-loop arrivals per second (default: the scenario's, listed below)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of each measured phase (default 10; soak: 600, its whole run)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="closed-loop workers (default 16; soak: 24, the requests in flight)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="closed-loop warm-up seconds before measuring (default 2)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="HTTP keep-alive pool size for the open loop (default 64)",
    )
    parser.add_argument(
        "--members",
        type=int,
        help="members to register for member scenarios (default: the scenario's, below)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=200,
        help="me: ledger entries seeded per member (default 200)",
    )
    parser.add_argument(
        "--open-lots",
        type=int,
        default=20,
        help="me: open lots each member ends with, one per seeded order (default 20)",
    )
    parser.add_argument(
        "--sizes",
        help="scale, console: members' worth of data to grow through, ascending "
        f"(default {','.join(str(size) for size in DEFAULT_SIZES)}; console: 10000,100000)",
    )
    parser.add_argument(
        "--entries",
        type=int,
        default=HistoryShape().entries,
        help=f"scale, soak: ledger entries seeded per member (default {HistoryShape().entries})",
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=HistoryShape().orders,
        help=f"scale, soak: orders seeded per member, one lot each (default "
        f"{HistoryShape().orders})",
    )
    parser.add_argument(
        "--vouchers",
        type=int,
        default=HistoryShape().vouchers,
        help="scale, soak: reward vouchers seeded per member, all but the last redeemed at a "
        f"till with 2 scan audit records each (default {HistoryShape().vouchers})",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=50,
        help="scale, soak: seeded members signed in to load with (default 50)",
    )
    parser.add_argument(
        "--subscribers",
        default=",".join(str(count) for count in DEFAULT_SUBSCRIBERS),
        help="live: counts of open subscriptions to grow through, ascending (default "
        f"{','.join(str(count) for count in DEFAULT_SUBSCRIBERS)}; one member each unless "
        "--members says fewer)",
    )
    parser.add_argument(
        "--apq",
        action="store_true",
        help="graphql-static, home: after the usual phases, register the query once as an "
        "automatic persisted query and measure again sending only its hash (target "
        "ours+apq); the closing note compares server CPU per request",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        help="with --url: the server's process id, to report its CPU (Linux)",
    )
    parser.add_argument(
        "--no-telemetry",
        dest="telemetry",
        action="store_false",
        help="run the bench's own server with KIZUNA_REQUEST_TELEMETRY=false (no request "
        "ids, access log or HTTP/GraphQL metrics), to compare with a run without this",
    )
    parser.add_argument(
        "--challenges",
        type=int,
        default=0,
        help="order-earn: this many active challenges (mixed kinds) that every order "
        "qualifies for, to measure what their progress costs per order",
    )
    parser.add_argument(
        "--metrics-token",
        default=os.environ.get("KIZUNA_METRICS_TOKEN"),
        help="bearer token for /metrics (default: $KIZUNA_METRICS_TOKEN)",
    )
    return parser


def _defaults(scenario: Scenario) -> str:
    listed = [f"default --rate {scenario.default_rate:g}" if scenario.uses_rate else "no --rate"]
    if scenario.default_members:
        listed.append(f"--members {scenario.default_members}")
    if scenario.default_duration != 10.0:
        listed.append(f"--duration {scenario.default_duration:g}")
    if scenario.default_concurrency != 16:
        listed.append(f"--concurrency {scenario.default_concurrency}")
    return ", ".join(listed)


def _sizes(text: str, most: int = MAX_SIZE) -> tuple[int, ...] | None:
    """`1000,10000` → (1000, 10000); None unless it is strictly ascending positive sizes
    up to `most`."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        return None
    ascending = all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
    if not sizes or not ascending or sizes[0] < 1 or sizes[-1] > most:
        return None
    return sizes


def _members_for(subscribers: int) -> int:
    """The fewest members that can hold `subscribers` connections (live)."""
    return math.ceil(subscribers / MAX_CONNECTIONS_PER_ACCOUNT)


def _shape_problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if not 0 <= args.orders <= MAX_PER_MEMBER or not 0 <= args.vouchers <= MAX_PER_MEMBER:
        problems.append(f"--orders and --vouchers must be from 0 to {MAX_PER_MEMBER}")
    if not 1 <= args.entries <= MAX_PER_MEMBER:
        problems.append(f"--entries must be from 1 to {MAX_PER_MEMBER}")
    if not 1 <= args.sample <= 1000:
        problems.append("--sample must be from 1 to 1000")
    if args.sizes is not None and _sizes(args.sizes) is None:
        problems.append(f"--sizes must be ascending sizes from 1 to {MAX_SIZE}, e.g. 1000,10000")
    if _sizes(args.subscribers, MAX_SUBSCRIBERS) is None:
        problems.append(
            f"--subscribers must be ascending counts from 1 to {MAX_SUBSCRIBERS}, e.g. 100,1000"
        )
    return problems


def _options(args: argparse.Namespace, scenario: Scenario) -> BenchOptions:
    rate: float = args.rate if args.rate is not None else scenario.default_rate
    subscribers = _sizes(args.subscribers, MAX_SUBSCRIBERS) or DEFAULT_SUBSCRIBERS
    members: int = (
        args.members if args.members is not None else scenario.default_members or DEFAULT_MEMBERS
    )
    if args.scenario == "live" and args.members is None:
        members = subscribers[-1]  # one connection per member
    duration: float = args.duration if args.duration is not None else scenario.default_duration
    concurrency: int = (
        args.concurrency if args.concurrency is not None else scenario.default_concurrency
    )
    problems = _shape_problems(args)
    if not 0 < duration <= MAX_DURATION_SECONDS:
        problems.append(f"--duration must be in (0, {MAX_DURATION_SECONDS:g}]")
    if rate <= 0 or rate * duration > MAX_REQUESTS_PER_PHASE:
        problems.append(f"--rate must be > 0 with rate × duration ≤ {MAX_REQUESTS_PER_PHASE}")
    if not 1 <= concurrency <= 1000 or not 1 <= args.connections <= 1000:
        problems.append("--concurrency and --connections must be from 1 to 1000")
    if not 0 <= args.warmup <= MAX_DURATION_SECONDS:
        problems.append(f"--warmup must be in [0, {MAX_DURATION_SECONDS:g}]")
    # Other scenarios register members through the API; soak seeds them in bulk.
    most = MAX_SIZE if args.scenario == "soak" else 10_000
    if not 1 <= members <= most:
        problems.append(f"--members must be from 1 to {most}")
    elif args.scenario == "live" and members < (fewest := _members_for(subscribers[-1])):
        problems.append(
            f"--members must be at least {fewest} for {subscribers[-1]} subscribers: a member "
            f"holds at most {MAX_CONNECTIONS_PER_ACCOUNT} connections"
        )
    if not 0 <= args.open_lots <= args.history <= MAX_HISTORY:
        problems.append(
            f"--open-lots and --history must satisfy 0 ≤ lots ≤ history ≤ {MAX_HISTORY}"
        )
    elif args.history > 0 and args.open_lots == 0:
        problems.append("--open-lots must be at least 1 when --history is above 0")
    if problems:
        raise BenchError("; ".join(problems))
    return BenchOptions(
        url=args.url,
        server_pid=args.server_pid if args.url else None,
        load=LoadOptions(
            rate=rate,
            duration=duration,
            concurrency=concurrency,
            warmup=args.warmup,
            connections=args.connections,
            metrics_token=args.metrics_token or None,
        ),
        members=members,
        history=args.history,
        open_lots=args.open_lots,
        sizes=(_sizes(args.sizes) if args.sizes else None) or scenario.default_sizes
        or DEFAULT_SIZES,
        shape=HistoryShape(entries=args.entries, orders=args.orders, vouchers=args.vouchers),
        sample=args.sample,
        subscribers=subscribers,
        apq=args.apq,
        telemetry=args.telemetry,
        challenges=max(0, args.challenges),
    )


def _bench_errors(error: BaseException) -> list[BenchError] | None:
    """The BenchErrors in `error` (a task group may wrap them), or None if anything else
    is in there: that is a bug, and its traceback should show."""
    if isinstance(error, BenchError):
        return [error]
    if isinstance(error, BaseExceptionGroup):
        found: list[BenchError] = []
        for inner in error.exceptions:
            nested = _bench_errors(inner)
            if nested is None:
                return None
            found += nested
        return found
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scenario = SCENARIOS[args.scenario]
    try:
        report = asyncio.run(scenario.run(_options(args, scenario)))
    except (BenchError, ExceptionGroup) as error:
        problems = _bench_errors(error)
        if problems is None:
            raise
        for problem in problems:
            print(f"bench: {problem}", file=sys.stderr)
        return 1
    print_report(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
