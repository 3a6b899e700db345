"""The programme's figures over GraphQL: exact after a day of business, by day for charts,
typed errors for bad periods and currencies, administrators only, a handful of round trips
whatever the number of members, and right under concurrent writes and while verify runs."""

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest

import loyalty.ledger.verify
from api.settings import Settings
from auth.roles import Principal, Role
from loyalty.ledger import rollup_books
from loyalty.ledger.rollups import Tally, add
from scanner.books import verify
from tests.ledger_support import PER_EURO
from tests.reward_support import RewardShop, ladder, open_reward_shop, set_tier
from tests.support import GraphQLClient
from tests.test_audit import audit_log, changed
from tests.test_cli import kizuna
from tests.test_surveys import submit, survey_id

STATS = """query($from: Date!, $to: Date!, $currency: String) {
  programmeStats(from: $from, to: $to, currency: $currency) {
    stats { from to pointsOutstanding debt
      pointsOutstandingValue { amount currency } pointValue { currency points amount }
      points { earned redeemed redemptionsCancelled reversed expired adjustedIn adjustedOut
               issued netRedeemed redemptionRate breakageRate }
      lifetime { issued netRedeemed }
      expiryForecast { withinDays points value { amount currency } }
      members { total new active30Days active90Days without_tier: withoutTier
                byTier { name members } }
      rewards { title redemptions stock stockLeft }
      campaigns { name active budget spent left }
      nps { score promoters passives detractors responses } }
    errors { code message field } } }"""

DAILY = """query($from: Date!, $to: Date!) { programmeStatsDaily(from: $from, to: $to) {
  days { date pointsOutstanding newMembers points { earned redeemed } nps { responses } }
  errors { code field } } }"""

POINT_VALUE_SET = """mutation($input: ProgrammePointValueSetInput!) {
  programmePointValueSet(input: $input) { pointValues { currency points amount }
  errors { code field } } }"""


@pytest.fixture
async def shop(gql: GraphQLClient) -> RewardShop:
    opened = await open_reward_shop(gql)
    await opened.shop.rule(PER_EURO)
    return opened


def today(shop: RewardShop) -> date:
    return shop.gql.state.services.clock().date()


async def stats(shop: RewardShop, start: date, end: date, currency: str | None = None,
                token: str | None = None) -> dict[str, Any]:
    data = await shop.gql.data(STATS, {"from": start.isoformat(), "to": end.isoformat(),
                                       "currency": currency},
                               token=token or shop.admin_token)
    result: dict[str, Any] = data["programmeStats"]
    return result


async def a_day_of_business(shop: RewardShop) -> None:
    """Ann and Bob join and order, Bob refunds part, both are adjusted, Ann redeems the
    tote bag twice and gives one back, Ann answers the survey: a promoter."""
    ann = await shop.member("ann@example.com")
    await shop.member("bob@example.com")
    gql, admin = shop.gql, shop.admin_token
    for email, cents, order in (("ann@example.com", 20_000, "o-ann"),
                                ("bob@example.com", 5_000, "o-bob")):
        assert (await shop.shop.record(shop.shop.order(email, cents, order_id=order)))[
            "errors"] == []
    assert (await shop.shop.refund("o-bob", "r-1", amount=2_000))["errors"] == []
    await shop.give("ann@example.com", 30)
    assert (await shop.shop.adjust("bob@example.com", -5))["errors"] == []
    tote = (await shop.create(title="Tote bag", cost=50, stock=5))["id"]
    first = await shop.redeem(ann, tote)
    assert (await shop.redeem(ann, tote))["errors"] == []
    assert (await shop.cancel(ann, first["voucher"]["id"]))["errors"] == []
    survey = await survey_id(shop.shop, points=0)
    assert (await submit(gql, ann, survey, 9))["errors"] == []
    await gql.data(POINT_VALUE_SET, {"input": {"currency": "eur", "points": 100,
                                               "amount": 80}}, token=admin)


async def test_the_figures_of_a_day_of_business_are_exact(shop: RewardShop) -> None:
    await a_day_of_business(shop)
    day = today(shop)
    result = await stats(shop, day - timedelta(days=6), day, currency="EUR")
    assert result["errors"] == []
    figures = result["stats"]
    # Earned 200 + 50, reversed 20, adjusted +30 −5, redeemed 2 × 50, 50 given back.
    assert figures["points"] == {
        "earned": 250, "redeemed": 100, "redemptionsCancelled": 50, "reversed": 20,
        "expired": 0, "adjustedIn": 30, "adjustedOut": 5, "issued": 280, "netRedeemed": 50,
        "redemptionRate": 50 / 280, "breakageRate": 0.0,
    }
    assert figures["lifetime"] == {"issued": 280, "netRedeemed": 50}
    assert figures["pointsOutstanding"] == 250 - 20 + 30 - 5 - 100 + 50 == 205
    assert figures["debt"] == 0
    # 100 points are worth 80 cents: 205 points, 164 cents.
    assert figures["pointsOutstandingValue"] == {"amount": 164, "currency": "EUR"}
    assert figures["pointValue"] == {"currency": "EUR", "points": 100, "amount": 80}
    # Points expire after 12 months: nothing in the next 90 days.
    assert [(f["withinDays"], f["points"]) for f in figures["expiryForecast"]] == [
        (30, 0), (60, 0), (90, 0)]
    assert figures["members"] == {"total": 2, "new": 2, "active30Days": 2, "active90Days": 2,
                                  "without_tier": 2, "byTier": []}
    assert figures["rewards"] == [{"title": "Tote bag", "redemptions": 1, "stock": 5,
                                   "stockLeft": 4}]
    assert figures["nps"] == {"score": 100.0, "promoters": 1, "passives": 0,
                              "detractors": 0, "responses": 1}
    assert await verify(shop.gql.state.services.store) == []


async def test_the_daily_series_runs_the_balance_on_and_earlier_periods_see_nothing_yet(
    shop: RewardShop,
) -> None:
    await a_day_of_business(shop)
    day = today(shop)
    data = await shop.gql.data(DAILY, {"from": (day - timedelta(days=2)).isoformat(),
                                       "to": day.isoformat()}, token=shop.admin_token)
    days = data["programmeStatsDaily"]["days"]
    assert [d["date"] for d in days] == [(day - timedelta(days=n)).isoformat()
                                         for n in (2, 1, 0)]
    assert [d["pointsOutstanding"] for d in days] == [0, 0, 205]
    assert days[-1] == {"date": day.isoformat(), "pointsOutstanding": 205, "newMembers": 2,
                        "points": {"earned": 250, "redeemed": 100}, "nps": {"responses": 1}}
    before = (await stats(shop, day - timedelta(days=30), day - timedelta(days=1)))["stats"]
    assert (before["pointsOutstanding"], before["members"]["total"]) == (0, 0)
    # Members by tier are now figures: without a tier now, both members.
    assert before["members"]["without_tier"] == 2
    # Active members and the forecast are as of now, whatever the period.
    assert before["members"]["active30Days"] == 2


async def test_members_by_tier_follow_every_move(shop: RewardShop) -> None:
    tiers = await ladder(shop)
    await shop.member("ann@example.com")
    await shop.member("bob@example.com")
    await shop.member("cy@example.com")
    await set_tier(shop, "ann@example.com", tiers["Gold"])
    await set_tier(shop, "bob@example.com", tiers["Silver"])
    await set_tier(shop, "bob@example.com", tiers["Gold"])
    await set_tier(shop, "cy@example.com", tiers["Silver"])
    await set_tier(shop, "cy@example.com", None)  # back to what cy qualifies for: none
    day = today(shop)
    members = (await stats(shop, day, day))["stats"]["members"]
    assert members["byTier"] == [{"name": "Silver", "members": 0},
                                 {"name": "Gold", "members": 2}]
    assert members["without_tier"] == 1
    assert await verify(shop.gql.state.services.store) == []


async def test_bad_periods_and_currencies_are_typed_errors(shop: RewardShop) -> None:
    day = today(shop)
    cases = [
        ((day, day - timedelta(days=1), None), "INVALID_PERIOD", ["to"]),
        ((day - timedelta(days=366), day, None), "PERIOD_TOO_LONG", ["to"]),
        ((day, day, "XYZ"), "UNKNOWN_CURRENCY", ["currency"]),
        ((day, day, "USD"), "POINT_VALUE_NOT_SET", ["currency"]),
    ]
    for (start, end, currency), code, field in cases:
        result = await stats(shop, start, end, currency)
        assert result["stats"] is None
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)]
    a_year = await stats(shop, day - timedelta(days=365), day)
    assert a_year["errors"] == [] and a_year["stats"]["pointsOutstanding"] == 0
    daily = await shop.gql.data(DAILY, {"from": day.isoformat(),
                                        "to": (day - timedelta(days=3)).isoformat()},
                                token=shop.admin_token)
    assert daily["programmeStatsDaily"] == {"days": [], "errors": [
        {"code": "INVALID_PERIOD", "field": ["to"]}]}
    bad = await shop.gql.data(POINT_VALUE_SET, {"input": {"currency": "EUR", "points": 0,
                                                          "amount": -1}},
                              token=shop.admin_token)
    assert [e["field"] for e in bad["programmePointValueSet"]["errors"]] == [
        ["input", "points"], ["input", "amount"]]
    assert bad["programmePointValueSet"]["pointValues"] == []  # nothing was written
    assert (await shop.gql.data("{ pointValues { currency } }", token=shop.admin_token)) == {
        "pointValues": []}


async def test_only_administrators_read_the_figures_or_set_point_values(
    shop: RewardShop,
) -> None:
    ann = await shop.member("ann@example.com")
    tokens = shop.gql.state.services.authenticator.access_tokens
    staff = tokens.issue(Principal(subject_id="s1", role=Role.STAFF, store_id="PARIS")).token
    day = today(shop).isoformat()
    for token in (ann.access_token, staff, shop.shop.api_key, None):
        for query, variables in (
            (STATS, {"from": day, "to": day}), (DAILY, {"from": day, "to": day}),
            ("{ pointValues { currency } }", {}),
            (POINT_VALUE_SET, {"input": {"currency": "EUR", "amount": 1}}),
        ):
            body = await shop.gql.execute(query, variables, token=token)
            assert body["data"] is None
            assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN",
                                                               "UNAUTHENTICATED"}


async def test_the_figures_cost_the_same_round_trips_whatever_the_number_of_members(
    shop: RewardShop,
) -> None:
    commands = shop.gql.state.services.store.commands
    day = today(shop)

    async def round_trips() -> int:
        await stats(shop, day - timedelta(days=365), day, currency="EUR")  # warm caches
        before = commands.total
        assert (await stats(shop, day - timedelta(days=365), day, "EUR"))["errors"] == []
        return commands.total - before

    await shop.gql.data(POINT_VALUE_SET, {"input": {"currency": "EUR", "amount": 1}},
                        token=shop.admin_token)
    few = await round_trips()
    await shop.members(12, points=40)
    assert await round_trips() == few <= 10


async def test_concurrent_orders_and_redemptions_keep_the_roll_ups_exact(
    shop: RewardShop,
) -> None:
    members = await shop.members(6, points=100)
    tote = (await shop.create(title="Tote bag", cost=60, stock=4))["id"]
    orders = [shop.shop.record(shop.shop.order(f"racer{i % 6}@example.com", 1_000 + i))
              for i in range(18)]
    redemptions = [shop.redeem(member, tote) for member in members]
    await asyncio.gather(*orders, *redemptions)
    store = shop.gql.state.services.store
    assert await verify(store) == []
    day = today(shop)
    figures = (await stats(shop, day, day))["stats"]
    # 4 totes (stock) of 60 points; orders earn a point per euro: 10 × 18 + 0 + 1 + … + 17.
    assert figures["points"]["redeemed"] == 240
    assert figures["points"]["earned"] == 10 * 18
    assert figures["pointsOutstanding"] == 600 + 180 - 240


async def test_verify_finds_a_tampered_roll_up_and_rebuild_repairs_it(
    shop: RewardShop,
) -> None:
    await a_day_of_business(shop)
    store = shop.gql.state.services.store
    tampered = Tally()
    tampered.add(today(shop), "in.EARN", 7)

    async def tamper(session: Any) -> None:
        await add(store, session, tampered, member_id="someone")

    await store.transaction(tamper)
    found = [str(v) for v in await verify(store)]
    day = today(shop)
    assert found == [
        f"roll-ups = Σ ledger: d:{day.isoformat()}: in.EARN is 257, the records say 250",
        f"roll-ups = Σ ledger: m:{day:%Y-%m}: in.EARN is 257, the records say 250",
    ]
    # Today, this month, and the day and the month the points expire.
    assert await rollup_books.rebuild(store) == 4
    assert await verify(store) == []
    assert (await stats(shop, day, day))["stats"]["points"]["earned"] == 250


async def test_verify_while_the_shop_takes_orders_finds_nothing_wrong(
    shop: RewardShop,
) -> None:
    await shop.members(4, points=50)
    store = shop.gql.state.services.store

    async def orders() -> None:
        for i in range(12):
            payload = await shop.shop.record(shop.shop.order(f"racer{i % 4}@example.com", 500))
            assert payload["errors"] == []

    found, _ = await asyncio.gather(verify(store), orders())
    assert found == []
    assert await verify(store) == []


async def test_campaigns_show_their_budget_spent_and_left(shop: RewardShop) -> None:
    await shop.shop.rule({"name": "Launch bonus", "trigger": "ORDER",
                          "formula": {"kind": "FIXED", "points": 40},
                          "limits": {"budget": 60}})
    await shop.member("ann@example.com")
    for order in ("o-1", "o-2", "o-3"):
        assert (await shop.shop.record(shop.shop.order("ann@example.com", 1_000,
                                                       order_id=order)))["errors"] == []
    day = today(shop)
    figures = (await stats(shop, day, day))["stats"]
    assert figures["campaigns"] == [{"name": "Launch bonus", "active": True, "budget": 60,
                                     "spent": 60, "left": 0}]
    assert figures["points"]["earned"] == 3 * 10 + 60


async def test_verify_counts_older_records_batch_by_batch(
    shop: RewardShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records older than verify's margin are counted by the member batches, not the last
    snapshot: here every record is, as in a shop with history."""
    await a_day_of_business(shop)
    await shop.members(3, points=20)
    monkeypatch.setattr(loyalty.ledger.verify, "SNAPSHOT_MARGIN", timedelta(hours=-1))
    monkeypatch.setattr(loyalty.ledger.verify, "BATCH", 2)
    store = shop.gql.state.services.store
    assert await verify(store) == []
    assert await shop.give("racer0@example.com", 5) is None
    await store.collection("stats").update_one({"period": f"d:{today(shop).isoformat()}"},
                                               {"$inc": {"joined": 1}})
    assert [str(v) for v in await verify(store)] == [
        f"roll-ups = Σ ledger: d:{today(shop).isoformat()}: joined is 6, the records say 5"]


async def test_kizuna_stats_rebuild_restores_lost_roll_ups_and_last_activities(
    shop: RewardShop, settings: Settings
) -> None:
    await a_day_of_business(shop)
    store = shop.gql.state.services.store
    await store.collection("stats").delete_many({})
    await store.collection("members").update_many({}, {"$unset": {"last_activity_at": ""}})
    env = {"KIZUNA_MONGODB_URI": settings.mongodb_uri or "",
           "KIZUNA_DATABASE": settings.database, "KIZUNA_DATA_DIR": str(settings.data_dir)}
    broken = kizuna("verify", env=env)
    assert broken.returncode == 1
    assert "roll-ups = Σ ledger" in broken.stdout
    assert "last activity = latest earn or redemption" in broken.stdout
    rebuilt = kizuna("stats", "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt the roll-ups: 4 period(s)" in rebuilt.stdout
    assert kizuna("verify", env=env).stdout.strip().endswith("ok: no violation")
    day = today(shop)
    assert (await stats(shop, day, day))["stats"]["pointsOutstanding"] == 205


async def test_setting_a_point_value_is_audited(shop: RewardShop) -> None:
    for amount in (80, 90, None):
        await shop.gql.data(POINT_VALUE_SET, {"input": {"currency": "EUR", "points": 100,
                                                        "amount": amount}},
                            token=shop.admin_token)
    records = await audit_log(shop.gql, shop.admin_token, operation="programmePointValueSet")
    assert [changed(r) for r in records] == [
        {"point_values.EUR.points": (100, None), "point_values.EUR.amount": (90, None)},
        {"point_values.EUR.amount": (80, 90)},
        {"point_values.EUR.points": (None, 100), "point_values.EUR.amount": (None, 80)},
    ]
    assert {r["actor"]["role"] for r in records} == {"ADMIN"}
    assert (await shop.gql.data("{ pointValues { currency } }", token=shop.admin_token)) == {
        "pointValues": []}
