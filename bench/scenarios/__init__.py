"""The scenario table: name → what it measures, how to run it, its default arrival rate.

A scenario is an async function from the parsed options to a Report; the helpers in
bench.servers, bench.measure and bench.members do the rest, so a new one is a few lines.
"""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bench.options import BenchOptions
from bench.report import Report
from bench.scenarios import (
    checkout,
    console,
    graphql_static,
    home,
    imports,
    leaderboard,
    live,
    me,
    order_earn,
    reward_redeem,
    scale,
    soak,
)


@dataclass(frozen=True, slots=True)
class Scenario:
    summary: str
    run: Callable[[BenchOptions], Coroutine[Any, Any, Report]]
    default_rate: float
    default_members: int | None = None
    """For scenarios that register members: how many, unless --members says."""
    default_duration: float = 10.0
    """Seconds of each measured phase, unless --duration says."""
    default_concurrency: int = 16
    """Closed-loop workers, unless --concurrency says."""
    uses_rate: bool = True
    """False for scenarios whose open loop (if any) picks its own rate."""
    default_sizes: tuple[int, ...] | None = None
    """For scenarios that grow a programme: its sizes, unless --sizes says."""


SCENARIOS: dict[str, Scenario] = {
    "graphql-static": Scenario(
        summary="nested introspection query (no I/O): our full stack vs a bare strawberry "
        "app of the same schema",
        run=graphql_static.run,
        default_rate=graphql_static.DEFAULT_RATE,
    ),
    "me": Scenario(
        summary="`me` with points and a history page, of members with 200 history entries "
        "and 20 open lots each (bearer token)",
        run=me.run,
        default_rate=me.DEFAULT_RATE,
        default_members=me.DEFAULT_MEMBERS,
    ),
    "home": Scenario(
        summary="the member app's home screen (`me`: points, tier progress, 10 active "
        "vouchers, 5 offers) on a programme with tiers, segments and 30 rewards",
        run=home.run,
        default_rate=home.DEFAULT_RATE,
        default_members=home.DEFAULT_MEMBERS,
    ),
    "order-earn": Scenario(
        summary="`orderRecord` of distinct orders with an API key, 3 active rules, against "
        "the raw PyMongo ceiling on the same database server",
        run=order_earn.run,
        default_rate=order_earn.DEFAULT_RATE,
        default_members=order_earn.DEFAULT_MEMBERS,
    ),
    "checkout": Scenario(
        summary="`voucherCheck` + `voucherRedeem` of distinct vouchers by 20 staff tokens, "
        "against the raw PyMongo ceiling on the same database server; QR render times",
        run=checkout.run,
        default_rate=checkout.DEFAULT_RATE,
        default_members=checkout.DEFAULT_MEMBERS,
    ),
    "reward-redeem": Scenario(
        summary="`rewardRedeem` of one popular reward by many members (bearer tokens), "
        "against the raw PyMongo ceiling on the same database server",
        run=reward_redeem.run,
        default_rate=reward_redeem.DEFAULT_RATE,
        default_members=reward_redeem.DEFAULT_MEMBERS,
    ),
    "live": Scenario(
        summary="members' `memberEvents` subscriptions (graphql-transport-ws, --subscribers "
        "100,1000) while orders are recorded for them: latency from the orderRecord response "
        "to the POINTS_EARNED message, lost messages, server memory per idle subscription",
        run=live.run,
        default_rate=live.DEFAULT_RATE,
    ),
    "scale": Scenario(
        summary="order-earn, checkout, reward-redeem and home at growing sizes (--sizes) of "
        "a bulk-seeded programme; cost growth from the smallest size to the largest",
        run=scale.run,
        default_rate=scale.DEFAULT_RATE,
        uses_rate=False,
    ),
    "console": Scenario(
        summary="what a programme manager reads at growing sizes (--sizes, default "
        "10k,100k) of a bulk-seeded programme: member search and list pages, the year's "
        "programmeStats, and the exports' rows/s",
        run=console.run,
        default_rate=console.DEFAULT_RATE,
        default_concurrency=console.DEFAULT_CONCURRENCY,
        uses_rate=False,
        default_sizes=console.DEFAULT_SIZES,
    ),
    "import": Scenario(
        summary="`kizuna import members` and `balances` of generated files at growing sizes "
        "(--sizes, default 10k,100k rows): rows/s and the process's peak memory",
        run=imports.run,
        default_rate=imports.DEFAULT_RATE,
        uses_rate=False,
        default_sizes=imports.DEFAULT_SIZES,
    ),
    "leaderboard": Scenario(
        summary="a leaderboard's top 10 and my rank (members' bearer tokens) with --sizes "
        "(default 100k) members' scores on the board, seeded in bulk",
        run=leaderboard.run,
        default_rate=leaderboard.DEFAULT_RATE,
        default_members=leaderboard.DEFAULT_MEMBERS,
        default_sizes=leaderboard.DEFAULT_SIZES,
    ),
    "soak": Scenario(
        summary="ten minutes of a shop's mixed traffic (home, me, orders, refunds, checkouts, "
        "reward redemptions) at 24 in flight on bulk-seeded members; errors by kind, verify",
        run=soak.run,
        default_rate=soak.DEFAULT_RATE,
        default_members=soak.DEFAULT_MEMBERS,
        default_duration=soak.DEFAULT_DURATION,
        default_concurrency=soak.DEFAULT_CONCURRENCY,
        uses_rate=False,
    ),
}
