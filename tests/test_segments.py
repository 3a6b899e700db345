"""Segments: admin management, each kind of condition (moving the clock), previews, and
earning rules that target a segment or a tier."""

from datetime import date
from typing import Any

import pytest
from strawberry.relay import to_base64

from api.state import AppState
from auth.accounts import find_member
from loyalty.collections import SEGMENTS
from loyalty.purchases import OrderLine
from loyalty.segments.definitions import member_segments
from loyalty.segments.policy import category_key, order_stat_increments, refund_stat_increments
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import DEFAULT_PASSWORD, GraphQLClient

UNKNOWN_TIER_ID = to_base64("Tier", "no-such-tier")

CONDITIONS = """conditions { lastOrderWithinDays lapsedDays frequency { minimum months }
  monetary { minimum months } birthdayMonth birthdayThisMonth tiers favouriteCategory }"""
CREATE = f"""mutation($input: SegmentCreateInput!) {{ segmentCreate(input: $input) {{
  segment {{ id name description {CONDITIONS} }} errors {{ code message field }} }} }}"""
UPDATE = f"""mutation($input: SegmentUpdateInput!) {{ segmentUpdate(input: $input) {{
  segment {{ id name description {CONDITIONS} }} errors {{ code message field }} }} }}"""
DELETE = """mutation($input: SegmentDeleteInput!) { segmentDelete(input: $input) {
  deletedSegmentId errors { code field } } }"""
LIST = """query($after: String) { segments(first: 2, after: $after) {
  edges { node { id name } } pageInfo { hasNextPage endCursor } } }"""
PREVIEW = """query($input: SegmentPreviewInput!) { segmentPreview(input: $input) {
  count sample { email } errors { code message field } } }"""
RULE_CREATE = """mutation($input: EarningRuleInput!) { earningRuleCreate(input: $input) {
  rule { id howToEarn conditions { tiers segments } } errors { code message field } } }"""
TIER_CREATE = """mutation($input: TierCreateInput!) { tierCreate(input: $input) {
  tier { id } errors { code } } }"""
REGISTER = """mutation($input: AccountRegisterInput!) { accountRegister(input: $input) {
  errors { code message } } }"""

ANN, BOB, CAT = "ann@example.com", "bob@example.com", "cat@example.com"


async def segment(shop: Shop, name: str, conditions: dict[str, Any], **extra: Any) -> (
    dict[str, Any]
):
    data = await shop.gql.data(CREATE, {"input": {"name": name, "conditions": conditions,
                                                  **extra}}, token=shop.admin.access_token)
    payload: dict[str, Any] = data["segmentCreate"]
    return payload


async def preview(shop: Shop, conditions: dict[str, Any]) -> tuple[int, list[str]]:
    data = await shop.gql.data(PREVIEW, {"input": {"conditions": conditions}},
                               token=shop.admin.access_token)
    payload = data["segmentPreview"]
    assert payload["errors"] == [], payload
    return payload["count"], sorted(m["email"] for m in payload["sample"])


async def rule(shop: Shop, rule: dict[str, Any]) -> dict[str, Any]:
    data = await shop.gql.data(RULE_CREATE, {"input": rule}, token=shop.admin.access_token)
    payload: dict[str, Any] = data["earningRuleCreate"]
    return payload


async def members(shop: Shop, *emails: str, birthdays: dict[str, date] | None = None) -> None:
    for email in emails:
        birthday = (birthdays or {}).get(email)
        data = await shop.gql.data(REGISTER, {"input": {
            "email": email, "password": DEFAULT_PASSWORD, "name": email.split("@")[0].title(),
            "birthday": birthday.isoformat() if birthday else None}})
        assert data["accountRegister"]["errors"] == [], data


async def buy(shop: Shop, email: str, total: int, *, items: list[dict[str, Any]] | None = None,
              order_id: str | None = None) -> dict[str, Any]:
    recorded = await shop.record(shop.order(email, total, items=items, order_id=order_id))
    assert recorded["errors"] == [], recorded
    return recorded


def line(category: str, amount: int, sku: str | None = None) -> dict[str, Any]:
    return {"sku": sku or f"SKU-{category}", "category": category, "quantity": 1,
            "unitPrice": amount}


# --- management ----------------------------------------------------------------------------


async def test_admin_creates_lists_updates_and_deletes_a_segment(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    created = await segment(shop, " vip_buyers ", {
        "frequency": {"minimum": 3, "months": 6}, "monetary": {"minimum": 50_000, "months": 12}},
        description="  Our best customers ")
    assert created["errors"] == []
    vip = created["segment"]
    assert (vip["name"], vip["description"]) == ("VIP_BUYERS", "Our best customers")
    assert vip["conditions"]["frequency"] == {"minimum": 3, "months": 6}
    assert vip["conditions"]["monetary"] == {"minimum": 50_000, "months": 12}
    await segment(shop, "LAPSED", {"lapsedDays": 90})
    await segment(shop, "BIRTHDAY", {"birthdayThisMonth": True})

    first = (await gql.data(LIST, token=shop.admin.access_token))["segments"]
    rest = (await gql.data(LIST, {"after": first["pageInfo"]["endCursor"]},
                           token=shop.admin.access_token))["segments"]
    updated = (await gql.data(UPDATE, {"input": {
        "segment": vip["id"], "conditions": {"lastOrderWithinDays": 30}}},
        token=shop.admin.access_token))["segmentUpdate"]
    node = await gql.data("query($id: ID!) { node(id: $id) { ... on Segment { name } } }",
                          {"id": vip["id"]}, token=shop.admin.access_token)
    deleted = (await gql.data(DELETE, {"input": {"segment": vip["id"]}},
                              token=shop.admin.access_token))["segmentDelete"]
    again = (await gql.data(DELETE, {"input": {"segment": vip["id"]}},
                            token=shop.admin.access_token))["segmentDelete"]

    assert [e["node"]["name"] for e in first["edges"] + rest["edges"]] == [
        "BIRTHDAY", "LAPSED", "VIP_BUYERS"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert updated["errors"] == []
    assert updated["segment"]["name"] == "VIP_BUYERS"
    assert updated["segment"]["description"] == "Our best customers"  # kept
    assert updated["segment"]["conditions"]["lastOrderWithinDays"] == 30
    assert updated["segment"]["conditions"]["frequency"] is None  # replaced, not merged
    assert node["node"] == {"name": "VIP_BUYERS"}
    assert deleted == {"deletedSegmentId": vip["id"], "errors": []}
    assert again["errors"] == [{"code": "UNKNOWN_SEGMENT", "field": ["input", "segment"]}]


INVALID: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("vip buyers", {"lapsedDays": 30}, "INVALID_SEGMENT", ["input", "name"]),
    ("VIP", {}, "INVALID_SEGMENT", ["input", "conditions"]),
    ("VIP", {"lastOrderWithinDays": 0}, "INVALID_SEGMENT",
     ["input", "conditions", "lastOrderWithinDays"]),
    ("VIP", {"lastOrderWithinDays": 30, "lapsedDays": 30}, "INVALID_SEGMENT",
     ["input", "conditions", "lapsedDays"]),
    ("VIP", {"frequency": {"minimum": 2, "months": 37}}, "INVALID_SEGMENT",
     ["input", "conditions", "frequency", "months"]),
    ("VIP", {"monetary": {"minimum": 0, "months": 3}}, "INVALID_SEGMENT",
     ["input", "conditions", "monetary", "minimum"]),
    ("VIP", {"birthdayMonth": 13}, "INVALID_SEGMENT", ["input", "conditions", "birthdayMonth"]),
    ("VIP", {"birthdayMonth": 3, "birthdayThisMonth": True}, "INVALID_SEGMENT",
     ["input", "conditions", "birthdayThisMonth"]),
    ("VIP", {"tiers": [UNKNOWN_TIER_ID]}, "UNKNOWN_TIER", ["input", "conditions", "tiers"]),
    ("VIP", {"favouriteCategory": "  "}, "INVALID_SEGMENT",
     ["input", "conditions", "favouriteCategory"]),
]


async def test_invalid_segments_are_rejected_with_code_and_field_and_nothing_is_written(
    gql: GraphQLClient, state: AppState,
) -> None:
    shop = await open_shop(gql)
    for name, conditions, code, field in INVALID:
        payload = await segment(shop, name, conditions)
        assert payload["segment"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], (
            name, conditions, payload)
    assert await state.services.store.collection(SEGMENTS).count_documents({}) == 0


async def test_segment_names_are_unique_and_several_problems_come_together(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    assert (await segment(shop, "VIP", {"lapsedDays": 30}))["errors"] == []

    taken = await segment(shop, "vip", {"lapsedDays": 60})
    several = await segment(shop, "x", {"lapsedDays": -1}, description="d" * 501)

    assert [(e["code"], e["field"]) for e in taken["errors"]] == [
        ("SEGMENT_NAME_TAKEN", ["input", "name"])]
    assert sorted(e["field"][-1] for e in several["errors"]) == [
        "description", "lapsedDays", "name"]


async def test_a_segment_a_rule_refers_to_cannot_be_deleted(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    vip = (await segment(shop, "VIP", {"lapsedDays": 30}))["segment"]
    created = await rule(shop, {"name": "VIP bonus", "trigger": "ORDER",
                                "conditions": {"segments": ["vip"]},
                                "formula": {"kind": "FIXED", "points": 10}})

    refused = (await gql.data(DELETE, {"input": {"segment": vip["id"]}},
                              token=shop.admin.access_token))["segmentDelete"]

    assert created["errors"] == []
    assert created["rule"]["conditions"]["segments"] == ["VIP"]
    assert refused == {"deletedSegmentId": None,
                       "errors": [{"code": "SEGMENT_IN_USE", "field": ["input", "segment"]}]}


async def test_rules_may_only_name_tiers_and_segments_that_exist(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    base = {"name": "Bonus", "trigger": "ORDER", "formula": {"kind": "FIXED", "points": 10}}

    payload = await rule(shop, {**base, "conditions": {"segments": ["GHOSTS"],
                                                       "tiers": [UNKNOWN_TIER_ID]}})

    assert payload["rule"] is None
    assert sorted((e["code"], e["field"][-1]) for e in payload["errors"]) == [
        ("UNKNOWN_SEGMENT", "segments"), ("UNKNOWN_TIER", "tiers")]


async def test_members_cannot_manage_or_preview_segments(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    vip = (await segment(shop, "VIP", {"lapsedDays": 30}))["segment"]
    ann = await shop.member(ANN)

    denied = [
        await gql.execute(CREATE, {"input": {"name": "MINE", "conditions": {"lapsedDays": 1}}},
                          token=ann.access_token),
        await gql.execute(LIST, token=ann.access_token),
        await gql.execute(PREVIEW, {"input": {"conditions": {"lapsedDays": 1}}},
                          token=ann.access_token),
        await gql.execute(DELETE, {"input": {"segment": vip["id"]}}, token=ann.access_token),
        await gql.execute(DELETE, {"input": {"segment": vip["id"]}}, token=shop.api_key),
    ]
    anonymous = await gql.execute(LIST)
    node = await gql.data("query($id: ID!) { node(id: $id) { id } }", {"id": vip["id"]},
                          token=ann.access_token)

    assert [body["errors"][0]["extensions"]["code"] for body in denied] == ["FORBIDDEN"] * 5
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert node["node"] is None
    assert await gql.state.services.store.collection(SEGMENTS).count_documents({}) == 1


# --- conditions ----------------------------------------------------------------------------


async def test_recency_and_lapsed_follow_the_clock(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await members(shop, ANN, BOB, CAT)  # cat never orders: never recent, never lapsed
    await buy(shop, BOB, 1_000)
    await shop.advance(days=40)
    await buy(shop, ANN, 1_000)

    assert await preview(shop, {"lastOrderWithinDays": 30}) == (1, [ANN])
    assert await preview(shop, {"lapsedDays": 30}) == (1, [BOB])
    await shop.advance(days=31)
    assert await preview(shop, {"lastOrderWithinDays": 30}) == (0, [])
    assert await preview(shop, {"lapsedDays": 30}) == (2, [ANN, BOB])
    # Lapsed for 30 days but ordered within 60: ann (31 days), not bob (71).
    assert await preview(shop, {"lastOrderWithinDays": 60, "lapsedDays": 30}) == (1, [ANN])


async def test_frequency_counts_orders_in_whole_recent_months(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await members(shop, ANN, BOB)
    await buy(shop, ANN, 1_000)
    await buy(shop, ANN, 1_000)
    await buy(shop, BOB, 1_000)
    twice_this_month = {"frequency": {"minimum": 2, "months": 1}}
    twice_in_three = {"frequency": {"minimum": 2, "months": 3}}

    assert await preview(shop, twice_this_month) == (1, [ANN])
    await shop.advance(days=40)  # always the next month or the one after
    assert await preview(shop, twice_this_month) == (0, [])
    assert await preview(shop, twice_in_three) == (1, [ANN])
    await buy(shop, BOB, 1_000)
    assert await preview(shop, twice_in_three) == (2, [ANN, BOB])


async def test_monetary_counts_spend_net_of_refunds(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await members(shop, ANN, BOB)
    await buy(shop, ANN, 10_000, order_id="A-1")
    await buy(shop, BOB, 4_000)
    big_spenders = {"monetary": {"minimum": 5_000, "months": 1}}

    assert await preview(shop, big_spenders) == (1, [ANN])
    refunded = await shop.refund("A-1", "RF-1", amount=6_000)
    assert refunded["errors"] == []
    assert await preview(shop, big_spenders) == (0, [])
    assert await shop.violations() == []


async def test_birthday_this_month_or_a_given_month(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    month = shop.now().month
    next_month = month % 12 + 1
    await members(shop, ANN, BOB, CAT, birthdays={
        ANN: date(1990, month, 1), BOB: date(1985, next_month, 28)})

    # Birthdays alone select members who never ordered too.
    assert await preview(shop, {"birthdayThisMonth": True}) == (1, [ANN])
    assert await preview(shop, {"birthdayMonth": next_month}) == (1, [BOB])
    # Next to an order condition: only members who also match it.
    await buy(shop, BOB, 1_000)
    recent_birthday = {"birthdayThisMonth": True, "lastOrderWithinDays": 30}
    assert await preview(shop, recent_birthday) == (0, [])
    await buy(shop, ANN, 1_000)
    assert await preview(shop, recent_birthday) == (1, [ANN])


async def test_tier_condition_selects_holders_of_the_tiers(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    tiers = await _ladder(shop)
    await members(shop, ANN, BOB, CAT)
    await buy(shop, ANN, 60_000)  # Gold
    await buy(shop, BOB, 20_000)  # Silver
    await buy(shop, CAT, 1_000)  # no tier

    assert await preview(shop, {"tiers": [tiers["Gold"]]}) == (1, [ANN])
    assert await preview(shop, {"tiers": [tiers["Gold"], tiers["Silver"]]}) == (2, [ANN, BOB])


async def test_favourite_category_is_where_the_member_spent_most(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await members(shop, ANN, BOB, CAT)
    await buy(shop, ANN, 8_000, order_id="A-1",
              items=[line("shoes", 3_000), line("home.garden", 5_000)])
    await buy(shop, BOB, 4_000, items=[line("shoes", 4_000)])
    await buy(shop, CAT, 2_000, items=[line("shoes", 1_000), line("$bags", 1_000)])  # a tie

    assert await preview(shop, {"favouriteCategory": "home.garden"}) == (1, [ANN])
    assert await preview(shop, {"favouriteCategory": "shoes"}) == (2, [BOB, CAT])
    assert await preview(shop, {"favouriteCategory": "$bags"}) == (1, [CAT])
    # Returning the garden item takes its spend back: shoes is ann's favourite now.
    returned = await shop.refund("A-1", "RF-1", items=[{"sku": "SKU-home.garden",
                                                        "quantity": 1}])
    assert returned["errors"] == []
    assert await preview(shop, {"favouriteCategory": "home.garden"}) == (0, [])
    assert await preview(shop, {"favouriteCategory": "shoes"}) == (3, [ANN, BOB, CAT])
    assert await preview(shop, {"favouriteCategory": "shoes", "lastOrderWithinDays": 5,
                                "monetary": {"minimum": 3_000, "months": 1}}) == (2, [ANN, BOB])


async def test_preview_reports_invalid_conditions_in_its_payload(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    data = await gql.data(PREVIEW, {"input": {"conditions": {"birthdayMonth": 0}}},
                          token=shop.admin.access_token)
    assert data["segmentPreview"]["count"] is None
    assert [e["field"] for e in data["segmentPreview"]["errors"]] == [
        ["input", "conditions", "birthdayMonth"]]


async def test_member_segments_agrees_with_the_preview_in_few_queries(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    later = shop.later(days=40, hours=12)
    await members(shop, ANN, BOB, birthdays={ANN: date(1990, later.month, 3)})
    await buy(shop, ANN, 5_000, items=[line("shoes", 5_000)])
    definitions = {
        **{f"RECENT_{days}": {"lastOrderWithinDays": days} for days in (10, 40, 50)},
        "BIRTHDAY": {"birthdayThisMonth": True},
        "LAPSED": {"lapsedDays": 30},
        "LAPSED_LONG": {"lapsedDays": 41},
        "ORDERED_THIS_MONTH": {"frequency": {"minimum": 1, "months": 1}},
        "ORDERED_IN_3_MONTHS": {"frequency": {"minimum": 1, "months": 3}},
        "SPENT_IN_3_MONTHS": {"monetary": {"minimum": 5_000, "months": 3}},
        "SPENT_MORE_IN_3_MONTHS": {"monetary": {"minimum": 5_001, "months": 3}},
        "SHOES": {"favouriteCategory": "shoes", "birthdayMonth": later.month},
        "BAGS": {"favouriteCategory": "bags"},
    }
    for name, conditions in definitions.items():
        assert (await segment(shop, name, conditions))["errors"] == []
    store = gql.state.services.store
    account = await find_member(store, account_id=None, email=ANN)
    assert account is not None
    await shop.advance(days=40, hours=12)

    before = store.commands.total
    found = await member_segments(store, account.id, now=shop.now())
    queries = store.commands.total - before
    previewed = {name for name, conditions in definitions.items()
                 if ANN in (await preview(shop, conditions))[1]}

    assert found == {"RECENT_50", "BIRTHDAY", "LAPSED", "ORDERED_IN_3_MONTHS",
                     "SPENT_IN_3_MONTHS", "SHOES"}
    assert previewed == found
    assert queries <= 4


# --- earning rules -------------------------------------------------------------------------


async def test_a_segment_rule_gives_points_only_to_members_of_the_segment(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await members(shop, ANN, BOB, CAT)
    assert (await segment(shop, "LAPSED", {"lapsedDays": 30}))["errors"] == []
    win_back = await rule(shop, {"name": "Welcome back", "trigger": "ORDER",
                                 "conditions": {"segments": ["lapsed"]},
                                 "formula": {"kind": "FIXED", "points": 500}})
    assert win_back["errors"] == []
    await buy(shop, ANN, 1_000)
    await shop.advance(days=45)
    await buy(shop, BOB, 1_000)

    ann = await buy(shop, ANN, 2_000)  # lapsed 45 days: the order that ends it earns the bonus
    bob = await buy(shop, BOB, 2_000)  # ordered a moment ago
    cat = await buy(shop, CAT, 2_000)  # never ordered, so not lapsed
    again = await buy(shop, ANN, 2_000)  # not lapsed any more

    assert win_back["rule"]["howToEarn"] == "Earn 500 points on every order for members in LAPSED"
    assert ann["pointsEarned"] == 520
    assert {"ruleName": "Welcome back", "points": 500, "capped": False} in ann["breakdown"]
    assert [bob["pointsEarned"], cat["pointsEarned"], again["pointsEarned"]] == [20, 20, 20]
    assert await shop.violations() == []


async def test_a_birthday_segment_rule_rewards_actions_of_its_members(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    month = shop.now().month
    await members(shop, ANN, BOB, birthdays={ANN: date(1992, month, 15),
                                             BOB: date(1992, month % 12 + 1, 15)})
    await segment(shop, "BIRTHDAY_MONTH", {"birthdayThisMonth": True})
    created = await rule(shop, {"name": "Birthday reviews", "trigger": "ACTION",
                                "actionType": "REVIEW",
                                "conditions": {"segments": ["BIRTHDAY_MONTH"]},
                                "formula": {"kind": "FIXED", "points": 50}})
    assert created["errors"] == []
    action = """mutation($input: ActionRecordInput!) { actionRecord(input: $input) {
        pointsEarned errors { code } } }"""

    earned = [
        (await gql.data(action, {"input": {"member": {"email": email}, "type": "REVIEW",
                                           "reference": f"r-{email}"}},
                        token=shop.api_key))["actionRecord"]
        for email in (ANN, BOB)
    ]

    assert earned == [{"pointsEarned": 50, "errors": []}, {"pointsEarned": 0, "errors": []}]


async def test_a_tier_rule_gives_points_only_to_holders_of_the_tier(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    tiers = await _ladder(shop, gold_multiplier=1.0)
    await members(shop, ANN, BOB)
    await buy(shop, ANN, 60_000)  # Gold
    await buy(shop, BOB, 20_000)  # Silver
    gold_bonus = await rule(shop, {"name": "Gold bonus", "trigger": "ORDER",
                                   "conditions": {"tiers": [tiers["Gold"]]},
                                   "formula": {"kind": "FIXED", "points": 100}})

    ann = await buy(shop, ANN, 1_000)
    bob = await buy(shop, BOB, 1_000)

    assert gold_bonus["errors"] == []
    assert gold_bonus["rule"]["howToEarn"] == "Earn 100 points on every order for Gold members"
    assert (ann["pointsEarned"], bob["pointsEarned"]) == (110, 10)
    assert await shop.violations() == []


async def _ladder(shop: Shop, *, gold_multiplier: float = 1.0) -> dict[str, str]:
    ids = {}
    for name, threshold, multiplier in (("Silver", 100, 1.0), ("Gold", 500, gold_multiplier)):
        data = await shop.gql.data(TIER_CREATE, {"input": {
            "name": name, "threshold": threshold, "earnMultiplier": multiplier}},
            token=shop.admin.access_token)
        assert data["tierCreate"]["errors"] == [], data
        ids[name] = data["tierCreate"]["tier"]["id"]
    return ids


# --- member statistics (pure) --------------------------------------------------------------


def test_category_keys_are_safe_field_names_and_distinct() -> None:
    keys = [category_key(c) for c in ("home.garden", "$bags", "100%", "100%25", "shoes")]
    assert keys == ["home%2Egarden", "%24bags", "100%25", "100%2525", "shoes"]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("refunds", [[2_999, 1, 5_000], [1, 1, 7_998], [8_000]])
def test_amount_refunds_take_back_exactly_what_the_order_added(refunds: list[int]) -> None:
    lines = (OrderLine("A", "shoes", 3, 1_000), OrderLine("B", "bags", 1, 5_000))
    added = order_stat_increments(total=8_000, lines=lines, month="2026-11")
    order = {"total": 8_000, "refunded_amount": 0, "refunded_items": [],
             "items": [{"sku": ln.sku, "category": ln.category, "quantity": ln.quantity,
                        "unit_price": ln.unit_price} for ln in lines]}
    totals = dict(added)
    for amount in refunds:
        for key, change in refund_stat_increments(order=order, refunded_now=amount,
                                                  returned=[]).items():
            totals[key] = totals.get(key, 0) + change
        order["refunded_amount"] += amount  # type: ignore[operator]

    assert added["category_spend.shoes"] == 3_000
    assert added["qualifying.2026-11.orders"] == 1
    assert totals["category_spend.shoes"] == totals["category_spend.bags"] == 0
    assert totals["spend_total"] == 0


def test_returning_every_unit_one_by_one_takes_back_the_whole_line() -> None:
    order: dict[str, Any] = {"total": 1_000, "refunded_amount": 0, "refunded_items": [],
                             "items": [{"sku": "A", "category": "socks", "quantity": 3,
                                        "unit_price": 333}]}
    taken = 0
    for _ in range(3):
        change = refund_stat_increments(order=order, refunded_now=333, returned=[("A", 1)])
        taken -= change["category_spend.socks"]
        order["refunded_items"].append({"sku": "A", "quantity": 1})
    assert taken == 999
