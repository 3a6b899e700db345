"""soak: ten minutes (`--duration 600`) of a shop's mixed traffic at 24 requests in flight
(`--concurrency`), on a programme of `--members` bulk-seeded members, watching for what
only shows over time: latency creeping up, server errors, reads that come back empty.

Set-up as in `scale` (bench.scale_shop, bench.population): the programme through the API,
`--members` members with their histories written in bulk, `--sample` of them signed in
and given a campaign bonus, and gift vouchers for their checkouts (bench.voucher_pool),
topped up in the background whenever fewer than LOW_STOCK are ready.

The load (bench.mix, bench.soak_ops): `--concurrency` workers, each running one operation
after the other, picked at random in the proportions of bench.soak_ops.WEIGHTS. The notes
give, per operation, its count, errors, rate and latencies; the errors by kind (HTTP status,
GraphQL error code, "Internal server error", empty reads) with an example of each; the
requests per second overall; and `kizuna verify`'s check of the whole database at the end.
Targets: ≥ 28 requests/s, home and `me` p99 ≤ 1 s, no HTTP 5xx, no internal error, no empty
read, verify clean.
"""

import itertools
import random
from collections import Counter
from dataclasses import dataclass, replace

import httpx

from bench.database import open_store
from bench.load import PhaseResult
from bench.measure import PhaseReport, load_client, run_phase
from bench.members import SignedInMember
from bench.mix import EMPTY_READ, MixResult, run_mix
from bench.options import BenchOptions
from bench.population import Growth, Population
from bench.progress import say
from bench.report import Report, aligned
from bench.scale_shop import ScaleShop, give_bonus, open_scale_shop, seed_context
from bench.scenarios.common import describe_target
from bench.server_log import fault_lines, faults_on_failure
from bench.servers import Target, kizuna_server
from bench.soak_ops import WEIGHTS, SoakOps, keep_stocked
from bench.stats import Latencies
from bench.tills import SERVER_ENV, Till, tickets, wait_until_quiet
from bench.verification import verify_lines
from bench.voucher_pool import VoucherPool
from store import Store

DEFAULT_RATE = 1.0
"""Not used: the soak is a closed loop."""
DEFAULT_MEMBERS = 1_000
DEFAULT_DURATION = 600.0
DEFAULT_CONCURRENCY = 24
BONUS = 100_000
LOW_STOCK = 100
RESTOCK = 300
TICK_SECONDS = 30.0
SEED = 28
TARGET_REQUESTS = 28.0
TARGET_P99_MS = 1000.0


@dataclass(frozen=True, slots=True)
class Stage:
    """What the soak runs on, once set up."""

    scale: ScaleShop
    population: Population
    growth: Growth
    members: list[SignedInMember]
    pool: VoucherPool
    till: Till
    numbers: "itertools.count[int]"


async def run(options: BenchOptions) -> Report:
    report = Report(title="soak")
    load = options.load
    async with (
        kizuna_server(options, extra_env=SERVER_ENV) as ours,
        load_client(ours, max(load.connections, load.concurrency)) as client,
        open_store(ours) as store,
        faults_on_failure(ours),
    ):
        report.setup.append(describe_target(ours))
        stage = await _set_up(ours, client, store, options)
        soak = SoakOps(client, stage.scale, stage.members, stage.population.size,
                       stage.population.global_id, stage.till, SEED)
        outcome: list[MixResult] = []

        async def mixed() -> PhaseResult:
            say(f"soak: {load.duration:g} s at {load.concurrency} in flight")
            found = await run_mix(soak.ops(), concurrency=load.concurrency,
                                  duration=load.duration, seed=SEED, tick=_progress,
                                  tick_seconds=min(TICK_SECONDS, max(5.0, load.duration / 10)))
            outcome.append(found)
            return found.overall

        async with keep_stocked(stage.pool, stage.till, stage.scale.cashiers, low=LOW_STOCK,
                                batch=RESTOCK, numbers=stage.numbers) as restocks:
            framed = await run_phase(ours, client, load, mixed)
        verified = await verify_lines(store) + await fault_lines(ours)
    report.phases.append(replace(framed, target="mix"))
    report.setup += _describe(options, stage, restocks)
    report.notes += _operation_lines(outcome[0]) + _error_lines(outcome[0])
    report.notes += _target_lines(outcome[0], framed) + verified
    return report


async def _set_up(
    ours: Target, client: httpx.AsyncClient, store: Store, options: BenchOptions
) -> Stage:
    """The programme, the members in bulk, the signed-in sample and its first vouchers."""
    say(f"ours at {ours.base_url}: admin, API key, rules, catalogue, stores, staff, reward")
    scale = await open_scale_shop(ours, client)
    ctx, password = await seed_context(store, ours, scale, options.shape)
    population = Population(store, ctx, password)
    say(f"seeding {options.members} members in bulk")
    growth = await population.grow(options.members)
    await wait_until_quiet(ours)
    members = await population.sign_in(client, options.sample, random.Random(SEED))
    await give_bonus(ours, scale, members, BONUS, "soak")
    pool = VoucherPool(store, client, ctx, members, f"soak-{scale.run}")
    till, numbers = Till(client), itertools.count()
    till.add(tickets(await pool.issue(RESTOCK), scale.cashiers, numbers))
    await wait_until_quiet(ours)
    return Stage(scale, population, growth, members, pool, till, numbers)


def _describe(options: BenchOptions, stage: Stage, restocks: list[float]) -> list[str]:
    shape, growth, load = options.shape, stage.growth, options.load
    most = f", {max(restocks):.1f} s at most" if restocks else ""
    return [
        f"programme as in `scale`; {growth.members} members bulk-seeded ({shape.entries} "
        f"ledger entries, {shape.orders} orders, {shape.vouchers} reward vouchers each): "
        f"{growth.total} documents in {growth.seconds:.1f} s; {len(stage.members)} signed in "
        f"and given {BONUS} points",
        "mix, per 100 operations: " + ", ".join(f"{n} {w}" for n, w in WEIGHTS.items()),
        f"vouchers for checkouts: {stage.pool.issued} written in bulk for the signed-in "
        f"members ({len(restocks)} top-ups of {RESTOCK} when fewer than {LOW_STOCK} were "
        f"ready{most})",
        f"load: {load.concurrency} workers × {load.duration:g} s, no warm-up (the soak's first "
        "seconds count)",
    ]


def _progress(result: MixResult, elapsed: float) -> None:
    errors = result.overall.errors
    say(f"soak: {elapsed:.0f} s, {result.overall.operations} operations "
        f"({result.requests / elapsed:.1f} requests/s), {errors} errors")


def _operation_lines(result: MixResult) -> list[str]:
    rows = [["operation", "ops", "share", "errors", "ops/s", "p50 ms", "p90 ms", "p99 ms",
             "max ms"]]
    total = max(1, result.overall.operations)
    for name, tally in result.tallies.items():
        found = tally.result
        lat = Latencies.of(found.latencies)
        rows.append([name, str(found.operations), f"{100 * found.operations / total:.0f} %",
                     str(found.errors), f"{found.throughput:.1f}", f"{lat.p50:.1f}",
                     f"{lat.p90:.1f}", f"{lat.p99:.1f}", f"{lat.max:.1f}"])
    lines = ["per operation (latency of successful ones; a checkout is its check and its "
             "redemption)", *aligned(rows)]
    if result.skipped:
        lines.append("  picked while not ready (another operation ran instead): " + ", ".join(
            f"{name} {count}" for name, count in result.skipped.items()))
    return lines


def _error_lines(result: MixResult) -> list[str]:
    found = [(name, kind, count, tally.examples.get(kind, ""))
             for name, tally in result.tallies.items()
             for kind, count in tally.result.error_samples.most_common()]
    if not found:
        return ["errors by kind: none"]
    return ["errors by kind (operation, kind, count, first example)",
            *(f"  {name:<14} {kind:<36} {count:>6}  {example}"
              for name, kind, count, example in found)]


def _target_lines(result: MixResult, framed: PhaseReport) -> list[str]:
    elapsed = max(result.overall.elapsed, 1e-9)
    rate = result.requests / elapsed
    kinds: Counter[str] = Counter()
    for tally in result.tallies.values():
        kinds.update(tally.result.error_samples)
    server = sum(count for kind, count in kinds.items() if kind.startswith("HTTP 5"))
    lines = [
        f"throughput: {rate:.1f} requests/s ({result.requests} HTTP requests, "
        f"{result.overall.operations / elapsed:.1f} operations/s) — target ≥ "
        f"{TARGET_REQUESTS:g}: {_verdict(rate >= TARGET_REQUESTS)}",
    ]
    for name in ("home", "me"):
        p99 = Latencies.of(result.tallies[name].result.latencies).p99
        lines.append(f"{name} p99: {p99:.0f} ms — target ≤ {TARGET_P99_MS:g} ms: "
                     f"{_verdict(p99 <= TARGET_P99_MS)}")
    for what, count in (("HTTP 5xx", server),
                        ("internal server errors", kinds.get("internal server error", 0)),
                        ("empty reads", kinds.get(EMPTY_READ, 0))):
        lines.append(f"{what}: {count} — target 0: {_verdict(count == 0)}")
    trips = framed.round_trips_per_op
    lines.append(f"db rt/op over the mix: {'-' if trips is None else f'{trips:.2f}'} "
                 "(database commands per operation, all kinds together)")
    return lines


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"
