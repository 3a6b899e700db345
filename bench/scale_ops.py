"""`scale`'s four operations at one size: each warmed up, then a closed loop (the most it
sustains) and an open loop at OPEN_FRACTION of that throughput (its latency at a load it
sustains), framed by /metrics and CPU readings like every other scenario (bench.measure).

The requests are the other scenarios' own: `orderRecord` of bench.shop, the checkout
(`voucherCheck` + `voucherRedeem`) of bench.tills, `rewardRedeem` of bench.reward_requests
and the home screen of bench.screens.
"""

import asyncio
import itertools
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

import httpx

from bench.graphql import GraphQLRequest
from bench.load import PhaseResult, Workload, closed_loop, open_loop, round_robin
from bench.measure import SETTLE_SECONDS, PhaseReport, run_phase
from bench.members import SignedInMember
from bench.options import LoadOptions
from bench.progress import say
from bench.reward_requests import redeem_request
from bench.screens import HOME_QUERY
from bench.servers import Target
from bench.tills import (
    CLOSED_MARGIN,
    WARMUP_VOUCHERS,
    Cashier,
    Till,
    closed_checkouts,
    open_checkouts,
    tickets,
    wait_until_quiet,
)
from bench.voucher_pool import VoucherPool

OPEN_FRACTION = 0.5
MIN_OPEN_RATE = 0.5
OPERATIONS = ("order-earn", "checkout", "reward-redeem", "home")


@dataclass(frozen=True, slots=True)
class OpRun:
    """One operation at one size: its closed and open loop."""

    name: str
    size: int
    closed: PhaseReport
    opened: PhaseReport
    ran_out: bool = False
    """The checkout closed loop used up its vouchers before its time."""


@dataclass(slots=True)
class Loads:
    """What the operations send at one size. `order` and `tap` make a new request (a new
    order id, a new idempotency key) on every call."""

    order: Workload
    tap: Workload
    members: Sequence[SignedInMember]
    cashiers: Sequence[Cashier]
    pool: VoucherPool
    ticket_numbers: "itertools.count[int]"


def reward_taps(members: Sequence[SignedInMember], reward_id: str, tag: str) -> Workload:
    """`rewardRedeem` by the members in turn, every tap a new idempotency key."""
    taps = itertools.count()

    def next_tap() -> GraphQLRequest:
        n = next(taps)
        return redeem_request(members[n % len(members)], reward_id, f"{tag}-{n}")

    return next_tap


def open_rate(closed: PhaseReport) -> float:
    """OPEN_FRACTION of the closed loop's throughput, to a tenth (it names the phase)."""
    return max(MIN_OPEN_RATE, round(closed.result.throughput * OPEN_FRACTION, 1))


async def measure_size(
    target: Target, client: httpx.AsyncClient, load: LoadOptions, loads: Loads, size: int
) -> list[OpRun]:
    """The four operations, one after the other, each once the server is idle."""
    home_screens = round_robin(
        [GraphQLRequest.of(HOME_QUERY, token=m.access_token) for m in loads.members]
    )
    runs = []
    for name, workload in (("order-earn", loads.order), ("checkout", None),
                           ("reward-redeem", loads.tap), ("home", home_screens)):
        await wait_until_quiet(target)
        say(f"size {size}: {name}")
        if workload is None:
            run = await _checkouts(target, client, load, loads, size)
        else:
            closed, opened = await _graphql(target, client, load, workload)
            run = OpRun(name, size, closed, opened)
        runs.append(_named(run))
    return runs


def _named(run: OpRun) -> OpRun:
    """The phases' target column names the operation and the size."""
    label = f"{run.name} {run.size}"
    return replace(run, closed=replace(run.closed, target=label),
                   opened=replace(run.opened, target=label))


async def _graphql(
    target: Target, client: httpx.AsyncClient, load: LoadOptions, workload: Workload
) -> tuple[PhaseReport, PhaseReport]:
    c, duration = load.concurrency, load.duration
    if load.warmup > 0:
        await closed_loop(client, workload, concurrency=c, duration=load.warmup)
        await asyncio.sleep(SETTLE_SECONDS)
    closed = await run_phase(
        target, client, load, lambda: closed_loop(client, workload, concurrency=c,
                                                  duration=duration)
    )
    rate = open_rate(closed)
    await asyncio.sleep(SETTLE_SECONDS)
    opened = await run_phase(
        target, client, load, lambda: open_loop(client, workload, rate=rate, duration=duration)
    )
    return closed, opened


async def _checkouts(
    target: Target, client: httpx.AsyncClient, load: LoadOptions, loads: Loads, size: int
) -> OpRun:
    """Warm-up (also the calibration, as in `checkout`), then as many vouchers as the
    closed loop can use, then the open loop's; every voucher once."""
    c, duration = load.concurrency, load.duration
    till = Till(client)

    async def stock(count: int) -> None:
        vouchers = await loads.pool.issue(count)
        till.add(tickets(vouchers, loads.cashiers, loads.ticket_numbers))
        await wait_until_quiet(target)

    def closed_phase(seconds: float) -> Callable[[], Awaitable[PhaseResult]]:
        return lambda: closed_checkouts(till.checkout, till.__len__, concurrency=c,
                                        duration=seconds)

    await stock(max(WARMUP_VOUCHERS, 4 * c))
    warm = await closed_phase(load.warmup or 1.0)()
    await stock(math.ceil(warm.throughput * duration * CLOSED_MARGIN) + c)
    closed = await run_phase(target, client, load, closed_phase(duration))
    ran_out = len(till) == 0 and closed.result.elapsed < duration
    rate = open_rate(closed)
    await stock(max(0, max(1, round(rate * duration)) - len(till)))
    opened = await run_phase(
        target, client, load,
        lambda: open_checkouts(till.checkout, rate=rate, duration=duration),
    )
    return OpRun("checkout", size, closed, opened, ran_out=ran_out)


def order_stream(
    population_size: Callable[[], int], member_id: Callable[[int], str],
    request: Callable[[str, str], GraphQLRequest], tag: str, seed: int,
) -> Workload:
    """`orderRecord` for members drawn at random from the whole population, every order a
    new order id (`request(member global id, order id)`)."""
    numbers = itertools.count()
    rng = random.Random(seed)

    def next_order() -> GraphQLRequest:
        n = next(numbers)
        return request(member_id(rng.randrange(population_size())), f"{tag}-{n}")

    return next_order
