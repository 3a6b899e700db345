"""Non-purchase actions earn points once per (type, reference)."""

import asyncio

from tests.ledger_support import open_shop
from tests.support import GraphQLClient

ACTION = """mutation($input: ActionRecordInput!) { actionRecord(input: $input) {
  pointsEarned replayed entry { kind points reason } errors { code field } } }"""


async def test_a_review_earns_once_and_a_reused_reference_conflicts(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule({"name": "Reviews", "trigger": "ACTION", "actionType": "REVIEW",
                     "formula": {"kind": "FIXED", "points": 50},
                     "limits": {"perMemberPerDay": 100}})
    ann = await shop.member("ann@example.com")
    await shop.member("bob@example.com")

    async def review(email: str, reference: str) -> dict[str, object]:
        data = await gql.data(ACTION, {"input": {"member": {"email": email}, "type": "review",
                                                 "reference": reference}},
                              token=shop.api_key)
        payload: dict[str, object] = data["actionRecord"]
        return payload

    results = await asyncio.gather(*(review("ann@example.com", "R-1") for _ in range(10)))
    assert sum(not r["replayed"] for r in results) == 1
    assert all(r["pointsEarned"] == 50 for r in results)
    second = await review("ann@example.com", "R-2")
    third = await review("ann@example.com", "R-3")  # over the daily cap of 100
    assert (second["pointsEarned"], third["pointsEarned"]) == (50, 0)
    stolen = await review("bob@example.com", "R-1")
    assert stolen["errors"] == [{"code": "IDEMPOTENCY_CONFLICT", "field": ["input"]}]
    assert (await shop.points(ann))["balance"] == 100
    assert await shop.violations() == []


async def test_custom_action_types_and_bad_types(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule({"name": "Photo contest", "trigger": "ACTION",
                     "actionType": "PHOTO_CONTEST", "formula": {"kind": "FIXED", "points": 30}})
    await shop.member("ann@example.com")
    ok = await gql.data(ACTION, {"input": {"member": {"email": "ann@example.com"},
                                           "type": "PHOTO_CONTEST", "reference": "p-9"}},
                        token=shop.api_key)
    assert ok["actionRecord"]["pointsEarned"] == 30
    bad = await gql.data(ACTION, {"input": {"member": {"email": "ann@example.com"},
                                            "type": "no spaces!", "reference": "p-9"}},
                         token=shop.api_key)
    assert bad["actionRecord"]["errors"] == [{"code": "INVALID_INPUT", "field": ["input", "type"]}]
