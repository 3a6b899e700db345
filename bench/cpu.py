"""CPU time used by a server process and its children (Linux /proc), to tell a saturated
server from a saturated load generator on a small machine."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def own_seconds(pid: int) -> float:
    """utime + stime of one process; 0 if it is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def split_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of `pid` itself and of all its live descendants (for our server: uvicorn,
    and the embedded database it started)."""
    own = own_seconds(pid)
    descendants = 0.0
    pending = _children(pid)
    while pending:
        current = pending.pop()
        descendants += own_seconds(current)
        pending += _children(current)
    return own, descendants


def client_seconds() -> float:
    """CPU seconds of this (load generator) process."""
    return time.process_time()


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (all processes); None off Linux."""
    try:
        first = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICKS


@dataclass(frozen=True, slots=True)
class CpuSample:
    """Cumulative CPU seconds at one instant; server figures only for a server we started."""

    server: float | None
    server_children: float | None
    client: float
    machine: float | None

    @classmethod
    def take(cls, server_pid: int | None) -> "CpuSample":
        own, children = split_seconds(server_pid) if server_pid is not None else (None, None)
        return cls(own, children, client_seconds(), machine_busy_seconds())


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU used between two samples, in cores (1.0 = one core busy throughout). `other` is
    every other process on the machine: well above zero means the figures are disturbed."""

    server_seconds: float | None
    server: float | None
    db: float | None
    client: float
    other: float | None

    @classmethod
    def between(cls, before: CpuSample, after: CpuSample, elapsed: float) -> "CpuUse":
        def cores(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else (end - start) / elapsed

        server_seconds = None
        if before.server is not None and after.server is not None:
            server_seconds = after.server - before.server
        server = cores(before.server, after.server)
        db = cores(before.server_children, after.server_children)
        client = (after.client - before.client) / elapsed
        machine = cores(before.machine, after.machine)
        other = None
        if machine is not None and server is not None and db is not None:
            other = max(0.0, machine - server - db - client)
        return cls(server_seconds, server, db, client, other)
