"""Leaderboards: the naming rules on their own, races for a name, actions and the end of a
period, archived boards, audited changes, challenge-progress boards."""

import asyncio

from strawberry import relay

from api.settings import Settings
from loyalty.play.leaderboard_names import (
    DisplayNameNotAllowed,
    check_display_name,
    comparison_form,
    parse_blocklist,
)
from tests.challenge_support import challenge, create
from tests.leaderboard_support import (
    board,
    board_shop,
    create_board,
    earn,
    join,
    joined,
    new_board,
)
from tests.support import GraphQLClient

ACTION = """mutation($input: ActionRecordInput!) { actionRecord(input: $input) {
  pointsEarned errors { code } } }"""
UPDATE = """mutation($input: LeaderboardUpdateInput!) { leaderboardUpdate(input: $input) {
  leaderboard { name active } errors { code field } } }"""
LIST = "query($archived: Boolean!) { leaderboards(archived: $archived) { name active } }"
AUDIT = """{ auditLog(operation: "leaderboardUpdate", first: 5) { edges { node { operation
  changes { field before after } } } } }"""


def _refused(name: str, *, own: tuple[str, ...] = (), words: str | None = None) -> bool:
    try:
        check_display_name(name, blocklist=parse_blocklist(words), own=own)
    except DisplayNameNotAllowed:
        return True
    return False


def test_blocked_words_are_found_through_leet_accents_case_and_separators() -> None:
    assert comparison_form("4dm1n") == "admin"
    assert comparison_form("S.t.a.f.f") == "staff"
    assert comparison_form("Ŝüppört") == "support"
    assert comparison_form("KlZUNA") == comparison_form("kizuna")
    for name in ("4dm1n", "Real Admin", "s_t_a_f_f", "$upp0rt Team", "0ff1c1al", "M0D3RAT0R",
                 "kizuna fan", "KlZUNA"):
        assert _refused(name), name
    for name in ("Speedy Ann", "Fox 42", "Night_Owl", "Le Chat"):
        assert not _refused(name), name


def test_the_blocklist_setting_adds_to_the_built_in_words() -> None:
    settings = Settings.from_env({"KIZUNA_LEADERBOARD_NAME_BLOCKLIST": "banana, =ch3rry"})
    words = parse_blocklist(settings.leaderboard_name_blocklist)
    assert words[-2:] == (comparison_form("banana"), "=" + comparison_form("cherry"))
    assert set(parse_blocklist(None)) < set(words)
    assert _refused("B4N4NA split", words=settings.leaderboard_name_blocklist)
    assert _refused("Bananas", words=settings.leaderboard_name_blocklist)  # anywhere
    assert _refused("Cherry Pie", words=settings.leaderboard_name_blocklist)  # a whole word
    assert not _refused("Cherryl", words=settings.leaderboard_name_blocklist)
    assert _refused("Admin Fan", words=settings.leaderboard_name_blocklist)  # still built in
    assert Settings.from_env({}).leaderboard_name_blocklist is None


def test_own_name_and_email_and_email_shapes_are_refused() -> None:
    own = ("Jane Doe", "j.doe@example.org")
    assert _refused("JaneDoe", own=own)
    assert _refused("jane-doe", own=own)
    assert _refused("J Doe", own=own)  # the e-mail's local part
    assert not _refused("Jane Runner", own=own)
    assert _refused("someone@shop")
    assert _refused("fox.example.com")


async def test_members_racing_for_one_name_get_it_once(gql: GraphQLClient) -> None:
    await board_shop(gql)
    members = [await gql.member(email=f"m{n}@example.com", name=f"M{n}") for n in range(6)]

    results = await asyncio.gather(*(join(gql, m, f"Lucky Star{'' if n % 2 else ' '}")
                                     for n, m in enumerate(members)))

    codes = sorted(r["errors"][0]["code"] if r["errors"] else "OK" for r in results)
    assert codes == ["DISPLAY_NAME_TAKEN"] * 5 + ["OK"]
    store = gql.state.services.store
    assert await store.collection("members").count_documents(
        {"leaderboard.key": "lucky star"}) == 1


async def test_actions_score_and_an_ended_period_stops_moving(gql: GraphQLClient) -> None:
    shop = await board_shop(gql)
    await shop.rule({"name": "Reviews", "trigger": "ACTION", "actionType": "REVIEW",
                     "formula": {"kind": "FIXED", "points": 25}})
    board_id = await new_board(shop)
    ann = await joined(gql, "ann@example.com", "Review Queen")
    action = {"member": {"email": "ann@example.com"}, "type": "REVIEW", "reference": "r-1"}
    recorded = await gql.data(ACTION, {"input": action}, token=shop.api_key)
    assert recorded["actionRecord"]["pointsEarned"] == 25
    order = shop.order("ann@example.com", 4_000)
    assert (await shop.record(order))["errors"] == []
    assert (await board(gql, board_id, ann))["me"] == {"rank": 1, "score": 65}

    await shop.advance(days=7)  # next week: last week's scores are final
    ann = await shop.sign_in("ann@example.com")
    assert (await shop.refund(order["orderId"], "r-late", amount=4_000))["errors"] == []
    late = shop.order("ann@example.com", 9_900, at=shop.later(days=-6))
    assert (await shop.record(late))["errors"] == []
    scores = gql.state.services.store.collection("leaderboard_scores")
    assert [d["score"] for d in await scores.find({}).sort("period", 1).to_list(None)] == [65]
    assert (await board(gql, board_id, ann))["me"] == {"rank": None, "score": 0}


async def test_an_archived_board_is_hidden_from_members_and_the_change_is_audited(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    board_id = await new_board(shop)
    ann = await joined(gql, "ann@example.com", "Archivist")
    admin = shop.admin.access_token
    changed = await gql.data(UPDATE, {"input": {"leaderboard": board_id, "active": False,
                                                "name": "Old board"}}, token=admin)
    assert changed["leaderboardUpdate"] == {
        "leaderboard": {"name": "Old board", "active": False}, "errors": []}

    as_member = await gql.data(LIST, {"archived": True}, token=ann.access_token)
    assert as_member["leaderboards"] == []
    found = await gql.data("query($id: ID!) { leaderboard(id: $id) { name } }",
                           {"id": board_id}, token=ann.access_token)
    assert found["leaderboard"] is None
    as_admin = await gql.data(LIST, {"archived": True}, token=admin)
    assert as_admin["leaderboards"] == [{"name": "Old board", "active": False}]
    bad = await gql.data(UPDATE, {"input": {"leaderboard": board_id, "places": 500}},
                         token=admin)
    assert bad["leaderboardUpdate"]["errors"] == [
        {"code": "INVALID_LEADERBOARD", "field": ["input", "places"]}]
    audit = await gql.data(AUDIT, token=admin)
    records = [edge["node"] for edge in audit["auditLog"]["edges"]]
    assert len(records) == 1
    fields = {c["field"] for c in records[0]["changes"]}
    assert {"active", "name"} <= fields


async def test_a_challenge_board_ranks_by_the_challenge_progress_orders_and_refunds_make(
    gql: GraphQLClient,
) -> None:
    shop = await board_shop(gql)
    unknown = await create_board(shop, {
        "name": "Nobody's", "metric": "CHALLENGE_PROGRESS", "periodKind": "MONTH",
        "challenge": str(relay.GlobalID("Challenge", "no-such-challenge"))})
    assert [e["code"] for e in unknown["errors"]] == ["UNKNOWN_CHALLENGE"]
    challenge_id = await create(shop, challenge(shop, title="Five orders", target=5,
                                                recurrence="MONTH"))
    board_id = await new_board(shop, {
        "name": "Regulars", "metric": "CHALLENGE_PROGRESS", "periodKind": "MONTH",
        "challenge": challenge_id})
    ann = await joined(gql, "ann@example.com", "Busy Bee")
    await joined(gql, "bob@example.com", "Night Owl")
    for order_id in ("A-1", "A-2", "A-3"):
        assert (await shop.record(shop.order("ann@example.com", 1500,
                                             order_id=order_id)))["errors"] == []
    await earn(shop, "bob@example.com", 90)  # many points, but one order: progress 1
    seen = await board(gql, board_id, ann)
    assert seen["me"] == {"rank": 1, "score": 3}
    assert [(e["displayName"], e["score"]) for e in seen["top"]] == [
        ("Busy Bee", 3), ("Night Owl", 1)]

    assert (await shop.refund("A-3", "R-1", amount=1500))["errors"] == []
    assert (await board(gql, board_id, ann))["me"] == {"rank": 1, "score": 2}
    assert await shop.violations() == []
