"""`python -m bench <scenario> [options]`: run one load scenario and print its figures."""

import argparse
import asyncio
import os
import sys

from bench.graphql import BenchError
from bench.options import BenchOptions, LoadOptions
from bench.report import print_report
from bench.scenarios import SCENARIOS, Scenario

MAX_DURATION_SECONDS = 600.0
MAX_REQUESTS_PER_PHASE = 1_000_000
MAX_HISTORY = 5_000
DEFAULT_MEMBERS = 50


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(
        f"  {name:<16} {s.summary} (default --rate {s.default_rate:g}"
        + (f", --members {s.default_members})" if s.default_members else ")")
        for name, s in SCENARIOS.items()
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
        "--duration", type=float, default=10.0, help="seconds of each measured phase (default 10)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="closed-loop workers (default 16)"
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
        "--server-pid",
        type=int,
        help="with --url: the server's process id, to report its CPU (Linux)",
    )
    parser.add_argument(
        "--metrics-token",
        default=os.environ.get("KIZUNA_METRICS_TOKEN"),
        help="bearer token for /metrics (default: $KIZUNA_METRICS_TOKEN)",
    )
    return parser


def _options(args: argparse.Namespace, scenario: Scenario) -> BenchOptions:
    rate: float = args.rate if args.rate is not None else scenario.default_rate
    members: int = (
        args.members if args.members is not None else scenario.default_members or DEFAULT_MEMBERS
    )
    problems = []
    if not 0 < args.duration <= MAX_DURATION_SECONDS:
        problems.append(f"--duration must be in (0, {MAX_DURATION_SECONDS:g}]")
    if rate <= 0 or rate * args.duration > MAX_REQUESTS_PER_PHASE:
        problems.append(f"--rate must be > 0 with rate × duration ≤ {MAX_REQUESTS_PER_PHASE}")
    if not 1 <= args.concurrency <= 1000 or not 1 <= args.connections <= 1000:
        problems.append("--concurrency and --connections must be from 1 to 1000")
    if not 0 <= args.warmup <= MAX_DURATION_SECONDS:
        problems.append(f"--warmup must be in [0, {MAX_DURATION_SECONDS:g}]")
    if not 1 <= members <= 10_000:
        problems.append("--members must be from 1 to 10000")
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
            duration=args.duration,
            concurrency=args.concurrency,
            warmup=args.warmup,
            connections=args.connections,
            metrics_token=args.metrics_token or None,
        ),
        members=members,
        history=args.history,
        open_lots=args.open_lots,
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
