"""Leaderboards in tests: a shop with a weekly points board, members who join it."""

from typing import Any

from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import GraphQLClient, SignedIn

BOARD_CREATE = """
mutation($input: LeaderboardCreateInput!) { leaderboardCreate(input: $input) {
  leaderboard { id name metric periodKind places active
    prizes { fromRank toRank gift { points voucher { title } } } }
  errors { code message field } } }"""

JOIN = """
mutation($input: LeaderboardJoinInput!) { leaderboardJoin(input: $input) {
  player { displayName } errors { code message field } } }"""

LEAVE = "mutation { leaderboardLeave { left errors { code } } }"

BOARD = """
query($id: ID!, $first: Int!) { leaderboard(id: $id) {
  name currentPeriod { key endsAt } top(first: $first) { rank displayName score isMe }
  me { rank score } } }"""

WEEKLY = {"name": "Top earners this week", "metric": "POINTS_EARNED", "periodKind": "WEEK",
          "places": 10}


async def board_shop(gql: GraphQLClient) -> Shop:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    return shop


async def create_board(shop: Shop, board: dict[str, Any] | None = None) -> dict[str, Any]:
    data = await shop.gql.data(BOARD_CREATE, {"input": board or WEEKLY},
                               token=shop.admin.access_token)
    payload: dict[str, Any] = data["leaderboardCreate"]
    return payload


async def new_board(shop: Shop, board: dict[str, Any] | None = None) -> str:
    payload = await create_board(shop, board)
    assert payload["errors"] == [], payload
    board_id: str = payload["leaderboard"]["id"]
    return board_id


async def join(gql: GraphQLClient, member: SignedIn, name: str) -> dict[str, Any]:
    data = await gql.data(JOIN, {"input": {"displayName": name}}, token=member.access_token)
    payload: dict[str, Any] = data["leaderboardJoin"]
    return payload


async def joined(gql: GraphQLClient, email: str, display_name: str,
                 name: str = "Someone") -> SignedIn:
    member = await gql.member(email=email, name=name)
    payload = await join(gql, member, display_name)
    assert payload["errors"] == [], payload
    return member


async def board(gql: GraphQLClient, board_id: str, member: SignedIn,
                first: int = 10) -> dict[str, Any]:
    data = await gql.data(BOARD, {"id": board_id, "first": first}, token=member.access_token)
    found: dict[str, Any] = data["leaderboard"]
    return found


async def earn(shop: Shop, email: str, euros: int) -> None:
    payload = await shop.record(shop.order(email, euros * 100))
    assert payload["errors"] == [], payload
