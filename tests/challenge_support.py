"""Challenges in tests: an admin defines them over GraphQL, members read `me { challenges }`."""

from datetime import datetime, timedelta
from typing import Any

from tests.ledger_support import Shop
from tests.support import SignedIn

CREATE = """mutation($input: ChallengeInput!) { challengeCreate(input: $input) {
  challenge { id title kind target active reward { inWords } }
  errors { code message field } } }"""

UPDATE = """mutation($input: ChallengeUpdateInput!) { challengeUpdate(input: $input) {
  challenge { id title target } errors { code message field } } }"""

ARCHIVE = """mutation($input: ChallengeArchiveInput!) { challengeArchive(input: $input) {
  challenge { id active } errors { code message field } } }"""

JOIN = """mutation($input: ChallengeJoinInput!) { challengeJoin(input: $input) {
  challenge { id needsJoining joinedAt } errors { code message field } } }"""

MINE = """{ me { challenges { id title description kind progress target period endsAt
  completedAt reward needsJoining joinedAt nextStep } } }"""

ACTION = """mutation($input: ActionRecordInput!) { actionRecord(input: $input) {
  pointsEarned replayed errors { code field } } }"""


def challenge(shop: Shop, **fields: Any) -> dict[str, Any]:
    """A valid ORDER_COUNT challenge over the next 30 days giving 100 points, with `fields`
    replacing any of its own."""
    base: dict[str, Any] = {
        "title": "Three orders", "description": "Order three times this month.",
        "kind": "ORDER_COUNT", "target": 3,
        "startsAt": _iso(shop.now() - timedelta(days=1)),
        "endsAt": _iso(shop.now() + timedelta(days=30)),
        "reward": {"points": 100},
    }
    return {**base, **fields}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def create(shop: Shop, fields: dict[str, Any]) -> str:
    payload = await create_payload(shop, fields)
    assert payload["errors"] == [], payload
    challenge_id: str = payload["challenge"]["id"]
    return challenge_id


async def create_payload(shop: Shop, fields: dict[str, Any]) -> dict[str, Any]:
    data = await shop.gql.data(CREATE, {"input": fields}, token=shop.admin.access_token)
    payload: dict[str, Any] = data["challengeCreate"]
    return payload


async def mine(shop: Shop, member: SignedIn) -> dict[str, dict[str, Any]]:
    """The member's challenges by title."""
    data = await shop.gql.data(MINE, token=member.access_token)
    return {c["title"]: c for c in data["me"]["challenges"]}


async def action(shop: Shop, email: str, kind: str, reference: str) -> dict[str, Any]:
    data = await shop.gql.data(ACTION, {"input": {"member": {"email": email}, "type": kind,
                                                  "reference": reference}},
                               token=shop.api_key)
    payload: dict[str, Any] = data["actionRecord"]
    return payload


async def join(shop: Shop, member: SignedIn, challenge_id: str) -> dict[str, Any]:
    data = await shop.gql.data(JOIN, {"input": {"challenge": challenge_id}},
                               token=member.access_token)
    payload: dict[str, Any] = data["challengeJoin"]
    return payload


async def documents(shop: Shop, collection: str, query: dict[str, Any] | None = None) -> (
    list[dict[str, Any]]
):
    cursor = shop.gql.state.services.store.collection(collection).find(query or {})
    return [doc async for doc in cursor]
