"""ruleSimulate of changes to existing rules (edit, archive) against what they earned, and
refunds in every simulation, through GraphQL over HTTP."""

from typing import Any

import pytest
from strawberry import relay

from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.scanner_support import ScannerShop
from tests.support import GraphQLClient

SIMULATE = """query($input: RuleSimulateInput!) { ruleSimulate(input: $input) {
  ordersMatched membersAffected points
  comparison { rule { id name } pointsEarned pointsDifference ordersChanged membersChanged }
  errors { code message field } } }"""
ARCHIVE = """mutation($input: EarningRuleArchiveInput!) {
  earningRuleArchive(input: $input) { errors { code } } }"""

# Another rule in force beside the base one: its points must never count as the base's.
BIG_BASKET = {"name": "Big basket", "trigger": "ORDER",
              "conditions": {"currency": "EUR", "minTotal": 5000},
              "formula": {"kind": "FIXED", "points": 10}}


@pytest.fixture
async def shop(gql: GraphQLClient) -> Shop:
    opened = await open_shop(gql)
    for email in ("ann@example.com", "bob@example.com"):
        await opened.member(email)
    return opened


async def simulate(shop: Shop, change: dict[str, Any], *, token: str | None = None) -> (
    dict[str, Any]
):
    """ruleSimulate over the last day (every order these tests record now)."""
    window = {"from": shop.later(days=-1).isoformat(), "to": shop.later(hours=1).isoformat()}
    data = await shop.gql.data(SIMULATE, {"input": {**change, **window}},
                               token=token or shop.admin.access_token)
    result: dict[str, Any] = data["ruleSimulate"]
    return result


async def three_orders(shop: Shop) -> None:
    """Base rule: ann 100 + 25 points, bob 40 points (165); Big basket: ann's first 10."""
    for email, total in (("ann@example.com", 10_000), ("bob@example.com", 4_000),
                         ("ann@example.com", 2_550)):
        assert (await shop.record(shop.order(email, total)))["errors"] == []


async def test_simulating_an_edit_shows_the_exact_difference_against_what_the_rule_earned(
    shop: Shop,
) -> None:
    base = await shop.rule(PER_EURO)
    await shop.rule(BIG_BASKET)
    # Outside the window: neither earned nor simulated.
    await shop.record(shop.order("bob@example.com", 9_900, at=shop.later(days=-3)))
    await three_orders(shop)

    doubled = await simulate(shop, {"edit": {**PER_EURO, "rule": base, "formula": {
        "kind": "PER_CURRENCY_UNIT", "points": 2, "perAmountMinor": 100}}})
    assert doubled == {
        "ordersMatched": 3, "membersAffected": 2, "points": 200 + 80 + 51,
        "comparison": {"rule": {"id": base, "name": "Base"}, "pointsEarned": 165,
                       "pointsDifference": 166, "ordersChanged": 3, "membersChanged": 2},
        "errors": [],
    }

    big_only = await simulate(shop, {"edit": {
        **PER_EURO, "rule": base, "conditions": {"currency": "EUR", "minTotal": 5_000}}})
    assert (big_only["ordersMatched"], big_only["points"]) == (1, 100)
    assert big_only["comparison"] == {
        "rule": {"id": base, "name": "Base"}, "pointsEarned": 165, "pointsDifference": -65,
        "ordersChanged": 2, "membersChanged": 2,
    }


async def test_simulating_an_archive_shows_minus_what_the_rule_earned(shop: Shop) -> None:
    base = await shop.rule(PER_EURO)
    await shop.rule(BIG_BASKET)
    await three_orders(shop)

    result = await simulate(shop, {"archive": {"rule": base}})

    assert result == {
        "ordersMatched": 0, "membersAffected": 0, "points": 0,
        "comparison": {"rule": {"id": base, "name": "Base"}, "pointsEarned": 165,
                       "pointsDifference": -165, "ordersChanged": 3, "membersChanged": 2},
        "errors": [],
    }


async def test_fully_refunded_orders_earn_nothing_and_partly_refunded_ones_keep_their_share(
    shop: Shop,
) -> None:
    base = await shop.rule(PER_EURO)
    await shop.record(shop.order("ann@example.com", 10_000, order_id="KEPT"))
    await shop.record(shop.order("bob@example.com", 4_000, order_id="RETURNED"))
    assert (await shop.refund("RETURNED", "RF-1", amount=4_000))["pointsReversed"] == 40
    assert (await shop.refund("KEPT", "RF-2", amount=4_000))["pointsReversed"] == 40

    new = await simulate(shop, {"rule": {**PER_EURO, "name": "Base again"}})
    assert (new["ordersMatched"], new["membersAffected"], new["points"]) == (1, 1, 60)
    assert new["comparison"] is None

    unchanged = await simulate(shop, {"edit": {**PER_EURO, "rule": base}})
    assert (unchanged["points"], unchanged["comparison"]["pointsEarned"]) == (60, 60)
    assert (unchanged["comparison"]["pointsDifference"],
            unchanged["comparison"]["ordersChanged"]) == (0, 0)

    archived = await simulate(shop, {"archive": {"rule": base}})
    assert {key: archived["comparison"][key] for key in (
        "pointsEarned", "pointsDifference", "ordersChanged", "membersChanged")} == {
        "pointsEarned": 60, "pointsDifference": -60, "ordersChanged": 1, "membersChanged": 1}


async def test_an_unknown_rule_id_and_an_archived_rule_are_typed_errors(shop: Shop) -> None:
    await shop.rule(PER_EURO)
    retired = await shop.rule(BIG_BASKET)
    await shop.gql.data(ARCHIVE, {"input": {"rule": retired}}, token=shop.admin.access_token)

    cases: list[tuple[dict[str, Any], str, list[str]]] = [
        ({"edit": {**BIG_BASKET, "rule": retired}}, "INVALID_INPUT", ["input", "edit", "rule"]),
        ({"archive": {"rule": retired}}, "INVALID_INPUT", ["input", "archive", "rule"]),
        ({"archive": {"rule": relay.to_base64("EarningRule", "nope")}}, "UNKNOWN_RULE",
         ["input", "archive", "rule"]),
        ({"edit": {**PER_EURO, "rule": relay.to_base64("Member", "x")}}, "UNKNOWN_RULE",
         ["input", "edit", "rule"]),
    ]
    for change, code, field in cases:
        result = await simulate(shop, change)
        assert (result["points"], result["comparison"]) == (None, None)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)], change


async def test_rule_simulate_takes_exactly_one_of_rule_edit_or_archive(shop: Shop) -> None:
    base = await shop.rule(PER_EURO)

    nothing = await simulate(shop, {})
    both = await simulate(shop, {"rule": PER_EURO, "archive": {"rule": base}})
    bad_edit = await simulate(shop, {"edit": {**PER_EURO, "rule": base,
                                              "formula": {"kind": "FIXED"}}})

    assert [(e["code"], e["field"]) for e in nothing["errors"]] == [("INVALID_INPUT", ["input"])]
    assert [(e["code"], e["field"]) for e in both["errors"]] == [
        ("INVALID_INPUT", ["input", "archive"])]
    assert [(e["code"], e["field"]) for e in bad_edit["errors"]] == [
        ("INVALID_RULE", ["input", "edit", "formula", "points"])]


async def test_members_staff_and_shop_systems_cannot_simulate_rule_changes(
    shop: Shop,
) -> None:
    base = await shop.rule(PER_EURO)
    stores = ScannerShop(gql=shop.gql, admin=shop.admin)
    await stores.store("PARIS-01")
    staff = await stores.staff("sam@example.com", "PARIS-01", manager=True)
    member = await shop.sign_in("ann@example.com")
    window = {"from": shop.later(days=-1).isoformat(), "to": shop.later(hours=1).isoformat()}

    for token in (member.access_token, staff.access_token, shop.api_key):
        body = await shop.gql.execute(
            SIMULATE, {"input": {"archive": {"rule": base}, **window}}, token=token)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_simulating_a_change_costs_the_same_round_trips_whatever_the_orders(
    shop: Shop,
) -> None:
    base = await shop.rule(PER_EURO)
    commands = shop.gql.state.services.store.commands
    # A first-order rule reads earlier orders too: still once per batch, not per order.
    edit = {"edit": {**PER_EURO, "rule": base, "conditions": {"currency": "EUR",
                                                               "firstOrderOnly": True}}}

    async def trips() -> int:
        before = commands.total
        result = await simulate(shop, edit)
        assert result["errors"] == []
        return commands.total - before

    await three_orders(shop)
    await trips()  # the read cache warmed: the second run is measured
    few = await trips()
    for index in range(12):
        await shop.member(f"m{index}@example.com")
        await shop.record(shop.order(f"m{index}@example.com", 1_000 + index))
    # Recording the orders may outlast the read cache on a loaded machine: warm it again.
    await trips()
    many = await trips()

    assert few == many
