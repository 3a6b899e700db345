"""Leaderboards over HTTP: joining with a display name, scores moving with orders and
refunds, the top places and my rank, prizes once when a period closes, erasure."""

import asyncio
from typing import Any

from loyalty.play.leaderboard_prizes import close_due_periods
from tests.leaderboard_support import (
    LEAVE,
    board,
    board_shop,
    create_board,
    earn,
    join,
    joined,
    new_board,
)
from tests.ledger_support import Shop
from tests.support import GraphQLClient

PLAYER = "{ leaderboardPlayer { displayName } }"


async def _leaderboard_docs(gql: GraphQLClient) -> tuple[int, int]:
    store = gql.state.services.store
    names = await store.collection("members").count_documents({"leaderboard": {"$exists": 1}})
    scores = await store.collection("leaderboard_scores").count_documents({})
    return names, scores


async def test_a_member_joins_with_a_good_name_and_bad_names_write_nothing(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    await joined(gql, "bob@example.com", "Speedy Bob")
    ann = await gql.member(email="ann.smith@example.com", name="Ann Smith")
    before = await _leaderboard_docs(gql)

    bad = {
        "ann@example.com": "DISPLAY_NAME_NOT_ALLOWED",  # an e-mail
        "shop.example.com": "DISPLAY_NAME_NOT_ALLOWED",  # looks like one
        "Th3 4dm1n": "DISPLAY_NAME_NOT_ALLOWED",  # a blocked word in leet
        "S.t.a.f.f Ann": "DISPLAY_NAME_NOT_ALLOWED",  # staff impersonation, separated
        "Kizuna_Support": "DISPLAY_NAME_NOT_ALLOWED",
        "AnnSmith": "DISPLAY_NAME_NOT_ALLOWED",  # her own name
        "ann.smith": "DISPLAY_NAME_NOT_ALLOWED",  # her e-mail's local part
        "ab": "DISPLAY_NAME_NOT_ALLOWED",  # too short
        "<script>": "DISPLAY_NAME_NOT_ALLOWED",
        "speedy_BOB": "DISPLAY_NAME_TAKEN",  # Bob's, in another case and separator
    }
    for name, code in bad.items():
        payload = await join(gql, ann, name)
        assert [e["code"] for e in payload["errors"]] == [code], (name, payload)
        assert payload["errors"][0]["field"] == ["input", "displayName"]
        assert payload["player"] is None

    assert await _leaderboard_docs(gql) == before
    assert (await gql.data(PLAYER, token=ann.access_token))["leaderboardPlayer"] is None
    good = await join(gql, ann, "  Quick   Fox ")
    assert good == {"player": {"displayName": "Quick Fox"}, "errors": []}
    renamed = await join(gql, ann, "Quicker Fox")
    assert renamed["player"] == {"displayName": "Quicker Fox"}
    assert (await gql.data(PLAYER, token=ann.access_token))["leaderboardPlayer"] == {
        "displayName": "Quicker Fox"}
    assert shop.api_key


async def test_bad_boards_are_typed_errors_and_write_nothing(gql: GraphQLClient) -> None:
    shop = await board_shop(gql)
    cases: list[tuple[dict[str, Any], str, list[str]]] = [
        ({"places": 0}, "INVALID_LEADERBOARD", ["input", "places"]),
        ({"metric": "CHALLENGE_PROGRESS"}, "INVALID_LEADERBOARD", ["input", "challenge"]),
        ({"prizes": [{"fromRank": 1, "toRank": 3, "gift": {"points": 100}},
                     {"fromRank": 3, "toRank": 4, "gift": {"points": 50}}]},
         "INVALID_LEADERBOARD", ["input", "prizes", "1", "fromRank"]),
        ({"prizes": [{"fromRank": 1, "toRank": 1, "gift": {"voucher": {
            "kind": "AMOUNT_OFF", "title": "5 off", "amountOff": 500, "currency": "XXX",
            "validDays": 30}}}]}, "UNKNOWN_CURRENCY", None),  # type: ignore[list-item]
    ]
    for change, code, field in cases:
        payload = await create_board(shop, {"name": "Bad", "metric": "POINTS_EARNED",
                                            "periodKind": "WEEK", **change})
        assert [e["code"] for e in payload["errors"]] == [code], payload
        if field is not None:
            assert payload["errors"][0]["field"] == field
    assert await gql.state.services.store.collection("leaderboards").count_documents({}) == 0


async def test_scores_move_with_orders_and_refunds_and_members_not_joined_are_never_listed(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    board_id = await new_board(shop)
    ann = await joined(gql, "ann@example.com", "Ann the Fox")
    carl = await gql.member(email="carl@example.com", name="Carl")  # never joins

    order = shop.order("ann@example.com", 12_000)
    assert (await shop.record(order))["errors"] == []
    await earn(shop, "carl@example.com", 500)
    await shop.adjust("ann@example.com", 1_000)  # admin adjustments do not count

    seen = await board(gql, board_id, ann)
    assert seen["top"] == [{"rank": 1, "displayName": "Ann the Fox", "score": 120,
                            "isMe": True}]
    assert seen["me"] == {"rank": 1, "score": 120}
    refunded = await shop.refund(order["orderId"], "r-1", amount=5_000)
    assert refunded["errors"] == [] and refunded["pointsReversed"] == 50
    assert (await board(gql, board_id, ann))["me"] == {"rank": 1, "score": 70}
    as_carl = await board(gql, board_id, carl)
    assert as_carl["me"] is None
    assert [e["displayName"] for e in as_carl["top"]] == ["Ann the Fox"]
    assert "carl" not in str(as_carl).lower()

    await gql.data(LEAVE, token=ann.access_token)
    await earn(shop, "ann@example.com", 10)
    left = await board(gql, board_id, ann)
    assert left["top"] == [] and left["me"] is None
    assert await shop.violations() == []


async def test_top_places_and_my_rank_use_competition_ranking_with_ties(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    board_id = await new_board(shop)
    members = {}
    for who in ("ann", "bob", "carl", "dora", "emil"):
        members[who] = await joined(gql, f"{who}@example.com", f"Player {who}")
    # The clock stands still: Ann and Bob reach 50 at the same instant and share a rank.
    await earn(shop, "ann@example.com", 50)
    await earn(shop, "bob@example.com", 50)
    await shop.advance(minutes=1)
    await earn(shop, "carl@example.com", 80)
    await shop.advance(minutes=1)
    await earn(shop, "dora@example.com", 50)  # 50 too, but reached later: behind Ann and Bob

    seen = await board(gql, board_id, members["dora"])
    assert [(e["rank"], e["displayName"], e["score"]) for e in seen["top"]] == [
        (1, "Player carl", 80), (2, "Player ann", 50), (2, "Player bob", 50),
        (4, "Player dora", 50)]
    assert [e["isMe"] for e in seen["top"]] == [False, False, False, True]
    assert seen["me"] == {"rank": 4, "score": 50}
    assert (await board(gql, board_id, members["bob"]))["me"] == {"rank": 2, "score": 50}
    assert (await board(gql, board_id, members["emil"]))["me"] == {"rank": None, "score": 0}
    assert len((await board(gql, board_id, members["emil"], first=2))["top"]) == 2


async def _gifts(shop: Shop) -> list[dict[str, Any]]:
    store = shop.gql.state.services.store
    return await store.collection("gifts").find({"occasion": "LEADERBOARD"}).sort(
        "_id", 1).to_list(None)


async def test_closing_a_period_grants_its_prizes_once_when_the_job_runs_concurrently(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    board_id = await new_board(shop, {
        "name": "Weekly", "metric": "POINTS_EARNED", "periodKind": "WEEK", "places": 5,
        "prizes": [{"fromRank": 1, "toRank": 1, "gift": {"points": 500}},
                   {"fromRank": 2, "toRank": 2, "gift": {"voucher": {
                       "kind": "AMOUNT_OFF", "title": "5 EUR off", "amountOff": 500,
                       "currency": "EUR", "validDays": 30}}}]})
    ann = await joined(gql, "ann@example.com", "Ann Winner")
    await joined(gql, "bob@example.com", "Bob Second")
    await joined(gql, "carl@example.com", "Carl Third")
    await earn(shop, "ann@example.com", 90)
    await earn(shop, "bob@example.com", 60)
    await earn(shop, "carl@example.com", 30)
    period = (await board(gql, board_id, ann))["currentPeriod"]["key"]
    store, clock = gql.state.services.store, gql.state.services.clock

    early = await close_due_periods(store, clock=clock)
    assert early.periods == 0 and await _gifts(shop) == []
    await shop.advance(days=7)
    runs = await asyncio.gather(*(close_due_periods(store, clock=clock) for _ in range(6)))

    assert sum(run.periods for run in runs) == 1
    assert sum(run.prizes for run in runs) == 2
    gifts = await _gifts(shop)
    assert len(gifts) == 2
    assert [g["details"]["rank"] for g in gifts] == [1, 2]
    assert gifts[0]["gift"]["points"] == 500 and gifts[0]["status"] == "GRANTED"
    assert gifts[1]["gift"]["voucher"]["title"] == "5 EUR off"
    assert all(g["_id"].startswith("leaderboard:") and period in g["_id"] for g in gifts)
    ann = await shop.sign_in("ann@example.com")
    assert (await shop.points(ann))["balance"] == 90 + 500
    events = await store.collection("events").find(
        {"type": "leaderboard.prize_awarded"}).to_list(None)
    assert sorted(e["data"]["rank"] for e in events) == [1, 2]
    assert all("Ann" not in str(e["data"]) for e in events)
    again = await close_due_periods(store, clock=clock)
    assert again.periods == 0 and len(await _gifts(shop)) == 2
    assert await shop.violations() == []


async def test_verify_finds_a_prize_gift_no_closed_period_lists(gql: GraphQLClient) -> None:
    shop = await board_shop(gql)
    store = gql.state.services.store
    await store.collection("gifts").insert_one({
        "_id": "leaderboard:nope:2026-W48:1:someone", "member_id": "someone",
        "occasion": "LEADERBOARD", "gift": {"points": 5, "voucher": None},
        "status": "GRANTED", "created_at": shop.now()})
    assert any("closed period" in v for v in await shop.violations())


async def test_erasure_removes_the_display_name_and_scores_and_the_export_has_them(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    board_id = await new_board(shop)
    ann = await joined(gql, "ann@example.com", "Hidden Fox", name="Ann")
    await earn(shop, "ann@example.com", 40)
    export = (await gql.data("{ myDataExport }", token=ann.access_token))["myDataExport"]
    assert "Hidden Fox" in str(export["sections"]["leaderboard_name"])
    assert [s["score"] for s in export["sections"]["leaderboard_scores"]] == [40]

    data = await gql.data(
        """mutation($input: AccountDeleteInput!) { accountDelete(input: $input) {
             deleted errors { code } } }""",
        {"input": {"password": "correct horse battery staple"}}, token=ann.access_token)
    assert data["accountDelete"]["errors"] == [], data

    store = gql.state.services.store
    assert await store.collection("leaderboard_scores").count_documents({}) == 0
    assert await store.collection("members").count_documents(
        {"leaderboard": {"$exists": True}}) == 0
    bob = await joined(gql, "bob@example.com", "Hidden Fox")  # the name is free again
    assert (await board(gql, board_id, bob))["top"] == []
