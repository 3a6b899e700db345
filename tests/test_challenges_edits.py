"""Editing a challenge: what its counters and completions mean (kind, recurrence, target,
action type, currency) is fixed once it exists; the rest may change."""

from typing import Any

import pytest

from tests.challenge_support import UPDATE, challenge, create, documents, mine
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient


async def _update(shop: Shop, challenge_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    data = await shop.gql.data(UPDATE, {"input": {**fields, "challenge": challenge_id}},
                               token=shop.admin.access_token)
    payload: dict[str, Any] = data["challengeUpdate"]
    return payload


FIXED: list[tuple[dict[str, Any], list[str]]] = [
    ({"recurrence": "WEEK"}, ["input", "recurrence"]),
    ({"kind": "STORE_COUNT"}, ["input", "kind"]),
    ({"target": 1}, ["input", "target"]),
    ({"conditions": {"currency": "USD"}}, ["input", "conditions", "currency"]),
]


@pytest.mark.parametrize(("change", "field"), FIXED)
async def test_changing_what_progress_means_is_refused_and_nothing_written(
    gql: GraphQLClient, change: dict[str, Any], field: list[str],
) -> None:
    shop = await open_shop(gql)
    base = challenge(shop, title="Two orders", target=2, conditions={"currency": "EUR"})
    challenge_id = await create(shop, base)
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 1000, order_id="A"))
    await shop.record(shop.order("ann@example.com", 1000, order_id="B"))  # completed
    (before,) = await documents(shop, "challenges")

    payload = await _update(shop, challenge_id, {**base, **change})

    assert payload["challenge"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_CHALLENGE", field)]
    assert "archive it and create a new challenge" in payload["errors"][0]["message"]
    assert await documents(shop, "challenges") == [before]
    assert [d for d in await documents(shop, "audit_log")
            if d["operation"] == "challengeUpdate"] == []
    await shop.record(shop.order("ann@example.com", 1000, order_id="C"))
    assert len(await documents(shop, "gifts", {"occasion": "CHALLENGE"})) == 1
    assert (await mine(shop, ann))["Two orders"]["target"] == 2


async def test_the_action_type_of_an_action_challenge_is_fixed(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    base = challenge(shop, title="Reviews", kind="ACTION_COUNT", actionType="REVIEW")
    challenge_id = await create(shop, base)

    payload = await _update(shop, challenge_id, {**base, "actionType": "SURVEY"})

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_CHALLENGE", ["input", "actionType"])]


async def test_words_audience_reward_and_refund_policy_may_change(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    base = challenge(shop, title="Two orders", target=2, conditions={"currency": "EUR"})
    challenge_id = await create(shop, base)
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 1000, order_id="A"))

    payload = await _update(shop, challenge_id, {
        **base, "title": "Two big orders", "description": "Twice €20 or more.",
        "conditions": {"currency": "EUR", "minTotal": 2000}, "reward": {"points": 150},
        "refundPolicy": "KEEP", "optIn": False})

    assert payload["errors"] == []
    assert payload["challenge"]["title"] == "Two big orders"
    await shop.record(shop.order("ann@example.com", 1000, order_id="B"))  # below the new min
    mid = (await mine(shop, ann))["Two big orders"]
    assert (mid["progress"], mid["completedAt"]) == (1, None)  # counts from then on
    await shop.record(shop.order("ann@example.com", 2500, order_id="C"))
    assert (await shop.points(ann))["balance"] == 150
    (stored,) = await documents(shop, "challenges")
    assert stored["refund_policy"] == "KEEP"
