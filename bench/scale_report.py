"""`scale`'s closing notes: the database at each size and how long seeding took, the
operation × size table, and how each operation's cost grew from the smallest size to the
largest, against the targets of issue 17."""

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.population import Growth
from bench.report import aligned
from bench.scale_ops import OPERATIONS, OpRun
from bench.stats import Latencies
from events.audit import AUDIT_LOG as SCAN_AUDIT
from loyalty.collections import LEDGER, LOTS, MEMBERS, ORDERS
from scanner.collections import VOUCHERS

TARGET_GROWTH = 1.5
TARGET_CHECKOUTS = 40.0
TARGET_EARNS = 20.0
TARGET_SIZE = 100_000
COUNTED = (MEMBERS, LEDGER, LOTS, ORDERS, VOUCHERS, SCAN_AUDIT)


@dataclass(frozen=True, slots=True)
class SizeRun:
    """One size: what seeding wrote, the collections when the load began, the operations."""

    size: int
    growth: Growth
    counts: Mapping[str, int]
    runs: Sequence[OpRun]


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def size_lines(sizes: Sequence[SizeRun]) -> list[str]:
    """Per size: the seeding (members added, documents, seconds, documents a second) and
    the collections' sizes when the load began."""
    header = ["size", "+members", "+docs", "seed s", "docs/s", *COUNTED]
    rows = [header]
    for run in sizes:
        growth = run.growth
        rate = growth.total / growth.seconds if growth.seconds > 0 else math.nan
        rows.append([
            str(run.size), str(growth.members), str(growth.total), f"{growth.seconds:.1f}",
            _cell(rate, 0), *(str(run.counts.get(name, 0)) for name in COUNTED),
        ])
    return ["database at each size (seeded in bulk; collections counted before the load)",
            *aligned(rows)]


def operation_lines(sizes: Sequence[SizeRun]) -> list[str]:
    """Operation × size: closed-loop throughput, server CPU and round trips per operation,
    the open loop's rate and latencies, errors of both loops."""
    header = ["operation", "size", "closed/s", "srv ms/op", "db rt/op", "open/s", "p50 ms",
              "p99 ms", "errors"]
    rows = [header]
    for name in OPERATIONS:
        for size in sizes:
            run = _find(size, name)
            opened = Latencies.of(run.opened.result.latencies)
            rows.append([
                name, str(size.size), _cell(run.closed.result.throughput, 1),
                _cell(run.closed.server_ms_per_op, 2), _cell(run.closed.round_trips_per_op, 2),
                _cell(run.opened.result.offered_rate, 1), _cell(opened.p50, 1),
                _cell(opened.p99, 1),
                str(run.closed.result.errors + run.opened.result.errors),
            ])
    notes = ["operations at each size (closed: throughput, server CPU and database commands "
             "per operation; open: its rate, half the closed throughput, and latency from "
             "the scheduled send)", *aligned(rows)]
    notes += [f"warning: {run.name} at {size.size} ran out of vouchers in its closed loop "
              "(its throughput is over the time it ran)"
              for size in sizes for run in size.runs if run.ran_out]
    return notes


def growth_lines(sizes: Sequence[SizeRun]) -> list[str]:
    """Each operation's cost at the largest size ÷ at the smallest, and the absolute
    targets at the largest size."""
    if len(sizes) < 2:
        return ["cost growth: only one size was run"]
    small, large = sizes[0], sizes[-1]
    lines = [f"cost at {large.size} ÷ cost at {small.size} (target ≤ {TARGET_GROWTH:g}; "
             "1/throughput of the closed loop decides, mean closed-loop latency and server "
             "CPU per operation for reference)"]
    for name in OPERATIONS:
        a, b = _find(small, name), _find(large, name)
        cost = _ratio(a.closed.result.throughput, b.closed.result.throughput)
        latency = _ratio(_mean(b.closed.result.latencies), _mean(a.closed.result.latencies))
        cpu = _ratio(b.closed.server_ms_per_op, a.closed.server_ms_per_op)
        verdict = "-" if cost is None else ("meets" if cost <= TARGET_GROWTH else "MISSES")
        lines.append(f"  {name:<14} 1/throughput ×{_cell(cost, 2):<6} mean latency "
                     f"×{_cell(latency, 2):<6} srv ms/op ×{_cell(cpu, 2):<6} {verdict}")
    lines += _absolute(large)
    return lines


def _absolute(large: SizeRun) -> list[str]:
    checkout = _find(large, "checkout").closed.result.throughput
    earn = _find(large, "order-earn").closed.result.throughput
    vouchers, ledger = large.counts.get(VOUCHERS, 0), large.counts.get(LEDGER, 0)
    return [
        _target("checkout", checkout, TARGET_CHECKOUTS, vouchers, "vouchers"),
        _target("order-earn", earn, TARGET_EARNS, ledger, "ledger entries"),
    ]


def _target(name: str, value: float, target: float, size: int, what: str) -> str:
    if size < TARGET_SIZE:
        verdict = f"for reference: the target is at {TARGET_SIZE} {what} or more"
    else:
        verdict = "meets" if value >= target else "MISSES"
    return (f"{name} closed loop at {size} {what}: {value:.1f}/s (target ≥ {target:g}/s at "
            f"{TARGET_SIZE} {what}; {verdict})")


def _find(size: SizeRun, name: str) -> OpRun:
    return next(run for run in size.runs if run.name == name)


def _mean(samples: Sequence[float]) -> float | None:
    return statistics.fmean(samples) if samples else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator
