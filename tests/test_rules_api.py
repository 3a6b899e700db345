"""Earning rules over GraphQL: admin management, programRules, ruleSimulate."""

from datetime import UTC, datetime, timedelta
from typing import Any

from api.state import AppState
from loyalty.collections import EARNING_RULES, ORDERS
from tests.support import GraphQLClient

RULE_FIELDS = """id name description trigger actionType priority stacking active createdAt
  howToEarn budgetSpent
  conditions { minTotal currency categoriesInclude channels weekdays startsAt endsAt }
  formula { kind points perAmountMinor factor rounding }
  limits { perMemberPerDay perMemberPerMonth perMemberLifetime budget }"""
CREATE = f"""mutation($input: EarningRuleInput!) {{
  earningRuleCreate(input: $input) {{ rule {{ {RULE_FIELDS} }} errors {{ code message field }} }}
}}"""
UPDATE = f"""mutation($input: EarningRuleUpdateInput!) {{
  earningRuleUpdate(input: $input) {{ rule {{ {RULE_FIELDS} }} errors {{ code message field }} }}
}}"""
ARCHIVE = """mutation($input: EarningRuleArchiveInput!) {
  earningRuleArchive(input: $input) { rule { id active } errors { code field } } }"""
ACTIVATE = """mutation($input: EarningRuleActivateInput!) {
  earningRuleActivate(input: $input) { rule { id active } errors { code field } } }"""
LIST = """query($after: String) { earningRules(first: 2, after: $after) {
  edges { node { id name active } } pageInfo { hasNextPage endCursor } } }"""
PROGRAM = "{ programRules { name description howToEarn endsAt } }"
SIMULATE = """query($input: RuleSimulateInput!) { ruleSimulate(input: $input) {
  ordersMatched membersAffected points errors { code message field } } }"""

BASE = {
    "name": "Base points", "description": "Points on everything you buy.",
    "trigger": "ORDER", "conditions": {"currency": "EUR"},
    "formula": {"kind": "PER_CURRENCY_UNIT", "points": 1, "perAmountMinor": 100},
}
# Sat 29 Nov 2025 and Sun 30 Nov 2025, UTC (the programme's default time zone).
WEEKEND_START = datetime(2025, 11, 29, tzinfo=UTC)
WEEKEND = {
    "name": "Double weekend", "description": "Double points this weekend!",
    "trigger": "ORDER", "priority": 10,
    "conditions": {"startsAt": WEEKEND_START.isoformat(),
                   "endsAt": (WEEKEND_START + timedelta(days=2)).isoformat()},
    "formula": {"kind": "MULTIPLIER", "factor": 2.0},
}


async def create(gql: GraphQLClient, token: str, rule: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(CREATE, {"input": rule}, token=token))[
        "earningRuleCreate"]
    return payload


async def test_admin_creates_a_rule_that_reads_back_in_members_words(
    gql: GraphQLClient,
) -> None:
    admin = await gql.admin()
    payload = await create(gql, admin.access_token, {
        **BASE, "limits": {"perMemberPerMonth": 500, "budget": 10_000}})
    assert payload["errors"] == []
    rule = payload["rule"]
    assert rule["active"] is True and rule["trigger"] == "ORDER"
    assert rule["formula"] == {"kind": "PER_CURRENCY_UNIT", "points": 1, "perAmountMinor": 100,
                               "factor": 1.0, "rounding": "DOWN"}
    assert rule["howToEarn"] == (
        "Earn 1 point per €1 spent (up to 500 points a month, while the campaign budget lasts)")
    assert rule["budgetSpent"] == 0
    node = await gql.data("query($id: ID!) { node(id: $id) { ... on EarningRule { name } } }",
                          {"id": rule["id"]}, token=admin.access_token)
    assert node["node"] == {"name": "Base points"}


async def test_admin_updates_every_field_and_keeps_the_id(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    created = (await create(gql, admin.access_token, BASE))["rule"]
    updated = (await gql.data(UPDATE, {"input": {
        **WEEKEND, "rule": created["id"], "stacking": "EXCLUSIVE",
        "formula": {"kind": "FIXED", "points": 50}}}, token=admin.access_token)
    )["earningRuleUpdate"]
    assert updated["errors"] == []
    rule = updated["rule"]
    assert (rule["id"], rule["createdAt"]) == (created["id"], created["createdAt"])
    assert (rule["name"], rule["stacking"], rule["formula"]["kind"]) == (
        "Double weekend", "EXCLUSIVE", "FIXED")
    assert rule["conditions"]["currency"] is None  # replaced, not merged


async def test_archived_rules_stop_being_offered_and_can_come_back(
    gql: GraphQLClient,
) -> None:
    admin = await gql.admin()
    rule_id = (await create(gql, admin.access_token, BASE))["rule"]["id"]
    archived = await gql.data(ARCHIVE, {"input": {"rule": rule_id}}, token=admin.access_token)
    assert archived["earningRuleArchive"] == {"rule": {"id": rule_id, "active": False},
                                              "errors": []}
    assert (await gql.data(PROGRAM))["programRules"] == []
    listed = await gql.data(LIST, token=admin.access_token)
    assert [e["node"]["active"] for e in listed["earningRules"]["edges"]] == [False]
    await gql.data(ACTIVATE, {"input": {"rule": rule_id}}, token=admin.access_token)
    assert len((await gql.data(PROGRAM))["programRules"]) == 1


async def test_earning_rules_are_paged_newest_first(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    for name in ("one", "two", "three"):
        await create(gql, admin.access_token, {**BASE, "name": name})
    first = (await gql.data(LIST, token=admin.access_token))["earningRules"]
    assert [e["node"]["name"] for e in first["edges"]] == ["three", "two"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await gql.data(LIST, {"after": first["pageInfo"]["endCursor"]},
                           token=admin.access_token))["earningRules"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["one"]


INVALID_CASES: list[tuple[dict[str, Any], str, list[str]]] = [
    ({**BASE, "formula": {"kind": "FIXED"}}, "INVALID_RULE", ["input", "formula", "points"]),
    ({**BASE, "formula": {"kind": "MULTIPLIER", "factor": 1.0}}, "INVALID_RULE",
     ["input", "formula", "factor"]),
    ({**BASE, "formula": {"kind": "MULTIPLIER", "factor": 11}}, "INVALID_RULE",
     ["input", "formula", "factor"]),
    ({**BASE, "formula": {"kind": "PER_CURRENCY_UNIT", "points": 1, "perAmountMinor": 0}},
     "INVALID_RULE", ["input", "formula", "perAmountMinor"]),
    ({**WEEKEND, "conditions": {"startsAt": "2025-11-30T00:00:00+00:00",
                                "endsAt": "2025-11-29T00:00:00+00:00"}},
     "INVALID_RULE", ["input", "conditions", "endsAt"]),
    ({"name": "Review", "trigger": "ACTION", "formula": {"kind": "FIXED", "points": 5}},
     "INVALID_RULE", ["input", "actionType"]),
    ({**BASE, "conditions": {"currency": "EUR", "weekdays": [0, 8]}}, "INVALID_RULE",
     ["input", "conditions", "weekdays"]),
    ({**BASE, "limits": {"budget": -1}}, "INVALID_RULE", ["input", "limits", "budget"]),
    ({**BASE, "conditions": {"currency": "XYZ"}}, "UNKNOWN_CURRENCY",
     ["input", "conditions", "currency"]),
    ({**BASE, "name": "  "}, "INVALID_RULE", ["input", "name"]),
]


async def test_invalid_rules_are_rejected_with_code_and_field_and_nothing_is_written(
    gql: GraphQLClient, state: AppState,
) -> None:
    admin = await gql.admin()
    for rule, code, field in INVALID_CASES:
        payload = await create(gql, admin.access_token, rule)
        assert payload["rule"] is None
        assert {"code": code, "field": field} in [
            {"code": e["code"], "field": e["field"]} for e in payload["errors"]
        ], (rule, payload)
    assert await state.services.store.collection(EARNING_RULES).count_documents({}) == 0


async def test_several_problems_are_reported_together(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    payload = await create(gql, admin.access_token, {
        **BASE, "priority": 5000, "limits": {"perMemberPerDay": -5}})
    assert sorted(e["field"][-1] for e in payload["errors"]) == ["perMemberPerDay", "priority"]


async def test_unknown_rule_cannot_be_updated_or_archived(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    rule_id = (await create(gql, admin.access_token, BASE))["rule"]["id"]
    await gql.state.services.store.collection(EARNING_RULES).delete_many({})
    archived = await gql.data(ARCHIVE, {"input": {"rule": rule_id}}, token=admin.access_token)
    assert archived["earningRuleArchive"]["errors"] == [
        {"code": "UNKNOWN_RULE", "field": ["input", "rule"]}]
    updated = await gql.data(UPDATE, {"input": {**BASE, "rule": rule_id}},
                             token=admin.access_token)
    assert updated["earningRuleUpdate"]["errors"][0]["code"] == "UNKNOWN_RULE"


async def test_members_cannot_manage_or_simulate_rules(gql: GraphQLClient) -> None:
    member = await gql.member()
    body = await gql.execute(CREATE, {"input": BASE}, token=member.access_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql.execute(LIST, token=member.access_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql.execute(SIMULATE, {"input": {
        "rule": BASE, "from": "2025-11-01T00:00:00Z", "to": "2025-12-01T00:00:00Z"}},
        token=member.access_token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql.execute(CREATE, {"input": BASE})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_members_cannot_see_rules_as_nodes(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    rule_id = (await create(gql, admin.access_token, BASE))["rule"]["id"]
    member = await gql.member()
    data = await gql.data("query($id: ID!) { node(id: $id) { id } }", {"id": rule_id},
                          token=member.access_token)
    assert data["node"] is None


async def test_program_rules_list_ways_to_earn_for_anyone(
    gql: GraphQLClient, state: AppState,
) -> None:
    admin = await gql.admin()
    await create(gql, admin.access_token, BASE)
    review = {"name": "Reviews", "trigger": "ACTION", "actionType": "review",
              "formula": {"kind": "FIXED", "points": 50}}
    await create(gql, admin.access_token, review)
    now = state.services.clock()
    ended = {**WEEKEND, "name": "Old campaign", "conditions": {
        "startsAt": (now - timedelta(days=9)).isoformat(),
        "endsAt": (now - timedelta(days=2)).isoformat()}}
    await create(gql, admin.access_token, ended)
    ends = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    upcoming = {**WEEKEND, "name": "New year", "conditions": {"endsAt": ends.isoformat()}}
    await create(gql, admin.access_token, upcoming)

    rules = (await gql.data(PROGRAM))["programRules"]
    assert {r["name"]: r["howToEarn"] for r in rules} == {
        "New year": (f"Double points on orders until {ends - timedelta(days=1):%a} 31 Dec "
                     f"{now.year} (UTC)"),
        "Base points": "Earn 1 point per €1 spent",
        "Reviews": "Earn 50 points for a review",
    }
    assert rules[0]["name"] == "New year"  # highest priority first
    assert datetime.fromisoformat(rules[0]["endsAt"]) == ends
    member = await gql.member()
    assert (await gql.data(PROGRAM, token=member.access_token))["programRules"] == rules


def order_doc(order_id: str, member: str, at: datetime, total: int, **extra: Any) -> dict[str, Any]:
    return {
        "_id": order_id, "member_id": member, "channel": "ONLINE", "total": total,
        "currency": "EUR", "occurred_at": at, "recorded_at": at, "store_id": None,
        "payload_hash": "x", "earned_points": 0, "entry_id": None, "refunded_amount": 0,
        "reversed_points": 0,
        "items": extra.get("items", [{"sku": "S1", "category": "shoes", "quantity": 1,
                                      "unit_price": total}]),
    }


async def snapshot(state: AppState) -> dict[str, list[dict[str, Any]]]:
    db = state.services.store.db
    return {
        name: await db[name].find().sort("_id", 1).to_list(None)
        for name in sorted(await db.list_collection_names())
        if name not in {"refresh_tokens", "sign_in_attempts"}
    }


async def test_rule_simulate_reports_orders_members_and_points_and_writes_nothing(
    gql: GraphQLClient, state: AppState,
) -> None:
    admin = await gql.admin()
    await create(gql, admin.access_token, BASE)
    orders = state.services.store.collection(ORDERS)
    friday = WEEKEND_START - timedelta(hours=2)
    saturday = WEEKEND_START + timedelta(hours=10)
    sunday = WEEKEND_START + timedelta(days=1, hours=10)
    await orders.insert_many([
        order_doc("o1", "ann", friday, 10_000),
        order_doc("o2", "ann", saturday, 5_000),
        order_doc("o3", "bob", sunday, 12_345),
        order_doc("o4", "cat", sunday, 100_000, items=[
            {"sku": "GIFT", "category": "gift cards", "quantity": 1, "unit_price": 100_000}]),
        order_doc("o5", "dan", WEEKEND_START + timedelta(days=3), 7_000),
    ])
    before = await snapshot(state)
    window = {"from": "2025-11-01T00:00:00Z", "to": "2025-12-31T00:00:00Z"}

    weekend = {**WEEKEND, "conditions": {**WEEKEND["conditions"],
                                         "categoriesExclude": ["gift cards"]}}
    result = (await gql.data(SIMULATE, {"input": {"rule": weekend, **window}},
                             token=admin.access_token))["ruleSimulate"]
    # Doubles the base points of o2 (50) and o3 (123); o4 has no eligible line.
    assert result == {"ordersMatched": 2, "membersAffected": 2, "points": 173, "errors": []}

    capped = {**weekend, "limits": {"budget": 100}}
    result = (await gql.data(SIMULATE, {"input": {"rule": capped, **window}},
                             token=admin.access_token))["ruleSimulate"]
    assert (result["ordersMatched"], result["points"]) == (2, 100)

    first_order = {"name": "Welcome", "trigger": "ORDER",
                   "conditions": {"firstOrderOnly": True},
                   "formula": {"kind": "FIXED", "points": 200}}
    result = (await gql.data(SIMULATE, {"input": {
        "rule": first_order, "from": "2025-11-29T00:00:00Z", "to": "2025-12-31T00:00:00Z"}},
        token=admin.access_token))["ruleSimulate"]
    # ann's first order was on Friday, before the window: bob, cat and dan qualify.
    assert (result["ordersMatched"], result["membersAffected"], result["points"]) == (
        3, 3, 600)
    assert await snapshot(state) == before


async def test_rule_simulate_returns_input_errors_in_its_payload(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    result = (await gql.data(SIMULATE, {"input": {
        "rule": {**BASE, "formula": {"kind": "FIXED"}},
        "from": "2025-12-01T00:00:00Z", "to": "2025-11-01T00:00:00Z"}},
        token=admin.access_token))["ruleSimulate"]
    assert result["points"] is None
    assert sorted(tuple(e["field"]) for e in result["errors"]) == [
        ("input", "rule", "formula", "points"), ("input", "to")]
