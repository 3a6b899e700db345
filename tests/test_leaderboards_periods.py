"""Leaderboards: a challenge board ranks the board's own period, an archived board gives no
prizes for the periods it was archived over, and a period closes only after a grace."""

from datetime import timedelta
from typing import Any

from strawberry import relay

from loyalty.play.leaderboard_prizes import CLOSE_GRACE, close_due_periods
from tests.challenge_support import challenge, create
from tests.leaderboard_support import board, board_shop, create_board, earn, joined, new_board
from tests.support import GraphQLClient

UPDATE = """mutation($input: LeaderboardUpdateInput!) { leaderboardUpdate(input: $input) {
  leaderboard { active } errors { code field } } }"""


def _challenge_board(challenge_id: str, period: str) -> dict[str, Any]:
    return {"name": "Regulars", "metric": "CHALLENGE_PROGRESS", "periodKind": period,
            "challenge": challenge_id}


async def test_a_challenge_board_needs_a_challenge_that_restarts_with_its_period(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    once = await create(shop, challenge(shop, title="Ten orders", target=10))
    monthly = await create(shop, challenge(shop, title="Monthly", recurrence="MONTH"))
    weekly = await create(shop, challenge(shop, title="Weekly", recurrence="WEEK"))
    for challenge_id, period in ((once, "WEEK"), (once, "MONTH"), (monthly, "WEEK"),
                                 (weekly, "MONTH")):
        refused = await create_board(shop, _challenge_board(challenge_id, period))
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [
            ("INVALID_LEADERBOARD", ["input", "challenge"])], (challenge_id, period)
    store = gql.state.services.store
    assert await store.collection("leaderboards").count_documents({}) == 0
    assert (await create_board(shop, _challenge_board(weekly, "WEEK")))["errors"] == []
    assert (await create_board(shop, _challenge_board(monthly, "MONTH")))["errors"] == []


async def test_a_weekly_challenge_board_ranks_only_this_weeks_progress(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    weekly = await create(shop, challenge(
        shop, title="Ten orders a week", target=10, recurrence="WEEK",
        startsAt=(shop.now() - timedelta(days=20)).isoformat()))
    board_id = await new_board(shop, _challenge_board(weekly, "WEEK"))
    ann = await joined(gql, "ann@example.com", "Busy Bee")
    await joined(gql, "bob@example.com", "Night Owl")
    for n in range(6):  # last week's orders: last week's progress, never this week's
        assert (await shop.record(shop.order("ann@example.com", 1500, order_id=f"A{n}",
                                             at=shop.later(days=-8))))["errors"] == []
    for n in range(3):
        assert (await shop.record(shop.order("bob@example.com", 1500,
                                             order_id=f"B{n}")))["errors"] == []
    assert (await shop.record(shop.order("ann@example.com", 1500,
                                         order_id="A-now")))["errors"] == []

    seen = await board(gql, board_id, ann)
    assert [(e["displayName"], e["score"]) for e in seen["top"]] == [
        ("Night Owl", 3), ("Busy Bee", 1)]
    assert seen["me"] == {"rank": 2, "score": 1}
    scores = gql.state.services.store.collection("leaderboard_scores")
    assert {d["period"] for d in await scores.find({}).to_list(None)} == {
        seen["currentPeriod"]["key"]}


PRIZED = {"name": "Weekly", "metric": "POINTS_EARNED", "periodKind": "WEEK", "places": 5,
          "prizes": [{"fromRank": 1, "toRank": 1, "gift": {"points": 500}}]}


async def _prize_gifts(gql: GraphQLClient) -> list[dict[str, Any]]:
    store = gql.state.services.store
    return await store.collection("gifts").find({"occasion": "LEADERBOARD"}).sort(
        "_id", 1).to_list(None)


async def test_a_board_brought_back_gives_no_prizes_for_the_weeks_it_was_archived_over(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    board_id = await new_board(shop, PRIZED)
    ann = await joined(gql, "ann@example.com", "Ann Winner")
    await earn(shop, "ann@example.com", 90)
    archived_week = (await board(gql, board_id, ann))["currentPeriod"]["key"]
    store, clock = gql.state.services.store, gql.state.services.clock
    archive = {"leaderboard": board_id, "active": False}
    assert (await gql.data(UPDATE, {"input": archive},
                           token=shop.admin.access_token))["leaderboardUpdate"]["errors"] == []

    await shop.advance(days=7)  # the week ends while the board is archived
    assert (await close_due_periods(store, clock=clock)).periods == 0
    back = {"leaderboard": board_id, "active": True}
    assert (await gql.data(UPDATE, {"input": back},
                           token=shop.admin.access_token))["leaderboardUpdate"]["errors"] == []
    ann = await shop.sign_in("ann@example.com")
    await earn(shop, "ann@example.com", 30)
    paid_week = (await board(gql, board_id, ann))["currentPeriod"]["key"]
    await shop.advance(days=7)
    closed = await close_due_periods(store, clock=clock)

    assert (closed.periods, closed.prizes) == (2, 1)
    gifts = await _prize_gifts(gql)
    assert [(g["details"]["period"], g["details"]["score"]) for g in gifts] == [
        (paid_week, 30)]
    records = {d["period"]: d for d in await store.collection(
        "leaderboard_periods").find({}).to_list(None)}
    assert records[archived_week]["winners"] == [] and records[archived_week]["skipped"]
    assert (await close_due_periods(store, clock=clock)).periods == 0
    assert await shop.violations() == []


async def test_a_period_closes_only_after_the_grace_for_late_commits(gql: GraphQLClient) -> None:
    shop = await board_shop(gql)
    board_id = await new_board(shop, PRIZED)
    ann = await joined(gql, "ann@example.com", "Ann Winner")
    await earn(shop, "ann@example.com", 90)
    period = (await board(gql, board_id, ann))["currentPeriod"]
    store, clock = gql.state.services.store, gql.state.services.clock
    ends_at = shop.now().fromisoformat(period["endsAt"])

    await shop.advance(seconds=(ends_at - shop.now()).total_seconds() + 1)
    assert (await close_due_periods(store, clock=clock)).periods == 0  # ended, not closed
    await shop.advance(seconds=CLOSE_GRACE.total_seconds() - 2)
    assert (await close_due_periods(store, clock=clock)).periods == 0
    await shop.advance(seconds=2)
    assert (await close_due_periods(store, clock=clock)).prizes == 1
    assert [g["details"]["period"] for g in await _prize_gifts(gql)] == [period["key"]]


MINE = "{ leaderboards { name me { rank score } } }"


async def test_the_callers_places_on_all_boards_are_read_in_one_batch(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    for n in range(5):
        await new_board(shop, {**PRIZED, "name": f"Board {n}", "prizes": []})
    await new_board(shop, {**PRIZED, "name": "Monthly", "periodKind": "MONTH", "prizes": []})
    ann = await joined(gql, "ann@example.com", "Ann Winner")
    bob = await joined(gql, "bob@example.com", "Bob Second")
    await earn(shop, "ann@example.com", 40)
    await earn(shop, "bob@example.com", 90)
    carl = await gql.member(email="carl@example.com", name="Carl")  # did not join
    commands = gql.state.services.store.commands
    await gql.data(MINE, token=ann.access_token)  # the boards and programme are now cached

    async def cost(member: Any) -> tuple[list[Any], dict[str, int]]:
        before = dict(commands.by_name)
        data = await gql.data(MINE, token=member.access_token)
        return data["leaderboards"], {name: count - before.get(name, 0)
                                      for name, count in commands.by_name.items()
                                      if count != before.get(name, 0)}

    boards, spent = await cost(ann)
    assert [b["me"] for b in boards] == [{"rank": 2, "score": 40}] * 6
    # One read of Ann's six score documents, then two range counts per board.
    assert spent == {"find": 1, "count": 12}
    await joined(gql, "dora@example.com", "Dora Nought")
    dora = await shop.sign_in("dora@example.com")
    boards, spent = await cost(dora)
    assert [b["me"] for b in boards] == [{"rank": None, "score": 0}] * 6
    assert spent == {"find": 2}  # her (absent) scores and her player record
    boards, spent = await cost(carl)
    assert [b["me"] for b in boards] == [None] * 6 and spent == {"find": 2}
    assert (await gql.data(MINE, token=bob.access_token))["leaderboards"][0]["me"] == {
        "rank": 1, "score": 90}


async def test_verify_finds_an_older_challenge_board_whose_challenge_recurs_otherwise(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    once = await create(shop, challenge(shop, title="Ten orders", target=10))
    board_id = await new_board(shop, {**PRIZED, "prizes": []})
    boards = gql.state.services.store.collection("leaderboards")
    assert await shop.violations() == []
    await boards.update_one({"_id": relay.GlobalID.from_id(board_id).node_id}, {"$set": {
        "metric": "CHALLENGE_PROGRESS",
        "challenge_id": relay.GlobalID.from_id(once).node_id}})  # made before the rule

    assert any("recurs with its period" in v for v in await shop.violations())
