"""The member app's home screen — balance, tier progress, active vouchers, offers — in one
query: what it shows, what it costs in database round trips, and that an administrator's
change shows at once."""

from datetime import timedelta
from typing import Any

from tests.ledger_support import PER_EURO
from tests.reward_support import RewardShop, ladder, open_reward_shop
from tests.scanner_support import VOUCHER_ISSUE
from tests.support import GraphQLClient, SignedIn

HOME = """{ me { name
  points { balance pending expiringSoon { points expiresAt } }
  tier { current { name } next { name } manual
         progress { qualifying required remaining windowEndsAt }
         keepBy { qualifying required remaining windowEndsAt } }
  vouchers(first: 10, status: ACTIVE) { edges { node { id code title status expiresAt } } }
  offers(first: 5) { kind title explanation rewardId ruleId } } }"""


async def _home(shop: RewardShop, member: SignedIn) -> dict[str, Any]:
    me: dict[str, Any] = (await shop.gql.data(HOME, token=member.access_token))["me"]
    return me


async def _segment(shop: RewardShop, name: str, conditions: dict[str, Any]) -> None:
    data = await shop.gql.data(
        """mutation($input: SegmentCreateInput!) { segmentCreate(input: $input) {
             errors { code } } }""",
        {"input": {"name": name, "conditions": conditions}}, token=shop.admin_token,
    )
    assert data["segmentCreate"]["errors"] == [], data


async def _furnished(gql: GraphQLClient) -> tuple[RewardShop, SignedIn, dict[str, str]]:
    """Ann: 1,200 points from a €400 shoe order and a gift, Silver of a Silver/Gold ladder, 12
    gift vouchers; a catalogue with tier, segment and birthday conditions; two campaigns."""
    shop = await open_reward_shop(gql)
    tiers = await ladder(shop)  # Silver 100, Gold 500 (points earned over 12 months)
    ann = await shop.member("ann@example.com")
    await gql.consent(ann)  # personal offers need the member's consent
    await shop.shop.rule(PER_EURO)
    await shop.shop.record(shop.shop.order("ann@example.com", 40_000, items=[
        {"sku": "BOOT", "category": "shoes", "quantity": 1, "unitPrice": 40_000}]))
    await shop.give("ann@example.com", 800)
    await _segment(shop, "BIG_SPENDERS", {"monetary": {"minimum": 10_000, "months": 12}})
    await _segment(shop, "BIRTHDAY_MONTH", {"birthdayThisMonth": True})
    ends = (shop.shop.now() + timedelta(days=5)).isoformat()
    await shop.shop.rule({"name": "Double points on shoes", "trigger": "ORDER",
                          "conditions": {"categoriesInclude": ["shoes"], "endsAt": ends},
                          "formula": {"kind": "MULTIPLIER", "factor": 2}})
    ids = {}
    for title, extra in (
        ("Tote bag", {"cost": 250}),
        ("Coffee", {"cost": 150}),
        ("Scarf", {"cost": 600, "tierCosts": [{"tierId": tiers["Silver"], "cost": 500}]}),
        ("Lounge pass", {"cost": 900, "segments": ["BIG_SPENDERS"]}),
        ("Birthday cake", {"cost": 100, "segments": ["BIRTHDAY_MONTH"]}),
        ("Gold gift", {"cost": 300, "minTierId": tiers["Gold"]}),
        ("Weekend trip", {"cost": 50_000}),
    ):
        ids[title] = (await shop.create(title=title, **extra))["id"]
    for number in range(12):
        data = await gql.data(VOUCHER_ISSUE, {"input": {
            "member": {"email": "ann@example.com"}, "kind": "AMOUNT_OFF",
            "title": f"Gift {number}", "amountOff": 500, "currency": "EUR", "validDays": 30,
            "idempotencyKey": f"home-gift-{number}"}}, token=shop.admin_token)
        assert data["voucherIssue"]["errors"] == [], data
    return shop, ann, ids


async def test_the_home_screen_shows_balance_tier_vouchers_and_offers(
    gql: GraphQLClient,
) -> None:
    shop, ann, ids = await _furnished(gql)

    home = await _home(shop, ann)

    assert home["points"]["balance"] == await shop.balance(ann) == 400 + 800
    assert home["tier"]["current"]["name"] == "Silver"
    assert home["tier"]["next"]["name"] == "Gold"
    assert home["tier"]["progress"]["required"] == 500
    assert home["tier"]["progress"]["remaining"] == 100
    assert len(home["vouchers"]["edges"]) == 10
    assert {e["node"]["status"] for e in home["vouchers"]["edges"]} == {"ACTIVE"}
    offers = home["offers"]
    assert len(offers) == 5
    assert offers[0]["title"] == "Double points on shoes"
    rewards = [o["rewardId"] for o in offers if o["kind"] == "REWARD"]
    assert ids["Lounge pass"] in rewards  # the monetary segment holds for Ann
    assert ids["Birthday cake"] not in rewards  # she gave no birthday
    assert ids["Gold gift"] not in rewards and ids["Weekend trip"] not in rewards


async def test_the_home_screen_costs_four_round_trips_once_reference_data_is_cached(
    gql: GraphQLClient,
) -> None:
    shop, ann, _ = await _furnished(gql)
    commands = gql.state.services.store.commands
    await _home(shop, ann)  # the programme, rules, rewards and segments are now cached

    before_total, before = commands.total, dict(commands.by_name)
    await _home(shop, ann)

    # The account, the member's totals, their open lots, a page of vouchers.
    assert commands.total - before_total == 4
    assert {name: count - before.get(name, 0) for name, count in commands.by_name.items()
            if count != before.get(name, 0)} == {"find": 4}


async def test_an_administrators_change_shows_on_the_next_home_screen(
    gql: GraphQLClient,
) -> None:
    shop, ann, ids = await _furnished(gql)
    await _home(shop, ann)

    await shop.update(ids["Tote bag"], active=False)
    cushion = (await shop.create(title="Cushion", cost=200))["id"]
    data = await gql.data(
        """mutation($input: TierUpdateInput!) { tierUpdate(input: $input) { errors { code } } }""",
        {"input": {"id": (await _tier_ids(shop))["Gold"], "name": "Golden"}},
        token=shop.admin_token,
    )
    assert data["tierUpdate"]["errors"] == []

    home = await _home(shop, ann)
    rewards = [o["rewardId"] for o in home["offers"] if o["kind"] == "REWARD"]
    assert ids["Tote bag"] not in rewards
    assert cushion in rewards
    assert home["tier"]["next"]["name"] == "Golden"


async def _tier_ids(shop: RewardShop) -> dict[str, str]:
    data = await shop.gql.data("{ tiers { id name } }", token=shop.admin_token)
    return {t["name"]: t["id"] for t in data["tiers"]}
