"""console: what a programme manager reads, on a programme that grows — 10k and 100k
members' worth of data by default (`--sizes`), bulk-seeded as in `scale`.

At each size, one after the other once the server is idle: member search (`members`, one
page of 20, by each search key and sort), `programmeStats` for the last 12 months with a
currency, and the three exports (`kizuna export`'s exporter, in the bench's process, to a
file). Each GraphQL read: warm-up, then a closed loop of `--concurrency` workers (default
4: managers, not shoppers); the table gives throughput, p50/p99 and database round trips
per operation. The notes give each export's rows/s and `kizuna verify`'s check of the
whole database (the roll-ups included) at the end.
"""

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from api.exports import measure_export
from bench.database import open_store
from bench.graphql import GraphQLRequest
from bench.history import SeedContext, email_of
from bench.load import Workload, closed_loop, round_robin
from bench.measure import PhaseReport, load_client, run_phase
from bench.options import BenchOptions
from bench.population import Population
from bench.progress import say
from bench.report import Report
from bench.scale_shop import open_scale_shop, seed_context
from bench.scenarios.common import describe_target
from bench.server_log import fault_lines, faults_on_failure
from bench.servers import Target, kizuna_server
from bench.tills import SERVER_ENV, wait_until_quiet
from bench.verification import verify_lines
from loyalty.insights.exports import Period
from store import Store

DEFAULT_RATE = 1.0
"""Not used: the reads are measured in a closed loop."""
DEFAULT_SIZES = (10_000, 100_000)
DEFAULT_CONCURRENCY = 4
SETTLE_SECONDS = 0.5
SEED = 23

STATS = """query($from: Date!, $to: Date!) {
  programmeStats(from: $from, to: $to, currency: "EUR") {
    stats { pointsOutstanding pointsOutstandingValue { amount }
      points { issued netRedeemed expired redemptionRate breakageRate }
      lifetime { redemptionRate breakageRate }
      expiryForecast { withinDays points }
      members { total new active30Days active90Days byTier { name members } withoutTier }
      rewards { title redemptions stockLeft } campaigns { name spent left }
      nps { score responses } }
    errors { code } } }"""

MEMBERS = """query($query: String, $sort: MemberSort, $joinedFrom: DateTime,
  $joinedTo: DateTime, $after: String) {
  members(query: $query, sort: $sort, joinedFrom: $joinedFrom, joinedTo: $joinedTo,
          first: 20, after: $after) {
    edges { node { id email name memberSince points { balance } } }
    pageInfo { hasNextPage endCursor } searchTruncated } }"""
SEARCHES = 50
"""Different members looked up per search shape (round robin)."""
DEEP_PAGES = 5

POINT_VALUE = """mutation { programmePointValueSet(input: {currency: "EUR", points: 100,
  amount: 100}) { errors { code } } }"""


@dataclass(frozen=True, slots=True)
class Read:
    name: str
    workload: Workload


@dataclass(frozen=True, slots=True)
class Export:
    kind: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


async def run(options: BenchOptions) -> Report:
    report = Report(title="console")
    load = options.load
    exports: list[tuple[int, Export]] = []
    async with (
        kizuna_server(options, extra_env=SERVER_ENV) as ours,
        load_client(ours, max(load.connections, load.concurrency)) as client,
        open_store(ours) as store,
        faults_on_failure(ours),
    ):
        report.setup.append(describe_target(ours))
        say(f"ours at {ours.base_url}: admin, API key, rules, catalogue, stores, staff, reward")
        scale = await open_scale_shop(ours, client)
        admin = scale.shop.admin_token
        await _post(client, GraphQLRequest.of(POINT_VALUE, token=admin))
        ctx, password = await seed_context(store, ours, scale, options.shape)
        population = Population(store, ctx, password)
        for size in options.sizes:
            say(f"size {size}: seeding {size - population.size} members in bulk")
            growth = await population.grow(size)
            say(f"size {size}: seeded {growth.total} documents in {growth.seconds:.1f} s")
            await wait_until_quiet(ours)
            reads = await _reads(client, admin, ctx, population, random.Random(SEED + size))
            for read in reads:
                report.phases.append(await _measure(ours, client, options, read, size))
            exports += [(size, export) for export in await _exports(store)]
        verified = await verify_lines(store) + await fault_lines(ours)
    report.setup += _describe(options)
    report.notes += [f"export {e.kind} at {size:,} members: {e.rows:,} rows in "
                     f"{e.seconds:.1f} s, {e.rate:,.0f} rows/s" for size, e in exports]
    report.notes += verified
    return report


async def _reads(client: httpx.AsyncClient, admin: str, ctx: SeedContext,
                 population: Population, rng: random.Random) -> list[Read]:
    """The reads measured at one size: searches for members drawn from the whole
    population, pages of the list, and the year's figures."""
    picked = rng.sample(range(population.size), min(SEARCHES, population.size))

    def searches(typed: Callable[[int], str]) -> Workload:
        return round_robin([GraphQLRequest.of(MEMBERS, {"query": typed(i)}, token=admin)
                            for i in picked])

    def page(**variables: Any) -> GraphQLRequest:
        return GraphQLRequest.of(MEMBERS, variables, token=admin)

    today = _today()
    balance = {"field": "BALANCE", "direction": "DESC"}
    deep = await _cursor(client, page(sort=balance), DEEP_PAGES)
    month = {"joinedFrom": f"{today - timedelta(days=200)}T00:00:00Z",
             "joinedTo": f"{today - timedelta(days=170)}T00:00:00Z"}
    stats = GraphQLRequest.of(STATS, {"from": (today - timedelta(days=364)).isoformat(),
                                      "to": today.isoformat()}, token=admin)
    return [
        Read("search email prefix", searches(lambda i: email_of(ctx.run, i).split("@")[0])),
        Read("search name word", searches(str)),
        Read("search member id", searches(lambda i: population.member_ids[i])),
        Read("list by balance", round_robin([page(sort=balance)])),
        Read(f"list by balance, page {DEEP_PAGES + 1}",
             round_robin([page(sort=balance, after=deep)])),
        Read("list by last activity", round_robin([page(
            sort={"field": "LAST_ACTIVITY", "direction": "DESC"})])),
        Read("list joined in a month", round_robin([page(**month)])),
        Read("programme-stats 12 months", round_robin([stats])),
    ]


async def _cursor(client: httpx.AsyncClient, first: GraphQLRequest, pages: int) -> str:
    """The cursor after `pages` pages of the list `first` asks for."""
    body = json.loads(first.body)
    cursor = None
    for _ in range(pages):
        body["variables"]["after"] = cursor
        response = await client.post("/graphql", json=body, headers=first.headers)
        response.raise_for_status()
        cursor = response.json()["data"]["members"]["pageInfo"]["endCursor"]
    assert cursor is not None  # noqa: S101 - the population has more than a few pages
    return str(cursor)


def _today() -> date:
    return datetime.now(UTC).date()


async def _measure(ours: Target, client: httpx.AsyncClient, options: BenchOptions,
                   read: Read, size: int) -> PhaseReport:
    load = options.load
    say(f"size {size}: {read.name}")
    if load.warmup > 0:
        await closed_loop(client, read.workload, concurrency=load.concurrency,
                          duration=load.warmup)
        await asyncio.sleep(SETTLE_SECONDS)
    phase = await run_phase(ours, client, load, lambda: closed_loop(
        client, read.workload, concurrency=load.concurrency, duration=load.duration))
    return replace(phase, target=f"{read.name} {size}")


async def _exports(store: Store) -> list[Export]:
    """Each export to a CSV file, as `kizuna export` writes it: the whole member list and
    ledger, and the last year's daily figures."""
    today = _today()
    found = []
    for kind, period in (("members", None), ("ledger", None),
                         ("stats", Period(today - timedelta(days=364), today))):
        say(f"export {kind}")
        rows, seconds = await measure_export(store, kind, "csv", period=period)
        found.append(Export(kind, rows, seconds))
    return found


async def _post(client: httpx.AsyncClient, request: GraphQLRequest) -> None:
    response = await client.post("/graphql", content=request.body, headers=request.headers)
    response.raise_for_status()
    assert "errors" not in response.json(), response.text  # noqa: S101 - set-up must work


def _describe(options: BenchOptions) -> list[str]:
    load = options.load
    return [
        "programme as in `scale` (rules, tiers, segments, 30 rewards, stores, staff), points "
        "worth 1 cent each in EUR; members bulk-written with their histories and roll-ups",
        f"sizes {', '.join(f'{s:,}' for s in options.sizes)}, each grown from the one before",
        f"each read: warm-up {load.warmup:g} s, closed loop {load.concurrency} workers × "
        f"{load.duration:g} s, as the bench's administrator",
    ]

