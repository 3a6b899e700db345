"""The two load generators: open loop at a fixed arrival rate, closed loop of N workers.

Both are bounded: the open loop sends exactly `rate × duration` requests, the closed loop
stops starting requests at its deadline, and every request has the client's timeout.
"""

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from bench.graphql import GraphQLRequest, send

# Each call gives the next request to send. Stateful, so a scenario whose writes must not
# repeat (idempotency keys, order ids) can make a fresh one per call across all phases.
type Workload = Callable[[], GraphQLRequest]
# One operation of a load that is not an HTTP request (the raw database ceiling): None when
# it succeeded, else a short description of the failure.
type Operation = Callable[[], Awaitable[str | None]]


def round_robin(requests: Sequence[GraphQLRequest]) -> Workload:
    """A workload that sends `requests` in turn, forever (prepared once, so no JSON cost)."""
    if not requests:
        raise ValueError("a workload needs at least one request")
    return itertools.cycle(requests).__next__


@dataclass(slots=True)
class PhaseResult:
    """What one load phase observed. Latencies (seconds) are of successful requests."""

    mode: str
    operations: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error_samples: Counter[str] = field(default_factory=Counter)
    offered_rate: float | None = None

    def record(self, latency: float, failure: str | None) -> None:
        self.operations += 1
        if failure is None:
            self.latencies.append(latency)
        else:
            self.errors += 1
            self.error_samples[failure] += 1

    @property
    def closed_loop(self) -> bool:
        return self.offered_rate is None

    @property
    def throughput(self) -> float:
        """Successful requests per second over the phase."""
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


async def closed_loop(
    client: httpx.AsyncClient,
    workload: Workload,
    *,
    concurrency: int,
    duration: float,
) -> PhaseResult:
    """`concurrency` workers each send one request after the other until `duration` is up.

    Measures the most the server sustains; latency is from send to full response.
    """
    return await closed_loop_of(
        lambda: send(client, workload()), concurrency=concurrency, duration=duration
    )


async def closed_loop_of(
    operation: Operation,
    *,
    concurrency: int,
    duration: float,
) -> PhaseResult:
    """The closed loop over any operation: `concurrency` workers each run `operation` one
    after the other until `duration` is up; latency is from start to end of each."""
    loop = asyncio.get_running_loop()
    result = PhaseResult(mode=f"closed c={concurrency}")
    start = loop.time()
    deadline = start + duration

    async def worker() -> None:
        while loop.time() < deadline:
            sent = loop.time()
            failure = await operation()
            result.record(loop.time() - sent, failure)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    result.elapsed = loop.time() - start
    return result


async def open_loop(
    client: httpx.AsyncClient,
    workload: Workload,
    *,
    rate: float,
    duration: float,
) -> PhaseResult:
    """`open_schedule` of one GraphQL request per operation."""
    return await open_schedule(lambda: send(client, workload()), rate=rate, duration=duration)


async def open_schedule(
    operation: Operation, *, rate: float, duration: float
) -> PhaseResult:
    """Operation i is due at t0 + i/rate and runs as its own task, whatever the others do.

    Latency runs from the *scheduled* time, so time spent queued behind a slow server (or
    behind a busy client loop) counts: no coordinated omission. Operations still unanswered
    a grace period after the last one was due are cancelled and counted as errors, so an
    overloaded server cannot stretch the phase. `operation` returns None or a failure.
    """
    loop = asyncio.get_running_loop()
    total = max(1, round(rate * duration))
    result = PhaseResult(mode=f"open {rate:g}/s", offered_rate=rate)

    async def one(scheduled: float) -> None:
        failure = await operation()
        result.record(loop.time() - scheduled, failure)

    start = loop.time()
    tasks: list[asyncio.Task[None]] = []
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    done, pending = await asyncio.wait(tasks, timeout=drain_seconds(duration))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # a bug in the bench itself should surface, not vanish
    for _ in pending:
        result.record(0.0, "unanswered at the end of the phase (server overloaded)")
    result.elapsed = loop.time() - start
    return result


def drain_seconds(duration: float) -> float:
    """How long the open loop waits for answers after its last request was due."""
    return max(5.0, duration / 2)
