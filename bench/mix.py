"""A mixed closed loop: N workers, each picking its next operation at random by weight
from those ready to run, tallied per operation with failures sorted into kinds (HTTP
status, GraphQL error code, "Internal server error", empty reads, transport errors).

An operation is any coroutine that says how it went: None or a failure (bench.graphql's
wording, or EMPTY_READ …), and how many HTTP requests it sent.
"""

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.graphql import GRAPHQL_PATH, GraphQLRequest, failure_of
from bench.load import PhaseResult

EMPTY_READ = "empty read"
type Outcome = tuple[str | None, int]
"""(failure or None, HTTP requests sent)."""
type Check = Callable[[Mapping[str, Any]], str | None]
"""Why a 200 answer without errors is still wrong (an empty read), or None."""


@dataclass(frozen=True, slots=True)
class MixOp:
    name: str
    weight: float
    run: Callable[[], Awaitable[Outcome]]
    ready: Callable[[], bool] = lambda: True
    """False while it cannot run (no voucher left, no order to refund): another is picked."""


@dataclass(slots=True)
class Tally:
    """One operation's results: latencies, failures by kind, a first example of each."""

    result: PhaseResult
    requests: int = 0
    examples: dict[str, str] = field(default_factory=dict)

    def record(self, latency: float, failure: str | None, requests: int) -> None:
        self.requests += requests
        kind = None if failure is None else kind_of(failure)
        self.result.record(latency, kind)
        if failure is not None and kind is not None:
            self.examples.setdefault(kind, failure[:200])


@dataclass(slots=True)
class MixResult:
    overall: PhaseResult
    tallies: dict[str, Tally]
    skipped: Counter[str] = field(default_factory=Counter)
    """Picks of an operation that was not ready (another one ran instead)."""

    @property
    def requests(self) -> int:
        return sum(tally.requests for tally in self.tallies.values())


def kind_of(failure: str) -> str:
    """The kind of a failure, for counting: its HTTP status, "internal server error", its
    error code, "empty read", or its first words."""
    if "Internal server error" in failure:
        return "internal server error"
    if match := re.search(r"\bHTTP (\d{3})\b", failure):
        return f"HTTP {match[1]}"
    if failure.startswith(EMPTY_READ):
        return EMPTY_READ
    if match := re.search(r"(refused|not redeemable): ([A-Z][A-Z_]+)", failure):
        return f"{match[1]} {match[2]}"
    if failure.startswith("GraphQL error"):
        return failure[:80]
    return failure.split(":", 1)[0][:60]


async def post(client: httpx.AsyncClient, request: GraphQLRequest, check: Check) -> str | None:
    """Send `request`: None when it succeeded, else why not (bench.graphql `failure_of`,
    then `check` on the data)."""
    try:
        response = await client.post(GRAPHQL_PATH, content=request.body, headers=request.headers)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    failure = failure_of(response)
    if failure is not None:
        return failure
    data = json.loads(response.content).get("data")
    return check(data) if isinstance(data, Mapping) else f"{EMPTY_READ}: no data"


async def run_mix(
    ops: Sequence[MixOp], *, concurrency: int, duration: float, seed: int,
    tick: Callable[[MixResult, float], None] | None = None, tick_seconds: float = 30.0,
) -> MixResult:
    """`concurrency` workers run operations one after the other for `duration` seconds;
    `tick(result so far, seconds elapsed)` every `tick_seconds` (progress)."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    result = MixResult(PhaseResult(mode=f"closed c={concurrency}"),
                       {op.name: Tally(PhaseResult(mode=op.name)) for op in ops})
    start = loop.time()
    deadline = start + duration

    def pick() -> MixOp:
        chosen = rng.choices(ops, weights=[op.weight for op in ops])[0]
        if chosen.ready():
            return chosen
        result.skipped[chosen.name] += 1
        ready = [op for op in ops if op.ready()]
        return rng.choices(ready, weights=[op.weight for op in ready])[0]

    async def worker() -> None:
        while loop.time() < deadline:
            op = pick()
            sent = loop.time()
            failure, requests = await op.run()
            latency = loop.time() - sent
            result.overall.record(latency, None if failure is None else kind_of(failure))
            result.tallies[op.name].record(latency, failure, requests)

    async def ticker() -> None:
        while tick is not None:
            await asyncio.sleep(tick_seconds)
            tick(result, loop.time() - start)

    ticking = asyncio.create_task(ticker())
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
    finally:
        ticking.cancel()
    result.overall.elapsed = loop.time() - start
    for tally in result.tallies.values():
        tally.result.elapsed = result.overall.elapsed
    return result
