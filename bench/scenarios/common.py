"""Lines most scenarios print about their set-up."""

from collections.abc import Mapping

from bench.options import LoadOptions
from bench.servers import TELEMETRY_OFF, UVICORN_OPTIONS, Target


def describe_target(target: Target) -> str:
    if not target.started_by_bench:
        cpu = "server CPU not measured" if target.pid is None else f"pid {target.pid}"
        return f"{target.name}: {target.base_url} (already running; {cpu})"
    telemetry = ("; request telemetry off"
                 if target.settings.get(TELEMETRY_OFF[0]) == TELEMETRY_OFF[1] else "")
    return (
        f"{target.name}: {target.base_url} (started by the bench, pid {target.pid}; "
        f"uvicorn {' '.join(UVICORN_OPTIONS)}{telemetry})"
    )


def describe_load(load: LoadOptions) -> str:
    return (
        f"load: warm-up {load.warmup:g} s, closed loop {load.concurrency} workers × "
        f"{load.duration:g} s, open loop {load.rate:g} req/s × {load.duration:g} s "
        f"(latency from scheduled send), pool {max(load.connections, load.concurrency)} "
        "connections"
    )


def format_mix(per_op: Mapping[str, float]) -> str:
    """Database commands per operation by name, most frequent first: `find 3.00, …`."""
    if not per_op:
        return "-"
    ordered = sorted(per_op.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {count:.2f}" for name, count in ordered)
