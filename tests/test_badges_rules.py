"""Badges in earning rules: a condition (the member must hold them) and a grant (a rule that
gives points on an order or action gives its badge, once)."""

import asyncio

from strawberry.relay import to_base64

from events.outbox import OUTBOX
from loyalty.collections import EARNING_RULES
from tests.badge_support import BADGE_ARCHIVE, by_name, create_badge, grant, my_badges
from tests.ledger_support import PER_EURO, RULE_CREATE, open_shop
from tests.support import GraphQLClient

PROGRAM = "{ programRules { name howToEarn } }"
ACTION = """mutation($input: ActionRecordInput!) { actionRecord(input: $input) {
  pointsEarned errors { code field } } }"""


async def test_a_rule_with_a_badge_condition_earns_only_for_holders(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    regular = await create_badge(shop, "Regular")
    await shop.rule({"name": "Regulars' bonus", "trigger": "ORDER",
                     "conditions": {"badgeIds": [regular]},
                     "formula": {"kind": "FIXED", "points": 25}})
    ann = await shop.member("ann@example.com")
    bob = await shop.member("bob@example.com")
    assert (await grant(shop, "ann@example.com", regular))["errors"] == []

    for_ann = await shop.record(shop.order("ann@example.com", 1000))
    for_bob = await shop.record(shop.order("bob@example.com", 1000))

    assert for_ann["pointsEarned"] == 35
    assert [b["ruleName"] for b in for_ann["breakdown"]] == ["Base", "Regulars' bonus"]
    assert for_bob["pointsEarned"] == 10
    assert ((await shop.points(ann))["balance"], (await shop.points(bob))["balance"]) == (35, 10)
    program = (await gql.data(PROGRAM))["programRules"]
    assert "Earn 25 points on every order if you hold the Regular badge" in [
        r["howToEarn"] for r in program]


async def test_concurrent_orders_grant_a_rules_badge_once_with_one_event(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    big = await create_badge(shop, "Big spender", hint="Spend €100 in one order")
    await shop.rule({"name": "Big basket", "trigger": "ORDER", "grantsBadgeId": big,
                     "conditions": {"currency": "EUR", "minTotal": 10_000},
                     "formula": {"kind": "FIXED", "points": 100}})
    ann = await shop.member("ann@example.com")
    assert by_name(await my_badges(shop, ann))["Big spender"]["earned"] is False

    small = await shop.record(shop.order("ann@example.com", 500))
    results = await asyncio.gather(*(
        shop.record(shop.order("ann@example.com", 12_000)) for _ in range(20)))

    assert small["errors"] == [] and all(r["errors"] == [] for r in results)
    badge = by_name(await my_badges(shop, ann))["Big spender"]
    assert (badge["earned"], badge["grantedBy"], badge["reason"]) == (True, "RULE", "Big basket")
    store = gql.state.services.store
    earned = await store.collection(OUTBOX).find({"type": "badge.earned"}).to_list(None)
    assert len(earned) == 1
    assert earned[0]["data"]["source"]["kind"] == "RULE"
    assert (await shop.points(ann))["balance"] == 2000
    assert await shop.violations() == []


async def test_an_action_rule_grants_its_badge(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    critic = await create_badge(shop, "Critic")
    await shop.rule({"name": "Reviews", "trigger": "ACTION", "actionType": "REVIEW",
                     "grantsBadgeId": critic, "formula": {"kind": "FIXED", "points": 10}})
    ann = await shop.member("ann@example.com")

    for reference in ("R-1", "R-2"):
        done = await gql.data(ACTION, {"input": {"member": {"email": "ann@example.com"},
                                                 "type": "REVIEW", "reference": reference}},
                              token=shop.api_key)
        assert done["actionRecord"]["pointsEarned"] == 10

    assert by_name(await my_badges(shop, ann))["Critic"]["earned"] is True
    store = gql.state.services.store
    assert await store.collection(OUTBOX).count_documents({"type": "badge.earned"}) == 1
    program = (await gql.data(PROGRAM))["programRules"]
    assert [r["howToEarn"] for r in program] == [
        "Earn 10 points for a review and unlock the Critic badge"]


async def test_a_rule_naming_an_unknown_badge_is_refused_and_not_stored(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await create_badge(shop, "Regular")
    fake = to_base64("Badge", "0" * 24)
    archived = await create_badge(shop, "Old")
    await gql.data(BADGE_ARCHIVE, {"input": {"badgeId": archived}}, token=shop.admin.access_token)

    for rule, field in (
        ({**PER_EURO, "conditions": {"currency": "EUR", "badgeIds": [fake]}},
         ["input", "conditions", "badgeIds"]),
        ({**PER_EURO, "grantsBadgeId": archived}, ["input", "grantsBadgeId"]),
        ({**PER_EURO, "grantsBadgeId": fake}, ["input", "grantsBadgeId"]),
        ({**PER_EURO, "grantsBadgeId": to_base64("Tier", "x")}, ["input", "grantsBadgeId"]),
    ):
        data = await gql.data(RULE_CREATE, {"input": rule}, token=shop.admin.access_token)
        errors = data["earningRuleCreate"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [("UNKNOWN_BADGE", field)], rule

    assert await gql.state.services.store.collection(EARNING_RULES).count_documents({}) == 0


async def test_a_rule_stops_granting_a_badge_once_it_is_archived(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    badge = await create_badge(shop, "First steps")
    await shop.rule({"name": "Welcome", "trigger": "ORDER", "grantsBadgeId": badge,
                     "formula": {"kind": "FIXED", "points": 5}})
    ann = await shop.member("ann@example.com")
    await gql.data(BADGE_ARCHIVE, {"input": {"badgeId": badge}}, token=shop.admin.access_token)

    recorded = await shop.record(shop.order("ann@example.com", 1000))

    assert recorded["pointsEarned"] == 5
    assert await my_badges(shop, ann) == []
    store = gql.state.services.store
    assert await store.collection(OUTBOX).count_documents({"type": "badge.earned"}) == 0


async def test_badges_cost_an_order_one_update_when_granted_and_nothing_otherwise(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    loyal = await create_badge(shop, "Loyal")
    await shop.rule({"name": "Loyal bonus", "trigger": "ORDER", "grantsBadgeId": loyal,
                     "conditions": {"currency": "EUR", "minTotal": 2000},
                     "formula": {"kind": "FIXED", "points": 5}})
    await shop.rule({"name": "For the loyal", "trigger": "ORDER",
                     "conditions": {"badgeIds": [loyal]},
                     "formula": {"kind": "FIXED", "points": 1}})
    await shop.member("ann@example.com")
    assert (await shop.record(shop.order("ann@example.com", 500)))["pointsEarned"] == 5
    commands = gql.state.services.store.commands

    async def cost(total: int) -> tuple[int, int]:
        before = commands.total
        recorded = await shop.record(shop.order("ann@example.com", total))
        return commands.total - before, recorded["pointsEarned"]

    plain, _ = await cost(500)           # no badge granted, none held
    granting, granted_points = await cost(3000)  # the rule applies and grants the badge
    holding, held_points = await cost(3000)      # the badge is held: nothing to grant
    print(f"\ncommands per order: plain {plain}, granting {granting}, holding {holding}")

    assert (granted_points, held_points) == (30 + 5, 30 + 5 + 1)
    assert granting == plain + 1  # the conditional update; its event goes with the commit's
    assert holding == plain
