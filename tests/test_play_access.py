"""Who may run the play operations: administrators manage challenges, badges, leaderboards
and draws; only members join, enter and read their own. A member, a store's staff and an API
key are refused every administrator operation, and nothing is written."""

from typing import Any

import pytest

from tests.badge_support import BADGE_ARCHIVE, BADGE_CREATE, BADGE_GRANT, BADGE_REVOKE, BADGE_UPDATE
from tests.challenge_support import ARCHIVE, CREATE, JOIN, UPDATE, challenge, create
from tests.draw_support import DRAW_CLOSE, DRAW_CREATE, DRAW_ENTER, create_draw
from tests.leaderboard_support import BOARD_CREATE, LEAVE, WEEKLY, new_board
from tests.leaderboard_support import JOIN as BOARD_JOIN
from tests.ledger_support import Shop, open_shop
from tests.scanner_support import ScannerShop
from tests.support import GraphQLClient, SignedIn

BOARD_UPDATE = """mutation($input: LeaderboardUpdateInput!) { leaderboardUpdate(input: $input) {
  leaderboard { active } errors { code } } }"""
LISTS = """{ challenges(first: 5) { edges { node { id } } }
  badges(first: 5) { edges { node { id } } } }"""
OTHER = """query($id: ID!) { node(id: $id) { ... on Member {
  badges { earned } challenges { title progress } } } }"""
PLAY = ("challenges", "challenge_progress", "challenge_completions", "badges", "leaderboards",
        "leaderboard_scores", "draws", "draw_entrants", "draw_entries", "audit_log", "ledger")
Operations = dict[str, tuple[str, dict[str, Any]]]


async def _setting(gql: GraphQLClient) -> tuple[Shop, dict[str, Any]]:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    badge = (await gql.data(BADGE_CREATE, {"input": {"name": "Regular"}},
                            token=shop.admin.access_token))["badgeCreate"]["badge"]["id"]
    ids = {
        "challenge": await create(shop, challenge(shop, optIn=True)),
        "badge": badge,
        "board": await new_board(shop),
        "draw": (await create_draw(shop, prizes=[{"points": 50}], pricePoints=10))["draw"]["id"],
    }
    return shop, ids


def _admin_operations(shop: Shop, ids: dict[str, Any]) -> Operations:
    grant = {"member": {"email": "ann@example.com"}, "badgeId": ids["badge"],
             "reason": "Helped at the launch"}
    return {
        "challengeCreate": (CREATE, {"input": challenge(shop, title="Another")}),
        "challengeUpdate": (UPDATE, {"input": {**challenge(shop), "challenge": ids["challenge"]}}),
        "challengeArchive": (ARCHIVE, {"input": {"challenge": ids["challenge"]}}),
        "badgeCreate": (BADGE_CREATE, {"input": {"name": "Critic"}}),
        "badgeUpdate": (BADGE_UPDATE, {"input": {"badgeId": ids["badge"], "name": "Pro"}}),
        "badgeArchive": (BADGE_ARCHIVE, {"input": {"badgeId": ids["badge"]}}),
        "badgeGrant": (BADGE_GRANT, {"input": grant}),
        "badgeRevoke": (BADGE_REVOKE, {"input": grant}),
        "leaderboardCreate": (BOARD_CREATE, {"input": WEEKLY}),
        "leaderboardUpdate": (BOARD_UPDATE, {"input": {"leaderboard": ids["board"],
                                                       "active": False}}),
        "drawCreate": (DRAW_CREATE, {"input": {"title": "Spring draw",
                                               "closesAt": shop.later(minutes=10).isoformat(),
                                               "prizes": [{"points": 10}]}}),
        "drawClose": (DRAW_CLOSE, {"input": {"drawId": ids["draw"]}}),
        "challenges and badges lists": (LISTS, {}),
    }


def _member_operations(ids: dict[str, Any]) -> Operations:
    return {
        "challengeJoin": (JOIN, {"input": {"challenge": ids["challenge"]}}),
        "leaderboardJoin": (BOARD_JOIN, {"input": {"displayName": "Night Owl"}}),
        "leaderboardLeave": (LEAVE, {}),
        "drawEnter": (DRAW_ENTER, {"input": {"drawId": ids["draw"], "entries": 1,
                                             "idempotencyKey": "k-1"}}),
    }


async def _snapshot(shop: Shop) -> dict[str, list[dict[str, Any]]]:
    store = shop.gql.state.services.store
    found = {name: await store.collection(name).find({}).sort("_id", 1).to_list(None)
             for name in PLAY}
    found["members"] = await store.collection("members").find(
        {}, {"badges": 1, "challenges_joined": 1, "leaderboard": 1}).sort("_id", 1).to_list(None)
    return found


async def _callers(shop: Shop) -> dict[str, str]:
    staff_shop = ScannerShop(gql=shop.gql, admin=shop.admin)
    await staff_shop.store("PARIS-01")
    staff = await staff_shop.staff("sam@example.com", "PARIS-01", manager=True)
    member = await shop.gql.member("bob@example.com", name="Bob")
    return {"member": member.access_token, "staff": staff.access_token, "api key": shop.api_key}


def _refused(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


async def test_only_administrators_manage_play_and_nothing_is_written(
    gql: GraphQLClient, subtests: pytest.Subtests,
) -> None:
    shop, ids = await _setting(gql)
    callers = await _callers(shop)
    before = await _snapshot(shop)

    for name, (query, variables) in _admin_operations(shop, ids).items():
        for caller, token in callers.items():
            with subtests.test(operation=name, caller=caller):
                body = await gql.execute(query, variables, token=token)
                assert body["data"] is None
                assert _refused(body) == ["FORBIDDEN"]
    assert await _snapshot(shop) == before


async def test_only_members_join_and_enter_and_nothing_is_written(
    gql: GraphQLClient, subtests: pytest.Subtests,
) -> None:
    shop, ids = await _setting(gql)
    callers = await _callers(shop)
    callers = {"administrator": shop.admin.access_token, "staff": callers["staff"],
               "api key": callers["api key"]}
    before = await _snapshot(shop)

    for name, (query, variables) in _member_operations(ids).items():
        for caller, token in callers.items():
            with subtests.test(operation=name, caller=caller):
                body = await gql.execute(query, variables, token=token)
                assert body["data"] is None
                assert _refused(body) == ["FORBIDDEN"]
    assert await _snapshot(shop) == before


async def test_a_member_cannot_read_another_members_badges_or_challenges(
    gql: GraphQLClient,
) -> None:
    shop, ids = await _setting(gql)
    ann = await shop.sign_in("ann@example.com")
    await gql.data(BADGE_GRANT, {"input": {"member": {"email": "ann@example.com"},
                                           "badgeId": ids["badge"], "reason": "Launch day"}},
                   token=shop.admin.access_token)
    me = await gql.data("{ me { id } }", token=ann.access_token)
    bob: SignedIn = await gql.member("bob@example.com", name="Bob")

    body = await gql.execute(OTHER, {"id": me["me"]["id"]}, token=bob.access_token)
    assert body["data"] == {"node": None}
    own = await gql.data(OTHER, {"id": me["me"]["id"]}, token=ann.access_token)
    assert [b["earned"] for b in own["node"]["badges"]] == [True]
