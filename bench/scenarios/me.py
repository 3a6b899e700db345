"""me: a signed-in member opens their points screen — profile, points summary (balance,
pending, lifetime, expiring soon) and the first page of their history — with a long
history behind it.

Set-up through the API: an administrator (`kizuna create-admin`), an ORDERS_WRITE API key,
the three earning rules of bench.shop, and a pool of members registered and signed in.
Each member then gets `--history` ledger entries (default 200) ending with exactly
`--open-lots` open lots (default 20): `--open-lots` orders through `orderRecord`, each
creating one lot, interleaved with `pointsAdjust` of −1 point by the administrator. A
negative adjustment consumes the soonest-expiring lot, always the member's first one,
which the first order makes large enough never to empty: so no lot closes. Both counts are
checked afterwards, the history through the API and the open lots in the database.

The load spreads the query over the members' tokens, round-robin. Target: at most 4
database round trips per `me`, whatever the history length.
"""

import time
from collections.abc import Iterator

import httpx
from strawberry import relay

from bench.database import open_store
from bench.graphql import BenchError, GraphQLRequest, execute
from bench.load import round_robin
from bench.measure import load_client, measure
from bench.members import FAST_SIGN_UP_ENV, SignedInMember, sign_up_members
from bench.options import BenchOptions
from bench.progress import say
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target, format_mix
from bench.screens import ME_PAGE as PAGE
from bench.screens import ME_QUERY as QUERY
from bench.seeding import seed_members
from bench.servers import Target, kizuna_server
from bench.shop import DEFAULT_ORDER_TOTAL, Shop, adjust_request, open_shop, order_request
from loyalty.collections import LOTS

DEFAULT_RATE = 20.0
DEFAULT_MEMBERS = 3
TARGET_ROUND_TRIPS = 4
SEED_CONCURRENCY = 16
HISTORY_PAGE = """query History($after: String) { me { history(first: 100, after: $after) {
  edges { node { kind } } pageInfo { hasNextPage endCursor } } } }"""
CHECK_QUERY = (
    f"{{ me {{ id history(first: {PAGE}) {{ edges {{ node {{ kind }} }} "
    "pageInfo { hasNextPage } } } }"
)
ADJUST_REASON = "Bench history filler"


def _seeding(
    shop: Shop, member: SignedInMember, *, history: int, lots: int, run_id: str
) -> Iterator[GraphQLRequest]:
    """The member's requests in order: `lots` orders, the −1 adjustments spread after them."""
    adjustments = history - lots
    # Every adjustment takes its point from the first lot: it must keep at least one.
    first_total = max(DEFAULT_ORDER_TOTAL, 100 * (adjustments + 1))
    for k in range(lots):
        total = first_total if k == 0 else DEFAULT_ORDER_TOTAL
        yield order_request(shop, member.id, f"{run_id}-{member.email}-{k}", total=total)
        for _ in range(adjustments // lots + (1 if k < adjustments % lots else 0)):
            yield adjust_request(shop, member.id, -1, ADJUST_REASON)


async def _seed(
    target: Target, shop: Shop, members: list[SignedInMember], options: BenchOptions
) -> list[str]:
    """Give every member their history, members in parallel, each member's in order (every
    seeding write is a transaction that either committed or wrote nothing, an order id
    replays, and the final counts are verified anyway). Returns the failures that were
    retried, to be reported."""
    run_id = shop.admin_email.split("@")[0]
    seeded = await seed_members(
        target, members,
        lambda _, member: _seeding(shop, member, history=options.history,
                                   lots=options.open_lots, run_id=run_id),
        concurrency=SEED_CONCURRENCY,
    )
    return seeded.retried


async def _history_length(client: httpx.AsyncClient, member: SignedInMember) -> int:
    """The member's ledger entries, counted through the API, 100 a page."""
    count, after = 0, None
    while True:
        request = GraphQLRequest.of(HISTORY_PAGE, {"after": after}, token=member.access_token)
        history = (await execute(client, request))["me"]["history"]
        count += len(history["edges"])
        if not history["pageInfo"]["hasNextPage"]:
            return count
        after = history["pageInfo"]["endCursor"]


async def _verify_seed(target: Target, members: list[SignedInMember], options: BenchOptions) -> str:
    """Each member has exactly the history and open lots asked for; a line saying so."""
    async with load_client(target, 1) as client:
        lengths = [await _history_length(client, member) for member in members]
    async with open_store(target) as store:
        lots = [
            await store.collection(LOTS).count_documents(
                {
                    "member_id": relay.GlobalID.from_id(member.id).node_id,
                    "remaining": {"$gt": 0},
                    "expired_at": None,
                }
            )
            for member in members
        ]
    wrong = [
        f"{m.email}: {n} entries, {lot} open lots"
        for m, n, lot in zip(members, lengths, lots, strict=True)
        if n != options.history or lot != options.open_lots
    ]
    if wrong:
        raise BenchError(
            f"seeding should give {options.history} entries and {options.open_lots} open "
            f"lots per member: {'; '.join(wrong[:3])}"
        )
    return (
        f"verified: every member has {options.history} history entries (paged through "
        f"`me {{ history(first: 100) }}`) and {options.open_lots} open lots (counted in "
        "the database)"
    )


async def _check(target: Target, members: list[SignedInMember], options: BenchOptions) -> None:
    """Each token answers with its own member and a full first page, so the load measures
    the real path."""
    async with load_client(target, 1) as client:
        for member in members[:3]:
            await execute(client, GraphQLRequest.of(QUERY, token=member.access_token))
            check = GraphQLRequest.of(CHECK_QUERY, token=member.access_token)
            me = (await execute(client, check))["me"]
            if me is None or me["id"] != member.id:
                raise BenchError(f"`me` did not return {member.email}: {me}")
            history = me["history"]
            full_page = len(history["edges"]) == min(PAGE, options.history)
            more = history["pageInfo"]["hasNextPage"] == (options.history > PAGE)
            if not (full_page and more):
                raise BenchError(f"`me` history of {member.email} is not as seeded: {history}")


async def run(options: BenchOptions) -> Report:
    report = Report(title="me", setup=[f"query: {QUERY}"])
    async with kizuna_server(options, extra_env=FAST_SIGN_UP_ENV) as ours:
        report.setup.append(describe_target(ours))
        say(f"ours at {ours.base_url}: registering {options.members} members")
        started = time.monotonic()
        async with load_client(ours, 16) as client:
            members = await sign_up_members(client, options.members)
            shop = await open_shop(ours, client) if options.history else None
        report.setup.append(
            f"members: {len(members)} registered and signed in through the API in "
            f"{time.monotonic() - started:.1f} s; requests spread over their tokens"
        )
        if shop is not None:
            say(
                f"seeding {options.history} entries and {options.open_lots} open lots for "
                f"each of {len(members)} members"
            )
            started = time.monotonic()
            retried = await _seed(ours, shop, members, options)
            seeded = time.monotonic() - started
            requests = options.history * len(members)
            report.setup.append(
                f"history: per member {options.open_lots} orders (orderRecord, API key; one "
                f"lot each) and {options.history - options.open_lots} pointsAdjust of −1 "
                f"(admin), interleaved: {requests} requests in {seeded:.1f} s "
                f"({requests / seeded:.0f}/s, up to {SEED_CONCURRENCY} members at a time)"
            )
            if retried:
                report.setup.append(
                    f"warning: {len(retried)} seeding request(s) failed on the server and were "
                    f"sent again; first: {retried[0]}"
                )
            report.setup.append(await _verify_seed(ours, members, options))
        await _check(ours, members, options)
        say("loading")
        workload = round_robin([GraphQLRequest.of(QUERY, token=m.access_token) for m in members])
        report.phases += await measure(ours, workload, options.load)
    report.setup.append(describe_load(options.load))
    closed = next(p for p in report.phases if p.result.closed_loop)
    trips = closed.round_trips_per_op
    verdict = "-" if trips is None else ("meets" if trips <= TARGET_ROUND_TRIPS else "ABOVE")
    report.notes += [
        f"db rt/op is database commands per `me` (target ≤ {TARGET_ROUND_TRIPS} whatever the "
        "history length: account, member totals, open lots, one history page); "
        f"closed loop: {'-' if trips is None else f'{trips:.2f}'} ({verdict} the target)",
        f"  by command, closed loop: {format_mix(closed.commands_per_op)}",
    ]
    return report
