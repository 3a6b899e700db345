"""scale: the same four operations on a programme that grows — 1k, 10k, 100k members'
worth of data by default (`--sizes`) — to see which of them slow down as the shop grows.

Set-up through the API (bench.scale_shop): an administrator, an API key and the three
rules of bench.shop, the catalogue of `home` (tiers, segments, 30 rewards), 4 stores with 20
signed-in staff, and the reward members redeem. Then, size by size on the same database,
members are written in bulk (bench.population: each with an account, `--entries` ledger
entries of which `--orders` orders and `--vouchers` reward redemptions, their lots, orders,
vouchers, scans and totals, built with the product's own policy and document builders).

At each size `--sample` members drawn from the whole population are signed in and given a
campaign bonus (so their redemptions never run short), and four operations are measured
one after the other (bench.scale_ops): order-earn (`orderRecord` with the API key, for
members drawn from the whole population), checkout (`voucherCheck` + `voucherRedeem` by
the staff, each voucher once; gift vouchers of the sample, bulk-written, their QR payloads
read through the members' tokens), reward-redeem (`rewardRedeem` by the sample) and home
(the `home` scenario's query, the sample's tokens). Each: warm-up, closed loop, open loop
at half the closed-loop throughput. The notes print the database at each size, the
operation × size table, each operation's cost at the largest size ÷ the smallest (target
≤ 1.5), and `kizuna verify`'s check of the whole database at the end.
"""

import itertools
import random

import httpx

from bench.database import open_store
from bench.history import SeedContext
from bench.measure import load_client
from bench.options import BenchOptions, HistoryShape
from bench.population import Population
from bench.progress import say
from bench.report import Report
from bench.scale_ops import Loads, measure_size, order_stream, reward_taps
from bench.scale_report import COUNTED, SizeRun, growth_lines, operation_lines, size_lines
from bench.scale_shop import ScaleShop, give_bonus, open_scale_shop, seed_context
from bench.scenarios.common import describe_target
from bench.server_log import fault_lines, faults_on_failure
from bench.servers import Target, kizuna_server
from bench.shop import order_request
from bench.tills import SERVER_ENV, wait_until_quiet
from bench.verification import verify_lines
from bench.voucher_pool import VoucherPool
from store import Store

DEFAULT_RATE = 1.0
"""Not used: each open loop runs at half its closed loop's throughput."""
BONUS = 20_000
SEED = 17


async def run(options: BenchOptions) -> Report:
    report = Report(title="scale")
    load = options.load
    async with (
        kizuna_server(options, extra_env=SERVER_ENV) as ours,
        load_client(ours, max(load.connections, load.concurrency)) as client,
        open_store(ours) as store,
        faults_on_failure(ours),
    ):
        report.setup.append(describe_target(ours))
        say(f"ours at {ours.base_url}: admin, API key, rules, catalogue, stores, staff, reward")
        scale = await open_scale_shop(ours, client)
        ctx, password = await seed_context(store, ours, scale, options.shape)
        population = Population(store, ctx, password)
        sizes = []
        numbers = itertools.count()
        for size in options.sizes:
            sizes.append(await _size(ours, client, store, options, scale, ctx, population,
                                     size, numbers))
        verified = await verify_lines(store) + await fault_lines(ours)
    report.phases = [p for s in sizes for run in s.runs for p in (run.closed, run.opened)]
    report.setup += _describe(options, options.shape)
    report.notes += size_lines(sizes) + operation_lines(sizes) + growth_lines(sizes) + verified
    return report


async def _size(
    ours: Target, client: httpx.AsyncClient, store: Store, options: BenchOptions,
    scale: ScaleShop, ctx: SeedContext, population: Population, size: int,
    numbers: "itertools.count[int]",
) -> SizeRun:
    """Grow to `size`, sign in a fresh sample, measure the four operations."""
    say(f"size {size}: seeding {size - population.size} members in bulk")
    growth = await population.grow(size)
    say(f"size {size}: seeded {growth.total} documents in {growth.seconds:.1f} s")
    counts = {name: await store.collection(name).estimated_document_count()
              for name in COUNTED}
    await wait_until_quiet(ours)
    members = await population.sign_in(client, options.sample, random.Random(SEED + size))
    await give_bonus(ours, scale, members, BONUS, f"s{size}")
    tag = f"scale-{scale.run}-s{size}"
    loads = Loads(
        order=order_stream(lambda: population.size, population.global_id,
                           lambda member, order: order_request(scale.shop, member, order),
                           tag, SEED + size),
        tap=reward_taps(members, scale.reward_id, tag),
        members=members, cashiers=scale.cashiers,
        pool=VoucherPool(store, client, ctx, members, tag), ticket_numbers=numbers,
    )
    runs = await measure_size(ours, client, options.load, loads, size)
    return SizeRun(size, growth, counts, runs)


def _describe(options: BenchOptions, shape: HistoryShape) -> list[str]:
    load = options.load
    corrections = max(0, shape.entries - 1 - shape.orders - shape.vouchers)
    return [
        "programme (through the API): the 3 rules of bench.shop, tiers, segments and 30 "
        "rewards of bench.catalogue, 4 stores with 20 signed-in staff, and the reward "
        "members redeem (€5 off, 100 points)",
        f"per member (bulk-written, the product's own policy and document shapes): an "
        f"account, a welcome bonus, {shape.orders} orders (one lot each, earned under the "
        f"rules and tiers), {shape.vouchers} reward redemptions (vouchers; all but the last "
        f"redeemed at a till with 2 scan audit records) and {corrections} corrections of −1: "
        f"{1 + shape.orders + shape.vouchers + corrections} ledger entries and any tier "
        "changes, over the last 11 months",
        f"sizes {', '.join(str(s) for s in options.sizes)}, each grown from the one before on "
        f"the same database; at each, {options.sample} members drawn at random are signed "
        f"in and given {BONUS} points (pointsAdjust)",
        "operations: order-earn (orderRecord, API key, members drawn from the whole "
        "population), checkout (voucherCheck + voucherRedeem by the staff, gift vouchers of "
        "the sample, each once), reward-redeem (rewardRedeem by the sample), home (the "
        "`home` scenario's query, the sample's tokens)",
        f"load per operation and size: warm-up {load.warmup:g} s, closed loop "
        f"{load.concurrency} workers × {load.duration:g} s, open loop at half the closed-loop "
        f"throughput × {load.duration:g} s (latency from scheduled send)",
    ]
