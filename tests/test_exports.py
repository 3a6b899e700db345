"""`kizuna export members|ledger|stats`: exact rows in CSV and JSON lines, periods, the
daily figures of programmeStatsDaily, no half-written file, reads a page at a time, clear
refusals of bad input."""

import asyncio
import base64
import csv
import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.exports import measure_export, write_export
from api.settings import Settings
from loyalty.insights.exports import (
    LEDGER_COLUMNS,
    MEMBER_COLUMNS,
    STATS_COLUMNS,
    Export,
    ExportIncomplete,
    Period,
    Row,
    open_export,
)
from tests.ledger_support import PER_EURO
from tests.reward_support import RewardShop, ladder, open_reward_shop, set_tier
from tests.support import GraphQLClient, ManualClock
from tests.test_cli import kizuna
from tests.test_programme_stats import DAILY, a_day_of_business


@pytest.fixture
def clock() -> ManualClock:
    # On the wall clock, as in production: ledger ids (made from the wall clock) and
    # `recorded_at` (this clock) agree, which the ledger's id window relies on.
    now = datetime.now(UTC)
    return ManualClock(now.replace(microsecond=now.microsecond // 1000 * 1000))


@pytest.fixture
async def shop(gql: GraphQLClient) -> RewardShop:
    opened = await open_reward_shop(gql)
    await opened.shop.rule(PER_EURO)
    return opened


def cli_env(settings: Settings) -> dict[str, str]:
    return {"KIZUNA_MONGODB_URI": settings.mongodb_uri or "",
            "KIZUNA_DATABASE": settings.database, "KIZUNA_DATA_DIR": str(settings.data_dir)}


def export(settings: Settings, *args: str) -> Any:
    result = kizuna("export", *args, env=cli_env(settings))
    assert result.returncode == 0, result.stderr
    return result


def csv_records(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def jsonl_records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def ids(shop: RewardShop) -> dict[str, str]:
    """Member id by email."""
    store = shop.gql.state.services.store
    return {doc["email"]: doc["_id"] async for doc in store.collection("accounts").find(
        {"role": "MEMBER"}, {"email": 1})}


def day_of(shop: RewardShop) -> date:
    return shop.gql.state.services.clock().date()


async def test_members_and_ledger_rows_are_exact_in_csv_and_json_lines(
    shop: RewardShop, settings: Settings, tmp_path: Path,
) -> None:
    await a_day_of_business(shop)
    tiers = await ladder(shop)
    await set_tier(shop, "ann@example.com", tiers["Gold"])
    member = await ids(shop)
    now = shop.gql.state.services.clock().isoformat(timespec="milliseconds")[:-6] + "Z"
    target = tmp_path / "members.csv"
    export(settings, "members", "--output", str(target))
    members = csv_records(target.read_text(encoding="utf-8"))
    assert list(members[0]) == list(MEMBER_COLUMNS)
    gold = base64.b64decode(tiers["Gold"]).decode().removeprefix("Tier:")  # a stored id
    assert [{k: v for k, v in m.items() if k != "referral_code"} for m in members] == [
        {"id": member["ann@example.com"], "email": "ann@example.com", "name": "Ann",
         "joined_at": now, "marketing_consent": "false", "birthday": "", "points": "180",
         "debt": "0", "lifetime_earned": "200", "tier_id": gold, "tier_name": "Gold",
         "last_activity_at": now},
        {"id": member["bob@example.com"], "email": "bob@example.com", "name": "Ann",
         "joined_at": now, "marketing_consent": "false", "birthday": "", "points": "25",
         "debt": "0", "lifetime_earned": "50", "tier_id": "", "tier_name": "",
         "last_activity_at": now}]
    store = shop.gql.state.services.store
    await write_export(open_export(store, "members", None), "jsonl", tmp_path / "m.jsonl")
    as_json = jsonl_records((tmp_path / "m.jsonl").read_text(encoding="utf-8"))
    assert [m["points"] for m in as_json] == [180, 25]
    assert [{k: str(v).lower() if isinstance(v, bool) else "" if v is None else str(v)
             for k, v in m.items()} for m in as_json] == members

    day = day_of(shop).isoformat()
    ledger = jsonl_records(export(settings, "ledger", "--from", day, "--to", day,
                                  "--format", "jsonl").stdout)
    assert [(e["member_id"], e["kind"], e["points"], e["reason"], e["source_type"],
             e["actor_type"]) for e in ledger if e["kind"] != "TIER"] == [
        (member["ann@example.com"], "EARN", 200, "Order o-ann", "ORDER", "API_KEY"),
        (member["bob@example.com"], "EARN", 50, "Order o-bob", "ORDER", "API_KEY"),
        (member["bob@example.com"], "REVERSAL", -20, "Refund r-1 of order o-bob", "REFUND",
         "API_KEY"),
        (member["ann@example.com"], "ADJUST", 30, "Goodwill gesture", "ADJUSTMENT", "ADMIN"),
        (member["bob@example.com"], "ADJUST", -5, "Goodwill gesture", "ADJUSTMENT", "ADMIN"),
        (member["ann@example.com"], "REDEEM", -50, "Reward: Tote bag", "REWARD", "MEMBER"),
        (member["ann@example.com"], "REDEEM", -50, "Reward: Tote bag", "REWARD", "MEMBER"),
        (member["ann@example.com"], "REVERSAL", 50, "Voucher cancelled: Tote bag", "REWARD",
         "MEMBER")]
    assert all(list(e) == list(LEDGER_COLUMNS) and e["recorded_at"] == now
               and e["debt_settled"] == e["debt_incurred"] == 0 for e in ledger)
    assert [e["id"] for e in ledger] == sorted(e["id"] for e in ledger)
    period = Period(day_of(shop), day_of(shop))
    await write_export(open_export(store, "ledger", period), "csv", tmp_path / "l.csv")
    as_csv = csv_records((tmp_path / "l.csv").read_text(encoding="utf-8"))
    assert as_csv == [{k: str(v) for k, v in e.items()} for e in ledger]


async def test_stats_rows_equal_programme_stats_daily_over_any_length(
    shop: RewardShop, settings: Settings,
) -> None:
    await a_day_of_business(shop)
    day = day_of(shop)
    start = day - timedelta(days=2)
    data = await shop.gql.data(DAILY, {"from": start.isoformat(), "to": day.isoformat()},
                               token=shop.admin_token)
    daily = [(d["date"], d["pointsOutstanding"], d["newMembers"], d["points"]["earned"],
              d["points"]["redeemed"], d["nps"]["responses"])
             for d in data["programmeStatsDaily"]["days"]]
    rows = csv_records(export(settings, "stats", "--from", start.isoformat(), "--to",
                              day.isoformat()).stdout)
    assert list(rows[0]) == list(STATS_COLUMNS)
    assert [(r["date"], int(r["points_outstanding"]), int(r["new_members"]), int(r["earned"]),
             int(r["redeemed"]), int(r["nps_promoters"]) + int(r["nps_passives"])
             + int(r["nps_detractors"])) for r in rows] == daily
    assert rows[-1] == {"date": day.isoformat(), "points_outstanding": "205",
                        "new_members": "2", "earned": "250", "redeemed": "100",
                        "redemptions_cancelled": "50", "reversed": "20", "expired": "0",
                        "adjusted_in": "30", "adjusted_out": "5", "issued": "280",
                        "net_redeemed": "50", "nps_promoters": "1", "nps_passives": "0",
                        "nps_detractors": "0", "imported": "0",
                        "transferred": "0"}
    # Longer than the 366 days a read allows: read in slices, one row per day all the same.
    store = shop.gql.state.services.store
    export_ = open_export(store, "stats", Period(day - timedelta(days=799), day))
    long = [row async for row in export_.rows]
    assert len(long) == 800 and [r[0] for r in long] == [
        day - timedelta(days=799 - n) for n in range(800)]
    assert long[-1][1:3] == (205, 2) and all(r[1] == 0 for r in long[:-1])


async def test_periods_select_members_by_joining_and_entries_by_recording(
    shop: RewardShop, settings: Settings,
) -> None:
    await shop.member("ann@example.com", points=10)
    day = day_of(shop)
    # Two days: Bob's entry must be recorded further from its id than a day and the id
    # window's hour of slack, whatever the time of day the test runs.
    await shop.shop.advance(days=2)
    await shop.member("bob@example.com", points=20)
    store = shop.gql.state.services.store

    async def column(kind: str, index: int, period: Period | None, *,
                     full_scan: bool = False) -> list[Any]:
        export_ = open_export(store, kind, period, full_scan=full_scan)
        return [row[index] async for row in export_.rows]

    first, second = Period(day, day), Period(day + timedelta(days=2), day + timedelta(days=2))
    assert await column("members", 1, None) == ["ann@example.com", "bob@example.com"]
    assert await column("members", 1, first) == ["ann@example.com"]
    assert await column("members", 1, second) == ["bob@example.com"]
    # Ann's entry was written on the wall clock's day: the id window finds it.
    assert await column("ledger", 5, first) == [10]
    assert await column("ledger", 5, None) == [10, 20]
    # Bob's was recorded two days ahead of the wall clock (as an import with other times
    # would be): outside the id window. The export refuses to end short, and a full
    # scan finds it.
    with pytest.raises(ExportIncomplete):
        await column("ledger", 5, second)
    assert await column("ledger", 5, second, full_scan=True) == [20]
    assert await column("ledger", 5, Period(first.start, second.end), full_scan=True) == [
        10, 20]
    target = settings.data_dir.parent / "ledger.csv"
    refused = kizuna("export", "ledger", "--from", second.start.isoformat(), "--to",
                     second.end.isoformat(), "--output", str(target), env=cli_env(settings))
    assert refused.returncode == 1 and not target.exists()
    assert "(EXPORT_INCOMPLETE)" in refused.stderr and "--full-scan" in refused.stderr


class Boom(Exception):
    pass


def failing_export(rows: int, failure: BaseException | None) -> Export:
    async def generate() -> AsyncIterator[Row]:
        for n in range(rows):
            yield (n, "x" * 100)
            await asyncio.sleep(0)
        if failure is None:
            await asyncio.Event().wait()  # stalls until cancelled (Ctrl-C, SIGTERM)
        raise failure

    return Export("ledger", ("n", "text"), generate())


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_an_export_failing_or_interrupted_halfway_leaves_no_file(
    tmp_path: Path, fmt: str,
) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(Boom):
        await write_export(failing_export(5_000, Boom()), fmt, target)
    assert os.listdir(tmp_path) == []
    target.write_text("yesterday's export\n")
    task = asyncio.create_task(write_export(failing_export(5_000, None), fmt, target))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert os.listdir(tmp_path) == ["out.csv"]
    with open(target) as kept:  # noqa: ASYNC230 - a small local file
        assert kept.read() == "yesterday's export\n"


async def test_exports_read_a_page_at_a_time_and_nothing_before_the_first_row(
    shop: RewardShop,
) -> None:
    await shop.members(7, points=10)
    await shop.member("no-points@example.com")  # no ledger entry, maybe no member document
    store = shop.gql.state.services.store
    commands = store.commands
    before = commands.total
    members = open_export(store, "members", None, page_size=2)
    ledger = open_export(store, "ledger", None, page_size=2)
    assert commands.total == before  # opening reads nothing
    first = await anext(members.rows)
    assert first[1] == "racer0@example.com" or first[0]
    # The tiers, the first page of accounts and its members: three commands.
    assert commands.total - before <= 3
    rest = [row async for row in members.rows]
    assert len(rest) == 7
    # Eight members in pages of two: four pages, each one batch of accounts and one query
    # of their member documents (plus the tiers, and the cursor's end).
    assert commands.total - before <= 1 + 4 * 2 + 1
    before = commands.total
    entries = [row async for row in ledger.rows]
    assert len(entries) == 7 and commands.total - before <= 4 + 1


async def test_the_bench_measures_an_export(shop: RewardShop, tmp_path: Path) -> None:
    await shop.members(3, points=10)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    rows, seconds = await measure_export(shop.gql.state.services.store, "ledger", "jsonl",
                                         directory=scratch)
    assert rows == 3 and seconds > 0 and os.listdir(scratch) == []


@pytest.mark.parametrize(("args", "message"), [
    (("members", "--from", "2026-12-05", "--to", "2026-12-01"), "ends before it starts"),
    (("ledger", "--from", "2026-13-01", "--to", "2026-12-01"), "is not a date"),
    (("ledger", "--from", "2026-12-01"), "give both --from and --to"),
    (("stats",), "stats need a period"),
    (("points",), "invalid choice: 'points'"),
    (("members", "--format", "xml"), "invalid choice: 'xml'"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_written(
    settings: Settings, tmp_path: Path, args: tuple[str, ...], message: str,
) -> None:
    target = tmp_path / "out.csv"
    result = kizuna("export", *args, "--output", str(target), env=cli_env(settings))
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == "" and not target.exists()
