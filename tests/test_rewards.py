"""The rewards catalogue: administrators manage it without a deploy; a member sees each
active reward priced for them, whether they can afford it and may redeem it (and why
not), best for them first, in a constant number of database round trips."""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from strawberry.relay import to_base64

from loyalty.programme.tier_rules import Tier
from loyalty.rewards.policy import (
    Redeemer,
    Reward,
    RewardDraft,
    RewardKind,
    TierCost,
    best_first,
    cost_for,
    ineligibility,
    member_in_segments,
    price_to_redeem,
    view_for,
)
from store import KizunaError
from tests.ledger_support import PER_EURO
from tests.reward_support import RewardShop, ladder, open_reward_shop, set_tier
from tests.support import GraphQLClient

ADMIN_LIST = """query($first: Int!, $after: String) { rewards(first: $first, after: $after) {
  edges { node { title active stock redeemed remaining cost affordable eligible } }
  pageInfo { hasNextPage endCursor } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Reward { title cost affordable eligible
  ineligibleReason { code } } } }"""


@pytest.fixture
async def shop(gql: GraphQLClient) -> RewardShop:
    return await open_reward_shop(gql)


# --- administrators ------------------------------------------------------------------


async def test_an_administrator_creates_a_reward_with_every_option(shop: RewardShop) -> None:
    tiers = await ladder(shop)
    created = await shop.create(
        title="  Tote   bag ", description="Organic cotton.", kind="FREE_PRODUCT",
        amountOff=None, currency=None, productSku="TOTE-1",
        imageUrl="https://cdn.example.com/tote.png", cost=400,
        tierCosts=[{"tierId": tiers["Gold"], "cost": 300}], stock=50, perMemberLimit=2,
        minTierId=tiers["Silver"], earlyAccessUntil="2030-01-01T00:00:00Z",
        earlyAccessTierId=tiers["Gold"], activeFrom="2026-01-01T00:00:00+01:00",
        activeTo="2031-01-01T00:00:00Z", voucherValidDays=60, channels=["STORE"],
    )

    assert created["title"] == "Tote bag"
    assert created["tierCosts"] == [{"cost": 300, "tier": {"name": "Gold"}}]
    assert created["minTier"] == {"name": "Silver"}
    assert created["earlyAccessTier"] == {"name": "Gold"}
    assert created["activeFrom"] == "2025-12-31T23:00:00+00:00"
    assert (created["stock"], created["redeemed"], created["remaining"]) == (50, 0, 50)
    assert (created["cost"], created["baseCost"], created["channels"]) == (400, 400, ["STORE"])
    assert created["segments"] == []


async def test_every_problem_with_a_new_reward_is_reported_at_once(shop: RewardShop) -> None:
    payload = await shop.create_payload(
        title="", kind="AMOUNT_OFF", amountOff=None, percentOff=10, currency="XXX",
        imageUrl="http://cdn.example.com/x.png", cost=-1, stock=-5, perMemberLimit=0,
        minTierId=to_base64("Tier", "nope"), activeFrom="2030-01-01T00:00:00Z",
        activeTo="2029-01-01T00:00:00Z",
        voucherValidDays=0, channels=[],
    )

    assert payload["reward"] is None
    assert sorted((e["code"], e["field"][-1]) for e in payload["errors"]) == [
        ("INVALID_INPUT", "activeTo"), ("INVALID_INPUT", "amountOff"),
        ("INVALID_INPUT", "channels"), ("INVALID_INPUT", "cost"),
        ("INVALID_INPUT", "imageUrl"), ("INVALID_INPUT", "perMemberLimit"),
        ("INVALID_INPUT", "percentOff"), ("INVALID_INPUT", "stock"),
        ("INVALID_INPUT", "title"), ("INVALID_INPUT", "voucherValidDays"),
        ("UNKNOWN_CURRENCY", "currency"), ("UNKNOWN_TIER", "minTierId"),
    ]
    assert await shop.count("rewards") == 0


async def test_a_reward_for_an_unknown_segment_is_refused(shop: RewardShop) -> None:
    payload = await shop.create_payload(segments=["NO_SUCH_SEGMENT"])

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("UNKNOWN_SEGMENT", ["input", "segments"])]


async def test_an_update_changes_only_what_it_names_and_null_clears(shop: RewardShop) -> None:
    reward = await shop.create(title="€5 off", cost=100, stock=10, perMemberLimit=1,
                               imageUrl="https://cdn.example.com/a.png")

    updated = await shop.update(reward["id"], cost=150, perMemberLimit=None, imageUrl=None,
                                title=None)

    assert updated["errors"] == []
    changed = updated["reward"]
    assert (changed["title"], changed["cost"], changed["stock"]) == ("€5 off", 150, 10)
    assert (changed["perMemberLimit"], changed["imageUrl"]) == (None, None)


async def test_the_stock_cannot_drop_below_what_members_hold(shop: RewardShop) -> None:
    reward = await shop.create(cost=10, stock=5)
    for email in ("ann@example.com", "bob@example.com"):
        member = await shop.member(email, points=10)
        assert (await shop.redeem(member, reward["id"]))["errors"] == []

    too_low = await shop.update(reward["id"], stock=1)
    enough = await shop.update(reward["id"], stock=2)

    assert [(e["code"], e["field"]) for e in too_low["errors"]] == [
        ("INVALID_INPUT", ["input", "stock"])]
    assert (enough["reward"]["stock"], enough["reward"]["remaining"]) == (2, 0)


async def test_only_a_reward_never_issued_can_be_removed(shop: RewardShop) -> None:
    unused = await shop.create(title="Unused")
    used = await shop.create(title="Used", cost=10)
    ann = await shop.member("ann@example.com", points=10)
    await shop.redeem(ann, used["id"])
    delete = """mutation($input: RewardDeleteInput!) { rewardDelete(input: $input) {
        deletedRewardId errors { code } } }"""

    removed = await shop.gql.data(delete, {"input": {"rewardId": unused["id"]}},
                                  token=shop.admin_token)
    refused = await shop.gql.data(delete, {"input": {"rewardId": used["id"]}},
                                  token=shop.admin_token)

    assert removed["rewardDelete"] == {"deletedRewardId": unused["id"], "errors": []}
    assert refused["rewardDelete"]["errors"] == [{"code": "REWARD_IN_USE"}]


async def test_administrators_list_every_reward_with_its_stock(shop: RewardShop) -> None:
    await shop.create(title="A", stock=3)
    await shop.create(title="B", active=False)
    await shop.create(title="C", activeTo="2001-01-01T00:00:00Z")

    page = await shop.gql.data(ADMIN_LIST, {"first": 2}, token=shop.admin_token)
    rest = await shop.gql.data(ADMIN_LIST, {"first": 2,
                                            "after": page["rewards"]["pageInfo"]["endCursor"]},
                               token=shop.admin_token)

    nodes = [e["node"] for e in page["rewards"]["edges"] + rest["rewards"]["edges"]]
    assert [(n["title"], n["active"], n["stock"], n["remaining"]) for n in nodes] == [
        ("C", True, None, None), ("B", False, None, None), ("A", True, 3, 3)]
    assert all(n["affordable"] is None and n["eligible"] is None for n in nodes)
    assert page["rewards"]["pageInfo"]["hasNextPage"] is True


async def test_members_cannot_manage_rewards_nor_see_stock_numbers(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com")
    reward = await shop.create(stock=3)

    create = await shop.gql.execute(
        """mutation { rewardCreate(input: {title: "x", kind: EXPERIENCE, cost: 1}) {
             errors { code } } }""", token=ann.access_token)
    stock = await shop.gql.execute(NODE.replace("title cost", "title stock"),
                                   {"id": reward["id"]}, token=ann.access_token)

    assert create["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert stock["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- what a member sees ------------------------------------------------------------------


async def test_a_member_sees_active_rewards_best_for_them_first(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=300)
    for title, cost in (("Cheap", 100), ("Pricey", 250), ("Far", 1000), ("Near", 400)):
        await shop.create(title=title, cost=cost)
    await shop.create(title="Gone", cost=10, stock=0)
    await shop.create(title="Off", cost=10, active=False)
    await shop.create(title="Later", cost=10, activeFrom="2099-01-01T00:00:00Z")

    seen = await shop.catalogue(ann)

    assert [(r["title"], r["affordable"], r["pointsNeeded"], r["eligible"]) for r in seen] == [
        ("Pricey", True, 0, True), ("Cheap", True, 0, True), ("Near", False, 100, True),
        ("Far", False, 700, True), ("Gone", True, 0, False),
    ]
    assert seen[-1]["ineligibleReason"]["code"] == "OUT_OF_STOCK"


async def test_a_member_pages_through_their_catalogue(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=1000)
    for cost in (100, 200, 300, 400, 500):
        await shop.create(title=f"R{cost}", cost=cost)
    query = """query($after: String) { rewards(first: 2, after: $after) {
        edges { node { title } } pageInfo { hasNextPage endCursor } } }"""

    titles, after, pages = [], None, 0
    while True:
        data = (await shop.gql.data(query, {"after": after}, token=ann.access_token))["rewards"]
        titles += [e["node"]["title"] for e in data["edges"]]
        pages += 1
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]

    assert titles == ["R500", "R400", "R300", "R200", "R100"]
    assert pages == 3


async def test_a_member_sees_their_tier_price_and_why_they_cannot_redeem(
    shop: RewardShop,
) -> None:
    tiers = await ladder(shop)
    await shop.member("ann@example.com", points=500)
    await set_tier(shop, "ann@example.com", tiers["Silver"])
    ann = await shop.shop.sign_in("ann@example.com")
    await shop.create(title="Priced", cost=400, tierCosts=[{"tierId": tiers["Silver"],
                                                            "cost": 250}])
    await shop.create(title="Gold only", cost=10, minTierId=tiers["Gold"])
    await shop.create(title="Gold first", cost=10,
                      earlyAccessUntil=shop.shop.later(days=3).isoformat(),
                      earlyAccessTierId=tiers["Gold"])
    once = await shop.create(title="Once", cost=10, perMemberLimit=1)
    await shop.redeem(ann, once["id"])

    seen = {r["title"]: r for r in await shop.catalogue(ann)}

    assert (seen["Priced"]["cost"], seen["Priced"]["eligible"]) == (250, True)
    assert seen["Gold only"]["ineligibleReason"] == {
        "code": "NOT_ELIGIBLE_TIER", "message": "Reach Gold to unlock this reward."}
    assert seen["Gold first"]["ineligibleReason"]["code"] == "EARLY_ACCESS"
    assert (seen["Once"]["ineligibleReason"]["code"], seen["Once"]["timesRedeemed"]) == (
        "LIMIT_REACHED", 1)


async def test_a_segment_reward_is_for_members_of_the_segment(shop: RewardShop) -> None:
    await shop.shop.rule(PER_EURO)
    data = await shop.gql.data(
        """mutation($input: SegmentCreateInput!) { segmentCreate(input: $input) {
             segment { id } errors { code message } } }""",
        {"input": {"name": "RECENT_BUYERS", "conditions": {"lastOrderWithinDays": 30}}},
        token=shop.admin_token,
    )
    assert data["segmentCreate"]["errors"] == [], data
    ann = await shop.member("ann@example.com", points=100)
    bob = await shop.member("bob@example.com", points=100)
    await shop.shop.record(shop.shop.order("ann@example.com", 1000))
    reward = await shop.create(title="Thanks", cost=50, segments=["recent_buyers"])

    ann_sees = await shop.catalogue(ann)
    bob_sees = await shop.catalogue(bob)
    bob_redeems = await shop.redeem(bob, reward["id"])
    ann_redeems = await shop.redeem(ann, reward["id"])

    assert (ann_sees[0]["eligible"], bob_sees[0]["eligible"]) == (True, False)
    assert bob_sees[0]["ineligibleReason"]["code"] == "NOT_ELIGIBLE_SEGMENT"
    assert [e["code"] for e in bob_redeems["errors"]] == ["NOT_ELIGIBLE_SEGMENT"]
    assert ann_redeems["errors"] == []
    assert (await shop.stock(reward["id"]))["redeemed"] == 1


async def test_node_shows_a_member_only_what_they_may_see(shop: RewardShop) -> None:
    ann = await shop.member("ann@example.com", points=50)
    shown = await shop.create(title="Shown", cost=80)
    hidden = await shop.create(title="Hidden", active=False)

    mine = await shop.gql.data(NODE, {"id": shown["id"]}, token=ann.access_token)
    off = await shop.gql.data(NODE, {"id": hidden["id"]}, token=ann.access_token)
    admin = await shop.gql.data(NODE, {"id": hidden["id"]}, token=shop.admin_token)

    assert mine["node"] == {"title": "Shown", "cost": 80, "affordable": False, "eligible": True,
                            "ineligibleReason": None}
    assert off["node"] is None
    assert admin["node"]["title"] == "Hidden"


async def test_the_catalogue_costs_the_same_round_trips_whatever_its_size(
    shop: RewardShop,
) -> None:
    tiers = await ladder(shop)
    ann = await shop.member("ann@example.com", points=500)
    commands = shop.gql.state.services.store.commands

    async def trips() -> int:
        before = commands.total
        await shop.gql.data("""{ rewards(first: 50) { edges { node { title cost affordable
            eligible ineligibleReason { code } timesRedeemed minTier { name }
            tierCosts { cost tier { name } } } } } }""", token=ann.access_token)
        return commands.total - before

    await shop.create(title="First", minTierId=tiers["Gold"],
                      tierCosts=[{"tierId": tiers["Silver"], "cost": 1}])
    few = await trips()
    for index in range(30):
        await shop.create(title=f"R{index}", minTierId=tiers["Silver"], cost=index)
    many = await trips()

    # The rewards, the member's totals, their lots, the tiers (policy, then the answer's
    # tier names): whatever the number of rewards.
    assert few == many <= 5


# --- the policy, without a database ------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Paris")
SILVER, GOLD = Tier("s", "Silver", 100), Tier("g", "Gold", 500)


def _reward(reward_id: str = "r", **draft: Any) -> Reward:
    fields = {"title": "Reward", "kind": RewardKind.EXPERIENCE, "cost": 100, **draft}
    return Reward(id=reward_id, draft=RewardDraft(**fields), redeemed=0, issued=0,
                  created_at=NOW, updated_at=NOW)


def test_higher_tiers_never_pay_more_than_lower_ones() -> None:
    reward = _reward(cost=400, tier_costs=(TierCost("s", 300), TierCost("g", 350)))

    prices = [cost_for(reward, tier, [SILVER, GOLD]) for tier in (None, "s", "g")]

    assert prices == [400, 300, 300]


def test_segment_membership_means_any_of_the_rewards_segments() -> None:
    assert member_in_segments([], frozenset())
    assert member_in_segments(["A", "B"], frozenset({"B", "C"}))
    assert not member_in_segments(["A"], frozenset({"B"}))


def test_a_tier_that_no_longer_exists_lets_nobody_in() -> None:
    reward = _reward(min_tier_id="deleted")

    problem = ineligibility(reward, Redeemer(tier_id="g", balance=1000), tiers=[SILVER, GOLD],
                            now=NOW, timezone=ZONE)

    assert problem is not None and problem.code == "NOT_ELIGIBLE_TIER"


def test_best_first_puts_the_redeemable_then_the_nearly_affordable_first() -> None:
    redeemer = Redeemer(tier_id=None, balance=200, reward_counts={"limited": 1})
    rewards = [_reward("big", cost=900), _reward("small", cost=50), _reward("mid", cost=200),
               _reward("near", cost=250), _reward("limited", cost=10, per_member_limit=1)]

    ordered = best_first([view_for(r, redeemer, tiers=[], now=NOW, timezone=ZONE)
                          for r in rewards])

    assert [v.reward.id for v in ordered] == ["mid", "small", "near", "big", "limited"]


@pytest.mark.parametrize(
    ("reward", "balance", "taken", "code"),
    [
        (_reward(cost=100), 99, True, "INSUFFICIENT_POINTS"),
        (_reward(cost=100), 1000, False, "OUT_OF_STOCK"),
        # Why the member may not have it comes before the stock it could not get.
        (_reward(min_tier_id="g"), 1000, False, "NOT_ELIGIBLE_TIER"),
        (_reward(active_to=NOW), 1000, True, "ENDED"),
    ],
)
def test_the_price_to_redeem_names_the_first_obstacle(
    reward: Reward, balance: int, taken: bool, code: str
) -> None:
    with pytest.raises(KizunaError) as refused:
        price_to_redeem(reward, Redeemer(tier_id="s", balance=balance), tiers=[SILVER, GOLD],
                        now=NOW, stock_taken=taken, timezone=ZONE)

    assert refused.value.code == code


async def test_tiers_and_segments_a_reward_needs_cannot_be_deleted(shop: RewardShop) -> None:
    tiers = await ladder(shop)
    created = await shop.gql.data(
        """mutation { segmentCreate(input: {name: "VIP", conditions: {lapsedDays: 30}}) {
             segment { id } } }""", token=shop.admin_token)
    await shop.create(title="Gold only", minTierId=tiers["Gold"], segments=["VIP"])
    await shop.create(title="Cheaper for Silver",
                      tierCosts=[{"tierId": tiers["Silver"], "cost": 1}])

    results = [
        (await shop.gql.data(
            """mutation($input: TierDeleteInput!) { tierDelete(input: $input) {
                 errors { code message } } }""",
            {"input": {"id": tier_id}}, token=shop.admin_token))["tierDelete"]["errors"]
        for tier_id in (tiers["Gold"], tiers["Silver"])
    ]
    segment = (await shop.gql.data(
        """mutation($input: SegmentDeleteInput!) { segmentDelete(input: $input) {
             errors { code message } } }""",
        {"input": {"segment": created["segmentCreate"]["segment"]["id"]}},
        token=shop.admin_token))["segmentDelete"]["errors"]

    assert [[e["code"] for e in errors] for errors in results] == [["TIER_IN_USE"]] * 2
    assert "Rewards" in results[0][0]["message"]
    assert [e["code"] for e in segment] == ["SEGMENT_IN_USE"]
    data = await shop.gql.data("{ tiers { name } }", token=shop.admin_token)
    assert [t["name"] for t in data["tiers"]] == ["Silver", "Gold"]
