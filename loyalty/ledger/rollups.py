"""The programme's roll-ups: what every ledger write adds to the figures of its day and its
month, written in the same transaction as the write (docs/analytics.md).

A roll-up document holds counters, all `$inc`ed, never set:
    {_id: "d:2026-12-05#3" (a day, UTC) | "m:2026-12#3" (a month), period: "d:2026-12-05",
     in {<entry kind>: points credited}, out {<entry kind>: points debited},
     lots (Σ change of open lots' points), debt (Σ change of members' debt),
     expiring (Σ change of open lots' points that expire in this period),
     active (members whose last earn or redemption falls in this period),
     joined (members who registered), tiers {<tier id>: members who moved in − out},
     rewards {<reward id>: redemptions − cancellations},
     nps {promoters, passives, detractors}}

Counters that only grow or telescope are exact summed over any set of periods: points
outstanding at the end of a day is Σ `lots` of every day up to it; members holding a tier
is Σ `tiers.<id>`; members active in the last 30 days is Σ `active` of those days (a member
adds 1 to the day of their last activity and takes it back from the day before, so each
member counts once, on their latest day).

`#3` is a shard: on a replica set, concurrent transactions that `$inc` one document
conflict and retry, so a period's counters are spread over `Store.counter_shards`
documents by member (one member's writes are serialised by their member document anyway).
Readers sum the shards. The embedded engine runs one transaction at a time: one shard.
"""

import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from loyalty.collections import STATS
from loyalty.ledger.entries import NO_TIER, Entry, EntryKind
from store import Session, Store, UpdateOne

ACTIVITY = frozenset({EntryKind.EARN, EntryKind.REDEEM, EntryKind.TRANSFER_OUT})
"""What makes a member active: earning, redeeming or giving away points (not an expiry, a
refund, an admin's adjustment or a gift received, which happen to them)."""

NPS_BANDS = ("detractors", "passives", "promoters")


def day_period(on: date) -> str:
    return f"d:{on.isoformat()}"


def month_period(on: date) -> str:
    return f"m:{on.year:04d}-{on.month:02d}"


def utc_day(at: datetime) -> date:
    """The UTC calendar day of `at` (the roll-ups' days are UTC days; naive times are UTC,
    as PyMongo reads them without tz_aware)."""
    return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()


def nps_band(score: int) -> str:
    """NPS's bands: 0–6 detractors, 7–8 passives, 9–10 promoters."""
    return NPS_BANDS[0] if score <= 6 else NPS_BANDS[1] if score <= 8 else NPS_BANDS[2]


class Tally:
    """Counter increments by period: a day's and its month's together."""

    def __init__(self) -> None:
        self._periods: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def add(self, on: date, counter: str, amount: int = 1) -> None:
        if amount:
            self._periods[day_period(on)][counter] += amount
            self._periods[month_period(on)][counter] += amount

    def merge(self, other: "Tally") -> None:
        for period, counters in other._periods.items():
            self._periods[period].update(counters)

    def periods(self) -> Iterator[tuple[str, dict[str, int]]]:
        """Each period with its non-zero counters, sorted."""
        for period in sorted(self._periods):
            counters = {k: v for k, v in sorted(self._periods[period].items()) if v}
            if counters:
                yield period, counters


ENTRY_FIELDS = ("member_id", "kind", "points", "recorded_at", "debt_settled", "debt_incurred",
                "lots", "source")
"""The fields of a ledger entry document that its roll-ups depend on."""


def entry_tally(
    entry: Entry, *, lot_expiries: Mapping[str, datetime | None],
    previous_activity: datetime | None = None, previous_tier: str | None = None,
) -> Tally:
    """What `entry` adds to the roll-ups. `lot_expiries` gives the expiry of every lot the
    entry moved points in; `previous_activity` is the member's last activity before it
    (for an earn or a redemption); `previous_tier` the tier a TIER entry moves from."""
    tally = Tally()
    add_movement(tally, entry.document(), lot_expiries)
    day = utc_day(entry.recorded_at)
    if entry.kind in ACTIVITY and entry.points:
        count_activity(tally, day, previous_activity)
    if entry.kind is EntryKind.TIER:
        count_tier_move(tally, day, to=entry.source.id, previous=previous_tier)
    return tally


def add_movement(
    tally: Tally, doc: Mapping[str, Any], lot_expiries: Mapping[str, datetime | None]
) -> None:
    """Add to `tally` what a ledger entry document (at least its ENTRY_FIELDS) adds to the
    roll-ups by itself: its points by kind and direction, open lots, debt, points expiring
    by the day they expire, and reward redemptions. (Active members and members by tier
    also depend on the member's entries before it.)"""
    day = utc_day(doc["recorded_at"])
    kind, points = doc["kind"], doc["points"]
    if points > 0:
        tally.add(day, f"in.{kind}", points)
    elif points < 0:
        tally.add(day, f"out.{kind}", -points)
    debt = doc.get("debt_incurred", 0) - doc.get("debt_settled", 0)
    tally.add(day, "lots", points + debt)
    tally.add(day, "debt", debt)
    sign = -1 if points < 0 else 1
    for allocation in doc.get("lots", ()):
        expiry = lot_expiries[allocation["lot_id"]]
        if expiry is not None:
            tally.add(utc_day(expiry), "expiring", sign * allocation["points"])
    source = doc.get("source") or {}
    if source.get("type") == "REWARD" and kind in (EntryKind.REDEEM, EntryKind.REVERSAL):
        tally.add(day, f"rewards.{source['id']}", 1 if kind == EntryKind.REDEEM else -1)


def count_tier_move(tally: Tally, day: date, *, to: str, previous: str | None) -> None:
    """A member moving from tier `previous` (None: none) to `to` (NO_TIER: none)."""
    if to != NO_TIER:
        tally.add(day, f"tiers.{to}")
    if previous is not None:
        tally.add(day, f"tiers.{previous}", -1)


def count_activity(tally: Tally, day: date, previous: datetime | None) -> None:
    """Move the member's one count of `active` to `day` when it is later than their last
    activity (the member document keeps the latest with `$max`, as this does)."""
    before = utc_day(previous) if previous is not None else None
    if before is not None and before >= day:
        return
    tally.add(day, "active")
    if before is not None:
        tally.add(before, "active", -1)


def joined_tally(at: datetime) -> Tally:
    tally = Tally()
    tally.add(utc_day(at), "joined")
    return tally


def answer_tally(at: datetime, score: int) -> Tally:
    tally = Tally()
    tally.add(utc_day(at), f"nps.{nps_band(score)}")
    return tally


def shard_of(member_id: str, shards: int) -> int:
    return zlib.crc32(member_id.encode()) % shards if shards > 1 else 0


async def add(store: Store, session: Session, tally: Tally, *, member_id: str) -> None:
    """`$inc` the tally's counters on its periods' documents (the member's shard), in the
    caller's transaction: one command whatever the number of periods."""
    shard = shard_of(member_id, store.counter_shards)
    writes = [
        UpdateOne({"_id": f"{period}#{shard}"},
                  {"$inc": counters, "$setOnInsert": {"period": period}}, upsert=True)
        for period, counters in tally.periods()
    ]
    if writes:
        await store.collection(STATS).bulk_write(writes, ordered=False, session=session)


async def add_tallies(store: Store, session: Session,
                      tallies: Iterable[tuple[str, Tally]]) -> None:
    """`add` for many members' tallies (member id, tally) at once: merged by shard, one
    command for all of them (a batch of an import)."""
    by_shard: dict[int, Tally] = {}
    for member_id, tally in tallies:
        by_shard.setdefault(shard_of(member_id, store.counter_shards), Tally()).merge(tally)
    writes = [
        UpdateOne({"_id": f"{period}#{shard}"},
                  {"$inc": counters, "$setOnInsert": {"period": period}}, upsert=True)
        for shard, tally in by_shard.items() for period, counters in tally.periods()
    ]
    if writes:
        await store.collection(STATS).bulk_write(writes, ordered=False, session=session)


def flatten(doc: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, int]]:
    """A roll-up document's counters as dotted names (`in.EARN`, `tiers.gold`)."""
    for key, value in doc.items():
        if key in ("_id", "period") and not prefix:
            continue
        if isinstance(value, Mapping):
            yield from flatten(value, f"{prefix}{key}.")
        elif isinstance(value, int):
            yield f"{prefix}{key}", value
