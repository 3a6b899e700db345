"""reward-redeem: many members redeem one popular reward (`rewardRedeem`, each tap a new
idempotency key) with their own bearer tokens, against the raw ceiling of the same database
work on the same database server.

Set-up through the API as an operator would: an administrator (`kizuna create-admin`),
`--members` members (registered and signed in), each given POINTS points with
`pointsAdjust` (one lot each), and one reward (`rewardCreate`: €5 off, COST points, a stock
of STOCK that the run never exhausts). A first redemption is checked end to end.

The raw ceiling (RawRedeemer) is a small asyncio PyMongo client made by our own
`store.connect`, running per redemption one transaction through our `Store.transaction`, in
a scratch database with the same indexes and the same starting sizes (members, their lot
and ledger entry, one reward): take one unit of stock (the conditional find_one_and_update
of `loyalty.rewards.catalogue.take_one`), find the member's open lots, debit one (bulk
write), insert the REDEEM entry, update the member's totals, insert the voucher and the two
outbox events (points spent, voucher issued), commit. Left out,
so it is the ceiling: HTTP and GraphQL, the bearer token, the member's account (the voucher's
holder name), reading the member's totals (tier, vouchers held), eligibility, the second
read of the lots (posting.debit reads them again), building the answer.
Target: ours ≥ 0.7 × raw in closed-loop throughput.
"""

import asyncio
import itertools
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.services import ALL_INDEXES
from bench.database import database_name, open_store
from bench.graphql import BenchError, GraphQLRequest, execute
from bench.load import closed_loop_of
from bench.measure import SETTLE_SECONDS, PhaseReport, load_client, measure
from bench.members import FAST_SIGN_UP_ENV, SignedInMember, sign_up_members
from bench.options import BenchOptions
from bench.progress import say
from bench.raw_checkout import raw_phase
from bench.report import Report
from bench.reward_requests import AMOUNT_OFF, COST, STOCK, create_reward, redeem_request
from bench.scenarios.common import describe_load, describe_target, format_mix
from bench.servers import Target, kizuna_server
from bench.shop import SIGN_IN, create_admin_with_cli
from events import OUTBOX
from loyalty.collections import LEDGER, LOTS, MEMBERS, REWARDS
from scanner import codes
from scanner.collections import VOUCHERS
from store import Session, Store, UpdateOne, ensure_indexes, new_id

DEFAULT_RATE = 8.0
DEFAULT_MEMBERS = 100
POINTS = 5_000_000
TARGET_RATIO = 0.7
SETUP_CONCURRENCY = 8
RAW_SUFFIX = "_bench_raw"
TOUCHED = {LEDGER, LOTS, MEMBERS, REWARDS, VOUCHERS}
SERVER_ENV = {**FAST_SIGN_UP_ENV, "KIZUNA_ACCESS_TOKEN_TTL_SECONDS": "86400"}



async def run(options: BenchOptions) -> Report:
    report = Report(title="reward-redeem")
    async with kizuna_server(options, extra_env=SERVER_ENV) as ours:
        report.setup.append(describe_target(ours))
        say(f"ours at {ours.base_url}: admin (kizuna create-admin), members, points, a reward")
        started = time.monotonic()
        async with load_client(ours, 16) as client:
            admin = await _admin(ours, client)
            members = await sign_up_members(client, options.members)
            await _give_points(client, admin, members)
            reward_id = await create_reward(client, admin)
            run_id = secrets.token_hex(4)
            first = redeem_request(members[0], reward_id, f"{run_id}-0")
            _check_first(await execute(client, first))
        report.setup += [
            f"set-up in {time.monotonic() - started:.1f} s: an administrator from `kizuna "
            f"create-admin`, {len(members)} members registered and signed in, each given "
            f"{POINTS} points (`pointsAdjust`: one lot), one reward (€5 off, {COST} points, "
            f"stock {STOCK}); a first redemption checked (ACTIVE voucher, {COST} points spent)",
            "load: `rewardRedeem` of that reward, members round-robin with their own bearer "
            "tokens, every tap a new idempotency key",
        ]
        taps = itertools.count(1)

        def next_tap() -> GraphQLRequest:
            n = next(taps)
            return redeem_request(members[n % len(members)], reward_id, f"{run_id}-{n}")

        say("raw ceiling on the same database server")
        raw, raw_sizes = await _measure_raw(ours, options, members=len(members))
        sizes: list[int] = []
        async with open_store(ours) as store:

            async def count() -> None:
                sizes.append(await store.collection(LEDGER).count_documents({}))

            say("loading ours")
            report.phases += await measure(ours, next_tap, options.load, around_closed=count)
        report.phases.append(raw)
    report.setup += [
        "raw ceiling (same database server, scratch database with the same indexes and "
        "starting sizes, one Store.transaction per redemption, same concurrency as ours' "
        "closed loop): find_one_and_update reward (stock), find lots, bulk-write lot, insert "
        "entry, update member, insert voucher, insert 2 events, commit",
        "  not in raw: HTTP + GraphQL, bearer token, the member's account (holder name), "
        "the member's totals (tier, vouchers held), eligibility, posting.debit's own read of "
        "the lots",
        describe_load(options.load),
    ]
    report.notes += _conclusions(report.phases, {"ours": (sizes[0], sizes[1]), "raw": raw_sizes})
    return report


async def _admin(target: Target, client: httpx.AsyncClient) -> str:
    email = f"bench-admin-{secrets.token_hex(4)}@example.com"
    password = f"Bench-{secrets.token_urlsafe(16)}"
    await create_admin_with_cli(target, email, "Bench Admin", password)
    answer = (await execute(client, GraphQLRequest.of(
        SIGN_IN, {"input": {"email": email, "password": password}})))["tokenCreate"]
    if not answer["accessToken"]:
        raise BenchError(f"the administrator could not sign in: {answer['errors']}")
    token: str = answer["accessToken"]
    return token


async def _give_points(
    client: httpx.AsyncClient, admin: str, members: list[SignedInMember]
) -> None:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(member: SignedInMember) -> None:
        async with gate:
            await execute(client, _adjust(admin, member.id))

    async with asyncio.TaskGroup() as group:
        for member in members:
            group.create_task(one(member))


def _adjust(admin: str, member_id: str) -> GraphQLRequest:
    return GraphQLRequest.of(
        "mutation Adjust($input: PointsAdjustInput!) { pointsAdjust(input: $input) "
        "{ entry { points } errors { code message field } } }",
        {"input": {"member": {"id": member_id}, "points": POINTS, "reason": "Bench points"}},
        token=admin,
    )


def _check_first(data: dict[str, Any]) -> None:
    payload = data["rewardRedeem"]
    voucher = payload["voucher"] or {}
    if (payload["replayed"] or payload["pointsSpent"] != COST or voucher.get("status") != "ACTIVE"
            or payload["balance"] != POINTS - COST):
        raise BenchError(f"rewardRedeem should spend {COST} points for a new voucher: {payload}")


# --- the raw ceiling ------------------------------------------------------------------


class RawRedeemer:
    """Redeems on a scratch database: `redeem()` is one redemption's minimal work."""

    def __init__(self, store: Store, members: int) -> None:
        self._store = store
        self._members = [new_id() for _ in range(members)]
        self._reward = new_id()
        self._turn = itertools.count()

    async def seed(self) -> None:
        """What ours has before its load: each member's totals, lot and adjustment entry,
        and the reward."""
        now = datetime.now(UTC)
        lots, entries = [], []
        for member_id in self._members:
            lot_id, entry_id = new_id(), new_id()
            lots.append({"_id": lot_id, "member_id": member_id, "entry_id": entry_id,
                         "earned": POINTS, "remaining": POINTS, "earned_at": now,
                         "available_at": now, "expires_at": now + timedelta(days=365),
                         "order_id": None, "expired_at": None})
            entries.append(_entry(entry_id, member_id, "ADJUST", POINTS, lot_id, now))
        await self._store.collection(LOTS).insert_many(lots)
        await self._store.collection(LEDGER).insert_many(entries)
        await self._store.collection(MEMBERS).insert_many(
            [{"_id": m, "points": POINTS, "debt": 0} for m in self._members])
        await self._store.collection(REWARDS).insert_one({
            "_id": self._reward, "title": "€5 off", "kind": "AMOUNT_OFF", "cost": COST,
            "stock": STOCK, "redeemed": 0, "issued": 0, "active": True,
        })

    async def redeem(self) -> str | None:
        member_id = self._members[next(self._turn) % len(self._members)]
        try:
            await self._store.transaction(lambda session: self._work(session, member_id))
        except Exception as error:  # counted as an error of the phase, like a failed request
            return f"{type(error).__name__}: {error}"[:200]
        return None

    async def _work(self, session: Session, member_id: str) -> None:
        store, now = self._store, datetime.now(UTC)
        reward = await store.collection(REWARDS).find_one_and_update(
            {"_id": self._reward, "active": True,
             "$or": [{"stock": None}, {"$expr": {"$lt": ["$redeemed", "$stock"]}}]},
            {"$inc": {"redeemed": 1, "issued": 1}}, session=session,
        )
        if reward is None:
            raise RuntimeError("out of stock")
        lots = await store.collection(LOTS).find(
            {"member_id": member_id, "remaining": {"$gt": 0}, "expired_at": None},
            {"remaining": 1, "expires_at": 1}, session=session,
        ).to_list(None)
        lot = min(lots, key=lambda found: found["expires_at"])
        await store.collection(LOTS).bulk_write(
            [UpdateOne({"_id": lot["_id"], "remaining": {"$gte": COST}},
                       {"$inc": {"remaining": -COST}})], ordered=True, session=session)
        entry_id = new_id()
        await store.collection(LEDGER).insert_one(
            _entry(entry_id, member_id, "REDEEM", -COST, lot["_id"], now), session=session)
        await store.collection(MEMBERS).update_one(
            {"_id": member_id},
            {"$inc": {"points": -COST, f"reward_counts.{self._reward}": 1}}, session=session)
        voucher = _voucher(member_id, entry_id, now)
        await store.collection(VOUCHERS).insert_one(voucher, session=session)
        await store.collection(OUTBOX).insert_many(
            [_event("points.spent", member_id, entry_id, now),
             _event("voucher.issued", member_id, voucher["_id"], now)], session=session)


def _event(kind: str, member_id: str, subject_id: str, now: datetime) -> dict[str, Any]:
    """The smallest outbox event of a change (the product's carry a fuller body)."""
    return {"_id": new_id(), "type": kind, "version": 1, "occurred_at": now,
            "member_id": member_id, "store_id": None,
            "subject": {"kind": "raw", "id": subject_id}, "data": {}}


def _entry(entry_id: str, member_id: str, kind: str, points: int, lot_id: str,
           now: datetime) -> dict[str, Any]:
    return {
        "_id": entry_id, "key": f"raw:{entry_id}", "member_id": member_id, "kind": kind,
        "points": points, "reason": "Reward: €5 off", "source": {"type": "REWARD", "id": "r"},
        "actor": {"type": "MEMBER", "id": member_id}, "occurred_at": now, "recorded_at": now,
        "breakdown": [], "lots": [{"lot_id": lot_id, "points": abs(points)}],
        "payload_hash": "0" * 64, "debt_settled": 0, "debt_incurred": 0,
        "details": {"reward_id": "r", "title": "€5 off"},
    }


def _voucher(member_id: str, entry_id: str, now: datetime) -> dict[str, Any]:
    return {
        "_id": new_id(), "code": codes.new_code(), "member_id": member_id,
        "holder_first_name": "Bench",
        "benefit": {"kind": "AMOUNT_OFF", "title": "€5 off", "amount_off": AMOUNT_OFF,
                    "percent_off": None, "currency": "EUR", "product_sku": None},
        "store_ids": None, "channels": ["ONLINE", "STORE"], "min_order_total": None,
        "issued_at": now, "expires_at": now + timedelta(days=30), "status": "ACTIVE",
        "redemption": None, "voided_redemptions": [], "cancelled_at": None,
        "source": {"kind": "REWARD", "reference": entry_id},
        "payload_hash": "0" * 64, "issue_key": f"reward:{member_id}:{entry_id}",
    }


async def _measure_raw(
    target: Target, options: BenchOptions, *, members: int
) -> tuple[PhaseReport, tuple[int, int]]:
    """Warm up, then a closed loop of RawRedeemer on a fresh scratch database; one row and
    the ledger's size at the closed loop's start and end."""
    scratch = database_name(target) + RAW_SUFFIX
    load = options.load
    async with open_store(target, scratch) as store:
        await store.client.drop_database(scratch)
        await ensure_indexes(store, [i for i in ALL_INDEXES if i.collection in TOUCHED])
        try:
            redeemer = RawRedeemer(store, members)
            await redeemer.seed()
            if load.warmup > 0:
                await closed_loop_of(redeemer.redeem, concurrency=load.concurrency,
                                     duration=load.warmup)
                await asyncio.sleep(SETTLE_SECONDS)
            before = await store.collection(LEDGER).count_documents({})
            phase = await raw_phase(target, store, lambda: closed_loop_of(
                redeemer.redeem, concurrency=load.concurrency, duration=load.duration))
            after = await store.collection(LEDGER).count_documents({})
            return phase, (before, after)
        finally:
            await store.client.drop_database(scratch)


def _conclusions(phases: list[PhaseReport], sizes: dict[str, tuple[int, int]]) -> list[str]:
    closed = {p.target: p for p in phases if p.result.closed_loop}
    notes = ["closed loop: db commands per redemption (by name), and ledger entries in the "
             "row's database at its start → end (the embedded engine's inserts slow down as "
             "a collection grows; bench/README.md)"]
    for name in ("ours", "raw"):
        phase = closed[name]
        trips = "-" if phase.round_trips_per_op is None else f"{phase.round_trips_per_op:.2f}"
        start, end = sizes[name]
        notes.append(f"  {name:<5} {trips:>5}  {format_mix(phase.commands_per_op):<70} "
                     f"{start:>5} → {end}")
    ours, raw = closed["ours"].result.throughput, closed["raw"].result.throughput
    if raw > 0:
        verdict = "meets" if ours / raw >= TARGET_RATIO else "BELOW"
        notes.append(f"ratio ours/raw, closed-loop throughput: {ours / raw:.2f} ({ours:.1f} / "
                     f"{raw:.1f} redemptions per s) ({verdict} the target of "
                     f"{TARGET_RATIO:.2f})")
    else:
        notes.append("ratio ours/raw: raw completed nothing")
    return notes
