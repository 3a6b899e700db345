"""Personal offers: ranked from the member's own data, each with a reason, deterministic."""

from datetime import timedelta
from typing import Any

from tests.reward_support import RewardShop, open_reward_shop
from tests.support import GraphQLClient, SignedIn

OFFERS = "{ me { offers(first: 5) { kind title explanation score rewardId ruleId } } }"


async def _offers(gql: GraphQLClient, member: SignedIn) -> list[dict[str, Any]]:
    data = await gql.data(OFFERS, token=member.access_token)
    offers: list[dict[str, Any]] = data["me"]["offers"]
    return offers


async def _setting(gql: GraphQLClient) -> tuple[RewardShop, SignedIn, dict[str, str]]:
    shop = await open_reward_shop(gql)
    ann = await shop.member("ann@example.com", points=300)
    await gql.consent(ann)  # personal offers need the member's consent
    await shop.shop.record(shop.shop.order("ann@example.com", 8_000, items=[
        {"sku": "BOOT", "category": "shoes", "quantity": 1, "unitPrice": 6_000},
        {"sku": "NOVEL", "category": "books", "quantity": 1, "unitPrice": 2_000}]))
    ends = (shop.shop.now() + timedelta(days=5)).isoformat()
    for name, category in (("Double points on shoes", "shoes"),
                           ("Double points on garden", "garden")):
        await shop.shop.rule({"name": name, "trigger": "ORDER",
                              "conditions": {"categoriesInclude": [category], "endsAt": ends},
                              "formula": {"kind": "MULTIPLIER", "factor": 2}})
    ids = {}
    for title, cost in (("Tote bag", 250), ("Scarf", 350), ("Weekend trip", 5000)):
        ids[title] = (await shop.create(title=title, cost=cost))["id"]
    return shop, ann, ids


async def test_offers_rank_favourite_category_campaigns_then_affordable_then_almost(
    gql: GraphQLClient,
) -> None:
    _, ann, ids = await _setting(gql)

    offers = await _offers(gql, ann)

    assert [(o["kind"], o["title"]) for o in offers] == [
        ("CAMPAIGN", "Double points on shoes"),
        ("REWARD", "Tote bag"),
        ("REWARD", "Scarf"),
    ]
    assert "shoes, your favourite category" in offers[0]["explanation"]
    assert offers[1]["explanation"] == "You have enough points: it costs 250."
    assert offers[1]["rewardId"] == ids["Tote bag"]
    assert offers[2]["explanation"] == "Only 50 more points to get it."
    assert offers == await _offers(gql, ann)  # the same data gives the same list


async def test_points_about_to_expire_put_what_they_buy_first(gql: GraphQLClient) -> None:
    shop, _, _ = await _setting(gql)
    await shop.shop.advance(days=350)  # the 300 points expire 12 months after they came
    ann = await shop.shop.sign_in("ann@example.com")

    offers = await _offers(gql, ann)

    assert offers[0]["title"] == "Tote bag"
    assert offers[0]["explanation"].startswith("Use 250 of your 300 points that expire on ")


async def test_a_member_without_history_gets_no_category_campaign(gql: GraphQLClient) -> None:
    shop, _, _ = await _setting(gql)
    bob = await shop.member("bob@example.com", points=100)
    await gql.consent(bob)

    offers = await _offers(gql, bob)

    assert [o["title"] for o in offers] == []


async def test_a_campaign_whose_budget_is_spent_is_no_longer_offered_until_raised(
    gql: GraphQLClient,
) -> None:
    shop = await open_reward_shop(gql)
    await gql.consent(await shop.member("ann@example.com", points=0))
    shoes = [{"sku": "BOOT", "category": "shoes", "quantity": 1, "unitPrice": 6_000}]
    await shop.shop.record(shop.shop.order("ann@example.com", 6_000, items=shoes))
    campaign = {"name": "Shoe bonus", "description": "100 points on shoes", "trigger": "ORDER",
                "conditions": {"categoriesInclude": ["shoes"],
                               "endsAt": (shop.shop.now() + timedelta(days=5)).isoformat()},
                "formula": {"kind": "FIXED", "points": 100}, "limits": {"budget": 100}}
    rule_id = await shop.shop.rule(campaign)

    async def offered() -> tuple[list[str], list[str]]:
        member = await shop.shop.sign_in("ann@example.com")
        public = await gql.data("{ programRules { name } }")
        return ([o["title"] for o in await _offers(gql, member) if o["kind"] == "CAMPAIGN"],
                [r["name"] for r in public["programRules"]])

    before = await offered()
    earned = await shop.shop.record(shop.shop.order("ann@example.com", 6_000, items=shoes))
    spent = await offered()
    raised = await gql.data(
        """mutation($input: EarningRuleUpdateInput!) { earningRuleUpdate(input: $input) {
             errors { code } } }""",
        {"input": {**campaign, "rule": rule_id, "limits": {"budget": 500}}},
        token=shop.shop.admin.access_token)
    after_raise = await offered()

    assert before == (["Shoe bonus"], ["Shoe bonus"])
    assert {b["ruleName"]: b["points"] for b in earned["breakdown"]}["Shoe bonus"] == 100
    assert spent == ([], [])
    assert raised["earningRuleUpdate"]["errors"] == []
    assert after_raise == before
