"""The rows of `kizuna export` (members, ledger, stats) for finance and BI tools, read a page
at a time so an export holds one page in memory whatever the size of the database.

Every stream is an async generator: nothing is read before the first row is asked for,
and each page is one query (members: one query of accounts and one per 250 of their member
documents). Rows are tuples in the order of their kind's `columns`; times are aware UTC
datetimes, days are dates, points are integers. Columns: docs/analytics.md, "Exports".

Selecting the ledger entries recorded in a period: an entry's `_id` is an ObjectId made
when the entry is written, on the writer's clock, the same clock that stamps `recorded_at`.
So the entries of a period lie within a window of ids (`first_id_at` of its bounds, widened
by `ID_SLACK`), a two-sided string range on `_id` that the `_id` index serves, on MongoDB
and on the embedded engine alike, without another index to keep up on every ledger write.
`recorded_at` is still filtered exactly inside the window. Entries written with a
`recorded_at` far from their id (a backdated import, bench's seeded history) fall outside
it: the stream then checks what it read against the day roll-ups read before it began
(which count points by `recorded_at`) and raises `ExportIncomplete` rather than end short;
`full_scan=True` selects by `recorded_at` alone, reading every entry once.
"""

from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from loyalty.collections import ACCOUNTS, LEDGER, MEMBER_ROLE, MEMBERS
from loyalty.errors import InvalidPeriod
from loyalty.insights.figures import MAX_DAYS, Day, PointFlows, daily
from loyalty.ledger.verify import ID_LIMIT
from loyalty.programme.ladder import list_tiers
from store import Document, KizunaError, Store
from store.ids import first_id_at

PAGE_SIZE = 1_000
"""Rows read per query."""
IN_CHUNK = 250
"""Ids in one `$in` at most (the embedded engine serves up to about 250 from its index)."""
ID_SLACK = timedelta(hours=1)
"""How far an entry's id may be from its `recorded_at` (the time a write takes, retries
included) for the id window to find it."""

MEMBER_COLUMNS = (
    "id", "email", "name", "joined_at", "marketing_consent", "birthday", "points", "debt",
    "lifetime_earned", "tier_id", "tier_name", "last_activity_at", "referral_code",
)
LEDGER_COLUMNS = (
    "id", "recorded_at", "occurred_at", "member_id", "kind", "points", "reason", "source_type",
    "source_id", "actor_type", "actor_id", "debt_settled", "debt_incurred",
)
STATS_COLUMNS = (
    "date", "points_outstanding", "new_members", "earned", "redeemed", "redemptions_cancelled",
    "reversed", "expired", "adjusted_in", "adjusted_out", "issued", "net_redeemed",
    "nps_promoters", "nps_passives", "nps_detractors", "imported", "transferred",
)

type Row = tuple[Any, ...]


class ExportIncomplete(KizunaError):
    """The id window missed entries recorded in the period (see the module's docstring)."""

    code = "EXPORT_INCOMPLETE"


@dataclass(frozen=True, slots=True)
class Period:
    """The UTC days `start` to `end`, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidPeriod("The period ends before it starts: `--to` must be on or after "
                                "`--from`.", field=("to",))

    @property
    def begins(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def ends(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    def slices(self, days: int = MAX_DAYS) -> list["Period"]:
        """The period cut into consecutive periods of at most `days` days."""
        cuts, start = [], self.start
        while start <= self.end:
            end = min(self.end, start + timedelta(days=days - 1))
            cuts.append(Period(start, end))
            start = end + timedelta(days=1)
        return cuts


@dataclass(frozen=True, slots=True)
class Export:
    """What one export writes: its kind's column names and its rows, read as they go."""

    kind: str
    columns: tuple[str, ...]
    rows: AsyncIterator[Row]


KINDS = ("members", "ledger", "stats")


def open_export(store: Store, kind: str, period: Period | None, *, full_scan: bool = False,
                page_size: int = PAGE_SIZE) -> Export:
    """The export of `kind` (one of KINDS) over `period` (None: everything; stats need
    one). Reads nothing yet. Raises InvalidPeriod, or InvalidInput for an unknown kind."""
    if kind == "members":
        return Export(kind, MEMBER_COLUMNS, member_rows(store, period=period,
                                                        page_size=page_size))
    if kind == "ledger":
        return Export(kind, LEDGER_COLUMNS, ledger_rows(store, period=period,
                                                        full_scan=full_scan,
                                                        page_size=page_size))
    if kind == "stats":
        if period is None:
            raise InvalidPeriod("The daily figures need a period: give `--from` and `--to`.",
                                field=("from",))
        return Export(kind, STATS_COLUMNS, stats_rows(store, period=period))
    raise KizunaError(f"Unknown export {kind!r}: choose one of {', '.join(KINDS)}.",
                      field=("kind",))


async def _pages(store: Store, collection: str, where: Mapping[str, Any], *, page_size: int,
                 fields: Mapping[str, int], ids_from: str = "", ids_before: str = ID_LIMIT) -> (
    AsyncIterator[list[Document]]
):
    """The documents matching `where` with ids from `ids_from` and before `ids_before`, in
    `_id` order, `page_size` at a time: one cursor, one round trip per page (its batches).
    The two-sided string range on `_id` is served by the `_id` index on every engine; on
    MongoDB the sort is that index's order (no sort stage, nothing held). Keyset pages (a
    query per page) would cost the same round trips, but the embedded engine sorts what
    each query matches, which makes pages over a whole collection quadratic."""
    cursor = store.collection(collection).find(
        {**where, "_id": {"$gte": ids_from, "$lt": ids_before}}, dict(fields),
    ).sort("_id", 1).batch_size(page_size)
    page: list[Document] = []
    async with cursor:
        async for doc in cursor:
            page.append(doc)
            if len(page) == page_size:
                yield page
                page = []
    if page:
        yield page


# --- members -------------------------------------------------------------------------------

_ACCOUNT_FIELDS = dict.fromkeys(("email", "name", "created_at", "birthday",
                                 "marketing_consent"), 1)
_MEMBER_FIELDS = dict.fromkeys(("points", "debt", "lifetime_earned", "tier.id",
                                "last_activity_at", "referral_code"), 1)


async def member_rows(store: Store, *, period: Period | None = None,
                      page_size: int = PAGE_SIZE) -> AsyncIterator[Row]:
    """One row per member (accounts of role MEMBER) in id order, with their points and tier
    (zeros and blanks for a member without a `members` document yet); `period` keeps those
    who joined in it. Per page of accounts: one query, plus one per IN_CHUNK members."""
    tier_names = {tier.id: tier.name for tier in await list_tiers(store)}
    where: dict[str, Any] = {"role": MEMBER_ROLE}
    if period is not None:
        where["created_at"] = {"$gte": period.begins, "$lt": period.ends}
    async for accounts in _pages(store, ACCOUNTS, where, page_size=page_size,
                                 fields=_ACCOUNT_FIELDS):
        totals = await _member_documents(store, [doc["_id"] for doc in accounts])
        for account in accounts:
            yield _member_row(account, totals.get(account["_id"], {}), tier_names)


async def _member_documents(store: Store, ids: Sequence[str]) -> dict[str, Document]:
    found: dict[str, Document] = {}
    for first in range(0, len(ids), IN_CHUNK):
        cursor = store.collection(MEMBERS).find(
            {"_id": {"$in": list(ids[first:first + IN_CHUNK])}}, _MEMBER_FIELDS,
        ).batch_size(IN_CHUNK)
        found.update({doc["_id"]: doc async for doc in cursor})
    return found


def _member_row(account: Document, member: Document, tier_names: Mapping[str, str]) -> Row:
    tier_id = (member.get("tier") or {}).get("id")
    birthday = account.get("birthday")
    return (
        account["_id"], account["email"], account["name"], _utc(account["created_at"]),
        bool(account.get("marketing_consent", False)),
        date.fromisoformat(birthday) if birthday else None,
        member.get("points", 0), member.get("debt", 0), member.get("lifetime_earned", 0),
        tier_id, tier_names.get(tier_id) if tier_id else None,
        _maybe_utc(member.get("last_activity_at")), member.get("referral_code"),
    )


# --- ledger --------------------------------------------------------------------------------

_ENTRY_FIELDS = dict.fromkeys(("recorded_at", "occurred_at", "member_id", "kind", "points",
                               "reason", "source", "actor", "debt_settled", "debt_incurred"), 1)


async def ledger_rows(store: Store, *, period: Period | None = None, full_scan: bool = False,
                      page_size: int = PAGE_SIZE) -> AsyncIterator[Row]:
    """One row per ledger entry recorded in `period` (None: every entry), in id order (the
    order they were written). With a period and without `full_scan`, entries are found in
    the period's id window and the stream ends by checking them against the roll-ups:
    ExportIncomplete when entries recorded in the period were outside it."""
    where: dict[str, Any] = {}
    ids_from, ids_before = "", ID_LIMIT
    by_ids = period is not None and not full_scan
    if period is not None:
        where["recorded_at"] = {"$gte": period.begins, "$lt": period.ends}
        if by_ids:
            ids_from = first_id_at(period.begins - ID_SLACK)
            ids_before = first_id_at(period.ends + ID_SLACK)
    tally = _FlowTally()
    before = await _day_flows(store, period) if period is not None and by_ids else None
    async for entries in _pages(store, LEDGER, where, page_size=page_size,
                                fields=_ENTRY_FIELDS, ids_from=ids_from,
                                ids_before=ids_before):
        for entry in entries:
            tally.add(entry)
            yield _ledger_row(entry)
    if before is not None:
        tally.check(before)


def _ledger_row(entry: Document) -> Row:
    source, actor = entry.get("source") or {}, entry.get("actor") or {}
    return (
        entry["_id"], _utc(entry["recorded_at"]), _utc(entry["occurred_at"]),
        entry["member_id"], entry["kind"], entry["points"], entry.get("reason", ""),
        source.get("type"), source.get("id"), actor.get("type"), actor.get("id"),
        entry.get("debt_settled", 0), entry.get("debt_incurred", 0),
    )


class _FlowTally:
    """The points of the entries exported, by day and kind, as the roll-ups count them."""

    def __init__(self) -> None:
        self._days: dict[date, Counter[str]] = {}

    def add(self, entry: Document) -> None:
        points = entry["points"]
        if points:
            day = _utc(entry["recorded_at"]).date()
            direction = "in" if points > 0 else "out"
            self._days.setdefault(day, Counter())[f"{direction}.{entry['kind']}"] += abs(points)

    def check(self, before: Mapping[date, PointFlows]) -> None:
        """Raise ExportIncomplete when a day's flows read fall short of the roll-ups read
        before the export began: entries recorded that day were not found. (More than the
        roll-ups is no miss: entries written during the export, or roll-ups behind.)"""
        for day, expected in before.items():
            read = _flows(PointFlows.of(self._days.get(day, Counter())))
            if any(got < want for got, want in zip(read, _flows(expected), strict=True)):
                raise ExportIncomplete(
                    f"Entries recorded on {day.isoformat()} have ids far from that day (an "
                    "import with past times?); export again with --full-scan.")


def _flows(flows: PointFlows) -> tuple[int, ...]:
    return (flows.earned, flows.redeemed, flows.redemptions_cancelled, flows.reversed,
            flows.expired, flows.adjusted_in, flows.adjusted_out)


async def _day_flows(store: Store, period: Period) -> dict[date, PointFlows]:
    return {day.on: day.flows async for day in _days(store, period)}


# --- stats ---------------------------------------------------------------------------------

async def _days(store: Store, period: Period) -> AsyncIterator[Day]:
    """The daily figures, MAX_DAYS days per read of the roll-ups (figures.daily)."""
    for part in period.slices():
        for day in await daily(store, start=part.start, end=part.end):
            yield day


async def stats_rows(store: Store, *, period: Period) -> AsyncIterator[Row]:
    """One row per day of `period` from the roll-ups: the figures of
    `programmeStatsDaily`, for periods of any length (read MAX_DAYS days at a time)."""
    async for day in _days(store, period):
        flows = day.flows
        yield (
            day.on, day.outstanding, day.joined, flows.earned, flows.redeemed,
            flows.redemptions_cancelled, flows.reversed, flows.expired, flows.adjusted_in,
            flows.adjusted_out, flows.issued, flows.net_redeemed,
            day.nps.get("promoters", 0), day.nps.get("passives", 0),
            day.nps.get("detractors", 0), flows.imported, flows.transferred,
        )


def _utc(at: datetime) -> datetime:
    """`at` as an aware UTC datetime (naive values are UTC, as BSON stores them)."""
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _maybe_utc(at: datetime | None) -> datetime | None:
    return None if at is None else _utc(at)

