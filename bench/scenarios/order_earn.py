"""order-earn: a shop system records paid orders (`orderRecord`), each a new order id, on a
programme with three active earning rules, against the raw ceiling on the same database
server.

Set-up through the API as an operator would: an administrator from the `kizuna
create-admin` CLI, an ORDERS_WRITE API key (the bearer token of the load), the three rules
of bench.shop and a pool of members. The raw ceiling (bench.raw_earn: just the minimal
PyMongo work of one earn, full and writes-only) runs first, with the same concurrency as
our closed loop; then ours, whose load spreads distinct orders over the members. Target:
ours ≥ 0.7 × raw in closed-loop throughput.
"""

import itertools
import secrets
import time

from bench.challenges import create_challenges, describe
from bench.database import open_store
from bench.graphql import GraphQLRequest, execute
from bench.measure import PhaseReport, load_client, measure
from bench.members import FAST_SIGN_UP_ENV, sign_up_members
from bench.options import BenchOptions
from bench.progress import say
from bench.raw_earn import FULL, WRITES_ONLY, measure_raw
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target, format_mix
from bench.servers import kizuna_server
from bench.shop import DEFAULT_ORDER_TOTAL, check_recorded, open_shop, order_request, points_for
from loyalty.collections import LEDGER

DEFAULT_RATE = 8.0
DEFAULT_MEMBERS = 50
TARGET_RATIO = 0.7


async def run(options: BenchOptions) -> Report:
    report = Report(title="order-earn")
    async with kizuna_server(options, extra_env=FAST_SIGN_UP_ENV) as ours:
        report.setup.append(describe_target(ours))
        say(f"ours at {ours.base_url}: admin (kizuna create-admin), API key, rules, members")
        started = time.monotonic()
        async with load_client(ours, 16) as client:
            shop = await open_shop(ours, client)
            members = await sign_up_members(client, options.members)
            await create_challenges(client, shop.admin_token, options.challenges)
            run_id = secrets.token_hex(4)
            first = await execute(client, order_request(shop, members[0].id, f"{run_id}-check"))
            check_recorded(first["orderRecord"])
        report.setup += [
            f"set-up in {time.monotonic() - started:.1f} s: an administrator from `kizuna "
            "create-admin`, an API key with ORDERS_WRITE (the load's bearer token), 3 active "
            f"rules, {len(members)} members registered through the API",
            "rules: 1 point per €1 (EUR); FIXED 50 for category shoes (≤ 1,000,000 per member "
            "per day); MULTIPLIER 2.0 campaign active now (≤ 1,000,000 per member per month): "
            "every earn reads and writes 2 usage counters",
            f"orders: each a new order id, members round-robin, 2 lines (shoes + socks), "
            f"total €{DEFAULT_ORDER_TOTAL / 100:.2f} → {points_for(DEFAULT_ORDER_TOTAL)} points "
            "on all 3 rules (checked on a first order)",
            describe(options.challenges),
        ]
        orders = itertools.count()

        def next_order() -> GraphQLRequest:  # a new order id on every call
            n = next(orders)
            member = members[n % len(members)]
            return order_request(shop, member.id, f"{run_id}-{n}")

        # The raw ceiling first, each variant on an empty scratch database, then ours on
        # its own nearly empty ledger: the embedded engine's inserts slow down as their
        # collection grows, so every closed loop starts from the same (empty) size.
        raw_runs = []
        for variant in (FULL, WRITES_ONLY):
            say(f"raw ceiling: {variant.name} on the same database server")
            raw_runs.append(await measure_raw(ours, variant, options.load, members=len(members)))
        ledger_sizes: list[int] = []
        async with open_store(ours) as store:

            async def count_ledger() -> None:
                ledger_sizes.append(await store.collection(LEDGER).count_documents({}))

            say("loading ours")
            report.phases += await measure(
                ours, next_order, options.load, around_closed=count_ledger
            )
        report.phases += [run.phase for run in raw_runs]
        sizes = {"ours": (ledger_sizes[0], ledger_sizes[1])}
        sizes |= {run.phase.target: run.ledger_sizes for run in raw_runs}
    report.setup += [
        "raw ceiling (same database server, scratch database, same indexes, one "
        "Store.transaction per earn, same concurrency as ours' closed loop):",
        f"  {FULL.summary}",
        f"  {WRITES_ONLY.summary}",
        "  not in raw: HTTP + GraphQL, API key lookup, member lookup, active rules and "
        "programme reads (ours does those outside the transaction), rule evaluation",
        describe_load(options.load),
    ]
    report.notes += _conclusions(report.phases, sizes)
    return report


def _conclusions(phases: list[PhaseReport], sizes: dict[str, tuple[int, int]]) -> list[str]:
    closed = {p.target: p for p in phases if p.result.closed_loop}
    ours = closed["ours"]
    notes = [
        "closed loop: db commands per op (by name), and ledger entries in the row's database "
        "at its start → end (the embedded engine's inserts slow down as a collection grows: "
        "compare rows of similar sizes; bench/README.md)"
    ]
    for name in ("ours", FULL.name, WRITES_ONLY.name):
        phase = closed[name]
        trips = phase.round_trips_per_op
        total = "-" if trips is None else f"{trips:.2f}"
        start, end = sizes[name]
        notes.append(
            f"  {name:<6} {total:>5}  {format_mix(phase.commands_per_op):<62} {start:>5} → {end}"
        )
    for name in (FULL.name, WRITES_ONLY.name):
        raw = closed[name]
        if raw.result.throughput == 0:
            notes.append(f"ratio ours/{name}: {name} completed nothing")
            continue
        ratio = ours.result.throughput / raw.result.throughput
        if name == FULL.name:
            verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
            target = f" ({verdict} the target of {TARGET_RATIO:.2f})"
        else:
            target = " (for reference)"
        notes.append(
            f"ratio ours/{name}, closed-loop throughput: {ratio:.2f} "
            f"({ours.result.throughput:.1f} / {raw.result.throughput:.1f} per s){target}"
        )
    return notes
