"""order-earn --challenges N: N active challenges of mixed kinds that every bench order
qualifies for, created through the API (challengeCreate) by the bench's administrator.

Targets are far beyond what a run reaches, so every order moves every challenge's progress
and none completes: the figure is the cost of progress, the path every qualifying order
takes (a completion is one order per member and challenge period).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.graphql import BenchError, GraphQLRequest, execute

CREATE = """mutation($input: ChallengeInput!) { challengeCreate(input: $input) {
  challenge { id } errors { code message field } } }"""

_KINDS: tuple[dict[str, Any], ...] = (
    {"kind": "ORDER_COUNT", "target": 1_000},
    {"kind": "SPEND", "target": 10**9, "conditions": {"currency": "EUR"}},
    {"kind": "STREAK_WEEKS", "target": 4},
    {"kind": "ORDER_COUNT", "target": 1_000, "conditions": {"categoriesInclude": ["shoes"]}},
    {"kind": "SPEND", "target": 10**9, "conditions": {"currency": "EUR", "minTotal": 100}},
)


def describe(count: int) -> str:
    kinds = [_KINDS[n % len(_KINDS)]["kind"] for n in range(count)]
    return (f"challenges: {count} active ({', '.join(kinds)}), every order qualifies for all, "
            "none completes (targets out of reach)") if count else "challenges: none"


async def create_challenges(client: httpx.AsyncClient, admin_token: str, count: int) -> None:
    now = datetime.now(UTC)
    for n in range(count):
        fields = {
            "title": f"Bench challenge {n + 1}", "reward": {"points": 100},
            "startsAt": (now - timedelta(days=1)).isoformat(),
            "endsAt": (now + timedelta(days=30)).isoformat(),
            **_KINDS[n % len(_KINDS)],
        }
        data = await execute(client, GraphQLRequest.of(CREATE, {"input": fields},
                                                       token=admin_token))
        errors = data["challengeCreate"]["errors"]
        if errors:
            raise BenchError(f"challengeCreate failed: {errors}")
