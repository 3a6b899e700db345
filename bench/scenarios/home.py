"""home: a signed-in member opens the app's home screen — name, points (balance, pending,
expiring soon), tier (current, next, progress, what keeps it), a first page of 10 ACTIVE
vouchers and 5 personal offers — on a programme set up the way a shop runs one.

Set-up through the API: an administrator (`kizuna create-admin`), an ORDERS_WRITE API key
and the three earning rules of bench.shop (a base rule, the "Shoe bonus" category campaign
and the limited-time "Double points week"); the tiers, segments and 30 rewards of
bench.catalogue; then `--members` members (default 20), each with a birthday (every third
born this month), a welcome bonus (`pointsAdjust`) spent on the three cheapest rewards
(`rewardRedeem`), ORDERS_PER_MEMBER orders in their favourite category (one of them 345
days old, so its points expire within a month) and ISSUED vouchers from `voucherIssue`:
exactly 12 ACTIVE vouchers each. Members spend differently, so they end in every tier.
Every member's vouchers and offers are checked through the API before the load.

The load spreads the home query over the members' tokens, round-robin. Target: at most 4
database round trips per home screen. The very first home request of the run is measured
on its own too (its round trips from /metrics), before anything has read the programme
outside the seeding writes.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.apq import apq_notes, measure_apq
from bench.catalogue import CHEAP_REWARDS, REWARDS, SEGMENTS, TIERS, Catalogue, set_up_catalogue
from bench.graphql import BenchError, GraphQLRequest, execute
from bench.load import round_robin
from bench.measure import SETTLE_SECONDS, load_client, measure
from bench.members import FAST_SIGN_UP_ENV, SignedInMember, sign_up_members
from bench.metrics import CommandCounts, read_commands
from bench.options import BenchOptions
from bench.progress import say
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target, format_mix
from bench.screens import HOME_QUERY as QUERY
from bench.screens import OFFERS, VOUCHER_PAGE
from bench.seeding import Seeded, seed_members
from bench.servers import Target, kizuna_server
from bench.shop import ORDER_RECORD, POINTS_ADJUST, Shop, open_shop

DEFAULT_RATE = 20.0
DEFAULT_MEMBERS = 20
TARGET_ROUND_TRIPS = 4
REFERENCE_QUERIES = 4
READ_CACHE_SECONDS = 5
"""The server's default KIZUNA_READ_CACHE_SECONDS (the bench starts it without one)."""
SEED_CONCURRENCY = 8
VOUCHERS_PER_MEMBER = 12
ISSUED = VOUCHERS_PER_MEMBER - len(CHEAP_REWARDS)
ORDERS_PER_MEMBER = 3
OLD_ORDER_AGE = timedelta(days=345)  # points expire 12 months after earning: in ~20 days
WELCOME_BONUS = 500
# Per order, by member number modulo 5 (minor units): Gold, Silver, none, Platinum, Gold.
SPEND_PER_ORDER = (40_000, 12_000, 4_000, 90_000, 25_000)
CATEGORIES = ("shoes", "outerwear", "bags", "accessories")
SERVER_ENV = {**FAST_SIGN_UP_ENV, "KIZUNA_ACCESS_TOKEN_TTL_SECONDS": "86400"}

CHECK_QUERY = (
    "query Check { me { id points { balance } tier { current { name } } "
    f"vouchers(first: {VOUCHERS_PER_MEMBER + 5}, status: ACTIVE) {{ edges {{ node {{ id }} }} }} "
    f"offers(first: {OFFERS}) {{ kind }} }} }}"
)
BIRTHDAY_SET = """mutation Birthday($input: AccountBirthdaySetInput!) {
  accountBirthdaySet(input: $input) { member { id } errors { code message field } } }"""
REDEEM = """mutation Redeem($input: RewardRedeemInput!) { rewardRedeem(input: $input) {
  voucher { id status } pointsSpent replayed errors { code message field } } }"""
VOUCHER_ISSUE = """mutation Issue($input: VoucherIssueInput!) { voucherIssue(input: $input) {
  voucher { id status } replayed errors { code message field } } }"""
# What a shop hands out besides rewards, cycled through: (title, kind, benefit fields).
GIFTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Welcome: €5 off", "AMOUNT_OFF", {"amountOff": 500, "currency": "EUR"}),
    ("Sorry for the wait: free shipping", "FREE_SHIPPING", {}),
    ("Spring sale: 10% off", "PERCENT_OFF", {"percentOff": 10}),
)


def _birthday(index: int, today: date) -> str:
    """Every third member is born this month (the BIRTHDAY_MONTH segment), the others not."""
    offset = 0 if index % 3 == 0 else 1 + index % 11
    month = (today.month - 1 + offset) % 12 + 1
    return date(1970 + index % 35, month, 1 + index % 28).isoformat()


def _order(member: SignedInMember, index: int, k: int, order_id: str) -> dict[str, Any]:
    """An order of the member's spend level, 80 % in their favourite category; the first
    one OLD_ORDER_AGE ago."""
    total = SPEND_PER_ORDER[index % len(SPEND_PER_ORDER)]
    favourite = CATEGORIES[index % len(CATEGORIES)]
    other = CATEGORIES[(index + 1) % len(CATEGORIES)]
    main = total * 4 // 5
    occurred = datetime.now(UTC) - (OLD_ORDER_AGE if k == 0 else timedelta(minutes=k))
    return {
        "member": {"id": member.id},
        "orderId": order_id,
        "channel": "ONLINE" if k % 2 else "STORE",
        "total": total,
        "currency": "EUR",
        "occurredAt": occurred.isoformat(),
        "items": [
            {
                "sku": f"{favourite.upper()}-{k}",
                "category": favourite,
                "quantity": 1,
                "unitPrice": main,
            },
            {
                "sku": f"{other.upper()}-{k}",
                "category": other,
                "quantity": 1,
                "unitPrice": total - main,
            },
        ],
    }


def _seeding(
    shop: Shop, catalogue: Catalogue, member: SignedInMember, index: int, run_id: str
) -> Iterator[GraphQLRequest]:
    """The member's requests, in order; every write carries a key, so a retry replays. The
    redemptions spend the welcome bonus before the orders, so that the old order's lot is
    still whole: points expiring soon."""
    key = f"{run_id}-{index}"
    yield GraphQLRequest.of(
        BIRTHDAY_SET,
        {"input": {"birthday": _birthday(index, datetime.now(UTC).date())}},
        token=member.access_token,
    )
    yield GraphQLRequest.of(
        POINTS_ADJUST,
        {
            "input": {
                "member": {"id": member.id},
                "points": WELCOME_BONUS,
                "reason": "Welcome bonus",
                "idempotencyKey": f"{key}-welcome",
            }
        },
        token=shop.admin_token,
    )
    for k, reward_id in enumerate(catalogue.cheap_reward_ids()):
        yield GraphQLRequest.of(
            REDEEM,
            {"input": {"rewardId": reward_id, "idempotencyKey": f"{key}-redeem-{k}"}},
            token=member.access_token,
        )
    for k in range(ORDERS_PER_MEMBER):
        yield GraphQLRequest.of(
            ORDER_RECORD,
            {"input": _order(member, index, k, f"{key}-order-{k}")},
            token=shop.api_key,
        )
    for k in range(ISSUED):
        title, kind, benefit = GIFTS[k % len(GIFTS)]
        yield GraphQLRequest.of(
            VOUCHER_ISSUE,
            {
                "input": {
                    "member": {"id": member.id},
                    "kind": kind,
                    "title": title,
                    **benefit,
                    "validDays": 30 + 15 * k,
                    "idempotencyKey": f"{key}-gift-{k}",
                }
            },
            token=shop.admin_token,
        )


async def _seed(
    target: Target, shop: Shop, catalogue: Catalogue, members: list[SignedInMember]
) -> Seeded:
    """Seed every member, SEED_CONCURRENCY at a time (every request is keyed: a retry
    replays)."""
    run_id = shop.admin_email.split("@")[0]
    return await seed_members(
        target, members,
        lambda index, member: _seeding(shop, catalogue, member, index, run_id),
        concurrency=SEED_CONCURRENCY,
    )


async def _first_request(
    target: Target, member: SignedInMember, options: BenchOptions
) -> tuple[dict[str, Any], CommandCounts | None, CommandCounts | None]:
    """The run's very first home request, with the command counts read around it."""
    token = options.load.metrics_token
    async with load_client(target, 1) as client:
        before = await read_commands(client, token) if target.has_metrics else None
        data = await execute(client, GraphQLRequest.of(QUERY, token=member.access_token))
        after = await read_commands(client, token) if target.has_metrics else None
    return data, before, after


def _check_home(data: dict[str, Any], member: SignedInMember) -> None:
    """A full home screen: a tier, a full page of ACTIVE vouchers and OFFERS offers."""
    me = data["me"]
    if me is None:
        raise BenchError(f"`me` is null for {member.email}")
    vouchers = [edge["node"] for edge in me["vouchers"]["edges"]]
    problems = []
    if len(vouchers) != VOUCHER_PAGE or any(v["status"] != "ACTIVE" for v in vouchers):
        problems.append(f"{len(vouchers)} vouchers (want {VOUCHER_PAGE} ACTIVE)")
    if len(me["offers"]) != OFFERS:
        problems.append(f"{len(me['offers'])} offers (want {OFFERS})")
    if me["tier"]["current"] is None:
        problems.append("no tier")
    if problems:
        raise BenchError(
            f"the home screen of {member.email} is not as seeded: {', '.join(problems)}: {me}"
        )


def _describe_home(data: dict[str, Any]) -> str:
    """What the first member's home screen showed, in one line."""
    me = data["me"]
    points, tier = me["points"], me["tier"]
    progress = tier["progress"] or {}
    expiring = sum(lot["points"] for lot in points["expiringSoon"])
    offers = Counter(offer["kind"] for offer in me["offers"])
    return (
        f"first member's home: balance {points['balance']} ({expiring} expiring soon), tier "
        f"{tier['current']['name']}, next {(tier['next'] or {}).get('name', '-')} "
        f"({progress.get('qualifying', '-')}/{progress.get('required', '-')}), "
        f"{len(me['vouchers']['edges'])} vouchers, offers "
        + ", ".join(f"{count} {kind}" for kind, count in sorted(offers.items()))
    )


async def _verify(target: Target, members: list[SignedInMember]) -> str:
    """Every member has exactly VOUCHERS_PER_MEMBER ACTIVE vouchers and OFFERS offers; a
    line with the tiers and balances they ended with."""
    async with load_client(target, 1) as client:
        answers = [
            (await execute(client, GraphQLRequest.of(CHECK_QUERY, token=m.access_token)))["me"]
            for m in members
        ]
    wrong = [
        f"{m.email}: {len(me['vouchers']['edges'])} ACTIVE vouchers, {len(me['offers'])} offers"
        for m, me in zip(members, answers, strict=True)
        if me["id"] != m.id
        or len(me["vouchers"]["edges"]) != VOUCHERS_PER_MEMBER
        or len(me["offers"]) != OFFERS
    ]
    if wrong:
        raise BenchError(
            f"seeding should give every member {VOUCHERS_PER_MEMBER} ACTIVE "
            f"vouchers and {OFFERS} offers: {'; '.join(wrong[:3])}"
        )
    tiers = Counter((me["tier"]["current"] or {"name": "none"})["name"] for me in answers)
    balances = sorted(me["points"]["balance"] for me in answers)
    ladder = ["none", *(name for name, _, _, _ in TIERS)]
    spread = ", ".join(f"{tiers[name]} {name}" for name in ladder if tiers[name])
    return (
        f"verified through the API: every member has {VOUCHERS_PER_MEMBER} ACTIVE "
        f"vouchers and {OFFERS} offers; tiers: {spread}; balances {balances[0]}–"
        f"{balances[-1]} points (median {balances[len(balances) // 2]})"
    )


def _trips(before: CommandCounts | None, after: CommandCounts | None) -> str:
    if before is None or after is None:
        return "- (no /metrics)"
    total = after.total - before.total
    return f"{total:.0f} round trips ({format_mix(after.per_op_since(before, 1))})"


async def _set_up(target: Target, options: BenchOptions, report: Report) -> list[SignedInMember]:
    """The programme, the members and their seeding; set-up lines go to `report`."""
    say(f"ours at {target.base_url}: admin, API key, rules, tiers, segments, rewards")
    started = time.monotonic()
    async with load_client(target, 16) as client:
        shop = await open_shop(target, client)
        catalogue = await set_up_catalogue(client, shop.admin_token)
        report.setup.append(
            f"programme in {time.monotonic() - started:.1f} s: the 3 rules of bench.shop "
            f"(base, `Shoe bonus` category campaign, `Double points week` until a week from "
            f"now), tiers {', '.join(f'{n} {t}' for n, t, _, _ in TIERS)}, segments "
            f"{', '.join(s for s, _, _ in SEGMENTS)}, {len(catalogue.reward_ids)} rewards "
            f"({REWARDS[0][1]}–{REWARDS[-1][1]} points; tier prices, minimum tiers, "
            "segments, stock)"
        )
        say(f"registering {options.members} members")
        started = time.monotonic()
        members = await sign_up_members(client, options.members)
    say(f"seeding {len(members)} members")
    seeded_members = await _seed(target, shop, catalogue, members)
    sent, retried = seeded_members.sent, seeded_members.retried
    seeded = time.monotonic() - started
    report.setup.append(
        f"members: {len(members)} registered and signed in, then each: a birthday, a "
        f"{WELCOME_BONUS}-point welcome bonus (pointsAdjust), {len(CHEAP_REWARDS)} "
        f"rewardRedeem, {ORDERS_PER_MEMBER} orders (orderRecord, API key; one "
        f"{OLD_ORDER_AGE.days} days old) and {ISSUED} voucherIssue: {sent} requests, "
        f"{seeded:.1f} s with sign-up ({SEED_CONCURRENCY} members at a time)"
    )
    if retried:
        report.setup.append(
            f"warning: {len(retried)} seeding request(s) failed on the "
            f"server and were sent again; first: {retried[0]}"
        )
    return members


async def run(options: BenchOptions) -> Report:
    report = Report(title="home", setup=[f"query: {QUERY}"])
    async with kizuna_server(options, extra_env=SERVER_ENV) as ours:
        report.setup.append(describe_target(ours))
        members = await _set_up(ours, options, report)
        await asyncio.sleep(SETTLE_SECONDS)
        data, before, after = await _first_request(ours, members[0], options)
        _check_home(data, members[0])
        report.setup.append(_describe_home(data))
        report.setup.append(await _verify(ours, members))
        say("loading")
        workload = round_robin([GraphQLRequest.of(QUERY, token=m.access_token) for m in members])
        report.phases += await measure(ours, workload, options.load)
        if options.apq:
            report.phases += await measure_apq(
                ours, QUERY, [m.access_token for m in members], options)
    report.setup.append(describe_load(options.load))
    report.notes += _conclusions(report, _trips(before, after))
    report.notes += apq_notes(report.phases, ours.name)
    return report


def _conclusions(report: Report, first: str) -> list[str]:
    closed = next(p for p in report.phases if p.result.closed_loop)
    opened = next(p for p in report.phases if not p.result.closed_loop)
    trips = closed.round_trips_per_op
    lines = [
        f"db rt/op is database commands per home screen (target ≤ {TARGET_ROUND_TRIPS}); "
        f"closed loop: {'-' if trips is None else f'{trips:.2f}'}",
        f"  by command, closed loop: {format_mix(closed.commands_per_op)}",
        f"  by command, open loop:   {format_mix(opened.commands_per_op)}",
    ]
    if trips is not None and closed.result.operations:
        # The server's read cache reloads the reference data (programme, rules, rewards,
        # segments: one find each) once per KIZUNA_READ_CACHE_SECONDS whatever the load:
        # a cost per instance and second, not per screen.
        reloads = REFERENCE_QUERIES * closed.result.elapsed / READ_CACHE_SECONDS
        per_screen = trips - reloads / closed.result.operations
        verdict = "meets" if per_screen <= TARGET_ROUND_TRIPS + 0.005 else "misses"
        lines.append(
            f"  of which the reference data's reload ({REFERENCE_QUERIES} finds every "
            f"{READ_CACHE_SECONDS} s): about {trips - per_screen:.2f}; per screen about "
            f"{per_screen:.2f} ({verdict} the target)"
        )
    lines.append(f"first request (cold caches): {first}")
    return lines
