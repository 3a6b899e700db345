"""The raw ceiling of `order-earn`: the minimal PyMongo work one earn needs, nothing else.

A small asyncio PyMongo client (store.client `connect`: our client options and command
counter) runs, per earn, one transaction through the same `Store.transaction` helper as
loyalty.earning.orders `record_order`, against the same database server as the Kizuna server under
test, in a scratch database (created with the same indexes, dropped afterwards):

- `raw` (the full minimal work): read the member's totals document; read the earn's rule
  usage counters (one find `$in`); insert the lot; insert the ledger entry; update the
  member's totals (upsert `$inc`); bulk-write the usage counter upserts; insert the order
  document; insert the two outbox events (points earned, order recorded) in one command;
  commit. Documents have the shape and size of ours (three-rule breakdown).
- `raw-w` (writes only): insert the lot, insert the entry, update the member, insert the
  order, insert the events, commit.

Left out on purpose, so it is the ceiling: HTTP and GraphQL, the API key lookup, resolving
the member reference (accounts), loading the active rules and the programme (ours does
those outside the transaction), rule evaluation.
"""

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bench.cpu import CpuSample, CpuUse
from bench.database import database_name, open_store
from bench.load import closed_loop_of
from bench.measure import SETTLE_SECONDS, PhaseReport
from bench.options import LoadOptions
from bench.servers import Target
from bench.shop import USAGE_COUNTERS_PER_EARN, points_for
from events import OUTBOX
from loyalty.collections import LEDGER, LOTS, MEMBERS, ORDERS, RULE_USAGE
from loyalty.earning.orders import INDEXES as ORDER_INDEXES
from loyalty.earning.rules.usage import COUNTER_RETENTION, day_id, month_id
from loyalty.ledger.indexes import INDEXES as LEDGER_INDEXES
from store import Session, Store, UpdateOne, ensure_indexes, new_id

RAW_SUFFIX = "_bench_raw"
ORDER_TOTAL = 10_290


@dataclass(frozen=True, slots=True)
class RawVariant:
    name: str
    """The row's target name in the report."""
    full: bool
    """True: the full minimal work (reads and usage counters); False: writes only."""
    summary: str


FULL = RawVariant(
    "raw",
    True,
    "raw: find member totals, find usage counters ($in), insert lot, insert entry, update "
    "member (upsert $inc), bulk-write usage upserts, insert order, insert 2 events, commit",
)
WRITES_ONLY = RawVariant(
    "raw-w", False,
    "raw-w: insert lot, insert entry, update member, insert order, insert 2 events, commit"
)


class RawEarner:
    """Earns on a scratch database: `earn()` is one earn's minimal work in a transaction."""

    def __init__(self, store: Store, variant: RawVariant, members: int) -> None:
        self._store = store
        self._variant = variant
        self._members = [new_id() for _ in range(members)]
        self._rules = [new_id() for _ in range(3)]
        self._turn = itertools.count()

    async def earn(self) -> str | None:
        member_id = self._members[next(self._turn) % len(self._members)]
        try:
            await self._store.transaction(lambda session: self._work(session, member_id))
        except Exception as error:  # counted as an error of the phase, like a failed request
            return f"{type(error).__name__}: {error}"[:200]
        return None

    async def _work(self, session: Session, member_id: str) -> None:
        store, full = self._store, self._variant.full
        now = datetime.now(UTC)
        today = now.date()
        base = ORDER_TOTAL // 100
        points = points_for(ORDER_TOTAL)
        order_id = f"raw-{new_id()}"
        counters = self._counters(member_id, today)
        if full:
            await store.collection(MEMBERS).find_one({"_id": member_id}, session=session)
            cursor = store.collection(RULE_USAGE).find(
                {"_id": {"$in": [counter_id for counter_id, _, _ in counters]}},
                {"points": 1},
                session=session,
            )
            async for _ in cursor:
                pass
        entry_id, lot_id = new_id(), new_id()
        await store.collection(LOTS).insert_one(
            _lot(lot_id, member_id, entry_id, points, order_id, now), session=session
        )
        await store.collection(LEDGER).insert_one(
            _entry(entry_id, lot_id, member_id, points, base, order_id, self._rules, now),
            session=session,
        )
        await store.collection(MEMBERS).update_one(
            {"_id": member_id},
            {
                "$inc": {"points": points, "lifetime_earned": points, "orders_count": 1},
                "$min": {"first_order_at": now},
            },
            upsert=True,
            session=session,
        )
        if full:
            expiry = datetime.combine(today + timedelta(days=1), time(), UTC) + COUNTER_RETENTION
            await store.collection(RULE_USAGE).bulk_write(
                [
                    UpdateOne(
                        {"_id": counter_id},
                        {
                            "$inc": {"points": award},
                            "$setOnInsert": {
                                "rule_id": rule_id,
                                "member_id": member_id,
                                "expires_at": expiry,
                            },
                        },
                        upsert=True,
                    )
                    for counter_id, rule_id, award in counters
                ],
                ordered=True,
                session=session,
            )
        await store.collection(ORDERS).insert_one(
            _order(order_id, member_id, entry_id, points, now), session=session
        )
        await store.collection(OUTBOX).insert_many(
            [_event("points.earned", member_id, entry_id, now),
             _event("order.recorded", member_id, order_id, now)], session=session)

    def _counters(self, member_id: str, today: date) -> list[tuple[str, str, int]]:
        """(counter id, rule id, points) of the limited rules: a day and a month counter,
        as the bench's shoe bonus and multiplier have."""
        bonus, multiplier = self._rules[1], self._rules[2]
        counters = [
            (day_id(bonus, member_id, today), bonus, 50),
            (month_id(multiplier, member_id, today), multiplier, 152),
        ]
        return counters[:USAGE_COUNTERS_PER_EARN]


def _lot(
    lot_id: str, member_id: str, entry_id: str, points: int, order_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "_id": lot_id,
        "member_id": member_id,
        "entry_id": entry_id,
        "earned": points,
        "remaining": points,
        "earned_at": now,
        "available_at": now,
        "expires_at": now + timedelta(days=365),
        "order_id": order_id,
        "expired_at": None,
    }


def _entry(
    entry_id: str,
    lot_id: str,
    member_id: str,
    points: int,
    base: int,
    order_id: str,
    rules: list[str],
    now: datetime,
) -> dict[str, Any]:
    awards = [(rules[0], "Base: 1 point per €1", base), (rules[1], "Shoe bonus", 50)]
    awards.append((rules[2], "Double points week", points - base - 50))
    return {
        "_id": entry_id,
        "key": f"order:{order_id}",
        "member_id": member_id,
        "kind": "EARN",
        "points": points,
        "reason": f"Order {order_id}",
        "source": {"type": "ORDER", "id": order_id},
        "actor": {"type": "API_KEY", "id": "raw-bench"},
        "occurred_at": now,
        "recorded_at": now,
        "breakdown": [
            {"rule_id": rid, "rule_name": name, "points": p, "capped": False}
            for rid, name, p in awards
        ],
        "lots": [{"lot_id": lot_id, "points": points}],
        "payload_hash": "0" * 64,
        "debt_settled": 0,
        "debt_incurred": 0,
        "details": {},
    }


def _order(
    order_id: str, member_id: str, entry_id: str, points: int, now: datetime
) -> dict[str, Any]:
    shoes = ORDER_TOTAL - 1300
    return {
        "_id": order_id,
        "member_id": member_id,
        "channel": "ONLINE",
        "total": ORDER_TOTAL,
        "currency": "EUR",
        "items": [
            {"sku": "SHOE-42", "category": "shoes", "quantity": 1, "unit_price": shoes},
            {"sku": "SOCKS-3", "category": "accessories", "quantity": 2, "unit_price": 650},
        ],
        "occurred_at": now,
        "recorded_at": now,
        "store_id": None,
        "payload_hash": "0" * 64,
        "earned_points": points,
        "entry_id": entry_id,
        "refunded_amount": 0,
        "reversed_points": 0,
        "refunded_items": [],
    }


@dataclass(frozen=True, slots=True)
class RawRun:
    phase: PhaseReport
    ledger_sizes: tuple[int, int]
    """Ledger entries in the scratch database when the closed loop started and ended."""


async def measure_raw(
    target: Target, variant: RawVariant, options: LoadOptions, *, members: int
) -> RawRun:
    """Warm up, then run `variant` in a closed loop of `options.concurrency` workers for
    `options.duration` seconds against the target's database server, on a scratch
    database that starts empty; one report row."""
    scratch = database_name(target) + RAW_SUFFIX
    async with open_store(target, scratch) as store:
        await store.client.drop_database(scratch)
        await ensure_indexes(store, [*LEDGER_INDEXES, *ORDER_INDEXES])
        try:
            earner = RawEarner(store, variant, members)
            if options.warmup > 0:
                await closed_loop_of(
                    earner.earn, concurrency=options.concurrency, duration=options.warmup
                )
                await asyncio.sleep(SETTLE_SECONDS)
            ledger_before = await store.collection(LEDGER).count_documents({})
            commands_before = store.commands.total
            by_name_before = dict(store.commands.by_name)
            cpu_before = CpuSample.take(target.pid)
            result = await closed_loop_of(
                earner.earn, concurrency=options.concurrency, duration=options.duration
            )
            cpu_after = CpuSample.take(target.pid)
            ops = max(result.operations, 1)
            trips = (store.commands.total - commands_before) / ops
            mix = {
                name: (count - by_name_before.get(name, 0)) / ops
                for name, count in sorted(store.commands.by_name.items())
                if count != by_name_before.get(name, 0)
            }
            ledger_after = await store.collection(LEDGER).count_documents({})
            phase = PhaseReport(
                target=variant.name,
                result=result,
                round_trips_per_op=trips,
                cpu=_database_cpu(cpu_before, cpu_after, max(result.elapsed, 1e-9)),
                commands_per_op=mix,
            )
            return RawRun(phase=phase, ledger_sizes=(ledger_before, ledger_after))
        finally:
            await store.client.drop_database(scratch)


def _database_cpu(before: CpuSample, after: CpuSample, elapsed: float) -> CpuUse:
    """CPU of a raw phase: the idle Kizuna server's own CPU is not this phase's server
    work, so it is left out of `srv` (shown as -) and counted with `other`."""
    use = CpuUse.between(before, after, elapsed)
    other = None
    if use.other is not None:
        other = use.other + (use.server or 0.0)
    return CpuUse(server_seconds=None, server=None, db=use.db, client=use.client, other=other)


def _event(kind: str, member_id: str, subject_id: str, now: datetime) -> dict[str, Any]:
    """The smallest outbox event of a change (the product's carry a fuller body)."""
    return {"_id": new_id(), "type": kind, "version": 1, "occurred_at": now,
            "member_id": member_id, "store_id": None,
            "subject": {"kind": "raw", "id": subject_id}, "data": {}}
