"""One target under load: warm up, then a closed-loop and an open-loop phase, each framed
by readings of the server's round-trip counter and of CPU time."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx

from bench.cpu import CpuSample, CpuUse
from bench.graphql import JSON_HEADERS
from bench.load import PhaseResult, Workload, closed_loop, open_loop
from bench.metrics import CommandCounts, read_commands
from bench.options import LoadOptions
from bench.servers import Target

REQUEST_TIMEOUT_SECONDS = 10.0
SETTLE_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class PhaseReport:
    """A phase's result with the figures read around it; round trips and server CPU are
    None where they cannot be known (no /metrics, a server the bench did not start).
    `commands_per_op` splits the round trips by command name (find, insert, …)."""

    target: str
    result: PhaseResult
    round_trips_per_op: float | None
    cpu: CpuUse
    commands_per_op: Mapping[str, float] = field(default_factory=dict)

    @property
    def server_ms_per_op(self) -> float | None:
        """Server process CPU milliseconds per operation: its cost, whatever else runs."""
        seconds = self.cpu.server_seconds
        if seconds is None or not self.result.operations:
            return None
        return seconds * 1000 / self.result.operations


@contextlib.asynccontextmanager
async def load_client(target: Target, connections: int) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP/1.1 keep-alive client for `target` with a pool of `connections`."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=target.base_url,
        limits=limits,
        headers=JSON_HEADERS,
        timeout=httpx.Timeout(REQUEST_TIMEOUT_SECONDS),
        trust_env=False,
    ) as client:
        yield client


async def run_phase(
    target: Target,
    client: httpx.AsyncClient,
    options: LoadOptions,
    phase: Callable[[], Awaitable[PhaseResult]],
) -> PhaseReport:
    """Run `phase` and read round trips and CPU before and after it."""
    trips_before = await _commands(target, client, options)
    cpu_before = CpuSample.take(target.pid)
    result = await phase()
    cpu_after = CpuSample.take(target.pid)
    trips_after = await _commands(target, client, options)
    round_trips = None
    mix: dict[str, float] = {}
    if trips_before is not None and trips_after is not None and result.operations:
        round_trips = (trips_after.total - trips_before.total) / result.operations
        mix = trips_after.per_op_since(trips_before, result.operations)
    return PhaseReport(
        target=target.name,
        result=result,
        round_trips_per_op=round_trips,
        cpu=CpuUse.between(cpu_before, cpu_after, max(result.elapsed, 1e-9)),
        commands_per_op=mix,
    )


async def _commands(
    target: Target, client: httpx.AsyncClient, options: LoadOptions
) -> CommandCounts | None:
    if not target.has_metrics:
        return None
    return await read_commands(client, options.metrics_token)


async def measure(
    target: Target,
    workload: Workload,
    options: LoadOptions,
    *,
    around_closed: Callable[[], Awaitable[object]] | None = None,
) -> list[PhaseReport]:
    """Warm `target` up, then saturate it (closed loop) and load it at `options.rate`
    (open loop), sending what `workload` gives. `around_closed`, if given, is awaited
    just before and just after the closed loop, outside its measurements (to read the
    database's size, say)."""
    connections = max(options.connections, options.concurrency)
    async with load_client(target, connections) as client:
        if options.warmup > 0:
            await closed_loop(
                client, workload, concurrency=options.concurrency, duration=options.warmup
            )
            await asyncio.sleep(SETTLE_SECONDS)
        if around_closed is not None:
            await around_closed()
        closed = await run_phase(
            target,
            client,
            options,
            lambda: closed_loop(
                client, workload, concurrency=options.concurrency, duration=options.duration
            ),
        )
        if around_closed is not None:
            await around_closed()
        await asyncio.sleep(SETTLE_SECONDS)
        opened = await run_phase(
            target,
            client,
            options,
            lambda: open_loop(client, workload, rate=options.rate, duration=options.duration),
        )
    return [closed, opened]
