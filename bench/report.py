"""Printing a scenario's figures as two tables (load, then CPU), the same for every scenario."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from bench.measure import PhaseReport
from bench.stats import Latencies

type Column = tuple[str, int, Callable[[PhaseReport], str]]
OTHER_CPU_WARNING = 0.25  # cores used by unrelated processes that make figures doubtful
CLIENT_CPU_WARNING = 0.85  # the load generator is one Python process: ~1 core at most


@dataclass(slots=True)
class Report:
    """What a scenario prints: a title, how it was set up, the phases, and conclusions."""

    title: str
    setup: list[str] = field(default_factory=list)
    phases: list[PhaseReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _number(value: float | None, digits: int) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def _latency(pick: Callable[[Latencies], float]) -> Callable[[PhaseReport], str]:
    return lambda p: _number(pick(Latencies.of(p.result.latencies)), 1)


_IDENTITY: list[Column] = [
    ("target", 6, lambda p: p.target),
    ("phase", 13, lambda p: p.result.mode),
]
LOAD_COLUMNS: list[Column] = [
    *_IDENTITY,
    ("ops", 6, lambda p: str(p.result.operations)),
    ("errors", 6, lambda p: str(p.result.errors)),
    ("req/s", 7, lambda p: _number(p.result.throughput, 1)),
    ("p50 ms", 7, _latency(lambda lat: lat.p50)),
    ("p90 ms", 7, _latency(lambda lat: lat.p90)),
    ("p99 ms", 7, _latency(lambda lat: lat.p99)),
    ("max ms", 7, _latency(lambda lat: lat.max)),
    ("db rt/op", 8, lambda p: _number(p.round_trips_per_op, 2)),
]
CPU_COLUMNS: list[Column] = [
    *_IDENTITY,
    ("srv cpu", 7, lambda p: _number(p.cpu.server, 2)),
    ("srv ms/op", 9, lambda p: _number(p.server_ms_per_op, 2)),
    ("db cpu", 6, lambda p: _number(p.cpu.db, 2)),
    ("gen cpu", 7, lambda p: _number(p.cpu.client, 2)),
    ("other", 5, lambda p: _number(p.cpu.other, 2)),
]


def _table(columns: Sequence[Column], phases: Sequence[PhaseReport], out: TextIO) -> None:
    rows = [[cell(phase) for _, _, cell in columns] for phase in phases]
    # A column is as wide as its widest cell (scale's targets name an operation and a size).
    widths = [
        max([width, *(len(row[index]) for row in rows)])
        for index, (_, width, _) in enumerate(columns)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            f"{cell:<{width}}" if index < len(_IDENTITY) else f"{cell:>{width}}"
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(line([name for name, _, _ in columns]), file=out)
    for row in rows:
        print(line(row), file=out)


def print_report(report: Report, out: TextIO) -> None:
    """Write `report` to `out`: title, set-up, load table, CPU table, errors and notes."""
    print(f"== {report.title} ==", file=out)
    for line in report.setup:
        print(line, file=out)
    print(file=out)
    _table(LOAD_COLUMNS, report.phases, out)
    print(file=out)
    print("CPU in cores over each phase (srv ms/op: server CPU per request)", file=out)
    _table(CPU_COLUMNS, report.phases, out)
    print(file=out)
    for phase in report.phases:
        samples = phase.result.error_samples
        if samples:
            listed = "; ".join(f"{count}× {what}" for what, count in samples.most_common(3))
            print(f"errors, {phase.target} {phase.result.mode}: {listed}", file=out)
    disturbed = [p for p in report.phases if (p.cpu.other or 0.0) > OTHER_CPU_WARNING]
    if disturbed:
        worst = max(p.cpu.other or 0.0 for p in disturbed)
        print(
            f"warning: other processes used up to {worst:.2f} cores during {len(disturbed)} "
            "phase(s); throughput and latency are disturbed (srv ms/op less so)",
            file=out,
        )
    saturated = [p for p in report.phases if p.cpu.client >= CLIENT_CPU_WARNING]
    for phase in saturated:
        print(
            f"warning: the load generator used {phase.cpu.client:.2f} cores in {phase.target} "
            f"{phase.result.mode}: it, not the server, may be the limit (a lower bound)",
            file=out,
        )
    for line in report.notes:
        print(line, file=out)


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """A small table, indented: the first column left-aligned, the others right-aligned,
    each as wide as its widest cell (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(
            f"{cell:<{widths[i]}}" if i == 0 else f"{cell:>{widths[i]}}"
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
