"""Tiers: upgrade at once, downgrade only at review and one level at a time, manual tiers,
the earn multiplier, and what the member sees."""

import asyncio
import dataclasses
from typing import Any

import httpx
from strawberry.relay import from_base64, to_base64

from api.app import create_app
from api.settings import Settings
from loyalty.tiers.moves import reevaluate_ladder, review_due_tiers
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import TEST_CLIENT_ADDRESS, GraphQLClient, ManualClock, SignedIn

TIER_CREATE = """
mutation($input: TierCreateInput!) { tierCreate(input: $input) {
  tier { id name threshold earnMultiplier perks } errors { code message field } } }"""

ME_TIER = """
{ me { tier { manual since current { name } next { name threshold }
  progress { qualifying required remaining windowEndsAt }
  keepBy { qualifying required remaining windowEndsAt } } } }"""

HISTORY = "{ me { history(first: 20) { edges { node { kind points reason } } } } }"


async def _ladder(gql: GraphQLClient) -> tuple[Shop, dict[str, str]]:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    ids = {}
    for name, threshold, multiplier in (("Silver", 100, 1.0), ("Gold", 500, 1.5)):
        data = await gql.data(TIER_CREATE, {"input": {
            "name": name, "threshold": threshold, "earnMultiplier": multiplier,
            "perks": f"{name} perks"}}, token=shop.admin.access_token)
        assert data["tierCreate"]["errors"] == [], data
        ids[name] = data["tierCreate"]["tier"]["id"]
    return shop, ids


async def _tier(gql: GraphQLClient, member: SignedIn) -> dict[str, Any]:
    tier: dict[str, Any] = (await gql.data(ME_TIER, token=member.access_token))["me"]["tier"]
    return tier


async def _history(gql: GraphQLClient, member: SignedIn) -> list[dict[str, Any]]:
    data = await gql.data(HISTORY, token=member.access_token)
    return [edge["node"] for edge in data["me"]["history"]["edges"]]


async def test_a_member_sees_how_far_the_next_tier_is(gql: GraphQLClient) -> None:
    shop, _ = await _ladder(gql)
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 42_000))

    tier = await _tier(gql, ann)

    assert tier["current"] == {"name": "Silver"}
    assert tier["next"] == {"name": "Gold", "threshold": 500}
    assert tier["progress"]["qualifying"] == 420
    assert tier["progress"]["remaining"] == 80
    # The review, a year on, judges the 12 months before it: this month's points will not
    # count any more, so all 100 are still to earn by then.
    assert tier["keepBy"] == {"qualifying": 0, "required": 100, "remaining": 100,
                              "windowEndsAt": tier["keepBy"]["windowEndsAt"]}
    assert tier["keepBy"]["windowEndsAt"][:4] == str(shop.now().year + 1)
    assert tier["manual"] is False


async def test_crossing_a_threshold_upgrades_at_once_with_a_history_line(
    gql: GraphQLClient,
) -> None:
    shop, _ = await _ladder(gql)
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 42_000))
    await shop.record(shop.order("ann@example.com", 9_000))

    tier = await _tier(gql, ann)
    tier_lines = [e for e in await _history(gql, ann) if e["kind"] == "TIER"]

    assert tier["current"] == {"name": "Gold"}
    assert tier["next"] is None
    assert [e["reason"] for e in tier_lines] == ["Reached Gold: 510 qualifying",
                                                 "Reached Silver: 420 qualifying"]
    assert all(e["points"] == 0 for e in tier_lines)
    assert await shop.violations() == []


async def test_the_tier_multiplier_adds_a_line_to_the_earn_breakdown(gql: GraphQLClient) -> None:
    shop, _ = await _ladder(gql)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 60_000))

    earned = await shop.record(shop.order("ann@example.com", 10_000))

    assert earned["pointsEarned"] == 150
    assert {"ruleName": "Gold tier ×1.5", "points": 50, "capped": False} in earned["breakdown"]


async def test_no_downgrade_before_the_review_date_then_one_level_at_a_time(
    gql: GraphQLClient,
) -> None:
    shop, _ = await _ladder(gql)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 60_000))
    store, clock = gql.state.services.store, gql.state.services.clock

    await shop.advance(days=300)
    assert await review_due_tiers(store, clock=clock) == 0
    await shop.advance(days=100)  # past the review date (12 months) and the 30-day grace
    reviewed = await review_due_tiers(store, clock=clock)
    ann = await shop.sign_in("ann@example.com")

    assert reviewed == 1
    assert (await _tier(gql, ann))["current"] == {"name": "Silver"}
    reasons = [e["reason"] for e in await _history(gql, ann) if e["kind"] == "TIER"]
    assert reasons[0] == "Moved to Silver at review: 0 qualifying"
    assert await review_due_tiers(store, clock=clock) == 0


async def test_a_member_who_still_qualifies_keeps_the_tier_at_review(gql: GraphQLClient) -> None:
    shop, _ = await _ladder(gql)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 60_000))
    store, clock = gql.state.services.store, gql.state.services.clock
    await shop.advance(days=300)
    await shop.record(shop.order("ann@example.com", 40_000))  # 600 qualifying in the window

    await shop.advance(days=100)
    await review_due_tiers(store, clock=clock)
    ann = await shop.sign_in("ann@example.com")

    tier = await _tier(gql, ann)
    assert tier["current"] == {"name": "Gold"}
    assert tier["keepBy"]["windowEndsAt"] > (shop.now()).isoformat()


async def test_a_manual_tier_is_shown_as_such_and_survives_review(gql: GraphQLClient) -> None:
    shop, ids = await _ladder(gql)
    await shop.member("ann@example.com")
    set_tier = """mutation($input: MemberTierSetInput!) { memberTierSet(input: $input) {
        entry { kind reason } errors { code field } } }"""

    data = await gql.data(set_tier, {"input": {"member": {"email": "ann@example.com"},
                                               "tierId": ids["Gold"], "reason": "VIP guest"}},
                          token=shop.admin.access_token)
    await shop.advance(days=500)
    await review_due_tiers(gql.state.services.store, clock=gql.state.services.clock)
    ann = await shop.sign_in("ann@example.com")

    assert data["memberTierSet"]["entry"] == {
        "kind": "TIER", "reason": "Set to Gold by an administrator: VIP guest"}
    tier = await _tier(gql, ann)
    assert tier["current"] == {"name": "Gold"}
    assert tier["manual"] is True
    assert tier["keepBy"] is None


async def test_a_refund_takes_back_its_qualifying_points(gql: GraphQLClient) -> None:
    shop, _ = await _ladder(gql)
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 42_000, order_id="W-1"))

    await shop.refund("W-1", "RF-1", amount=21_000)

    assert (await _tier(gql, ann))["progress"]["qualifying"] == 210


async def test_tier_input_is_validated_and_tiers_in_use_cannot_be_removed(
    gql: GraphQLClient,
) -> None:
    shop, ids = await _ladder(gql)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 20_000))
    duplicate = await gql.data(TIER_CREATE, {"input": {"name": "gold", "threshold": 500,
                                                       "earnMultiplier": 20}},
                               token=shop.admin.access_token)
    delete = await gql.data(
        """mutation($input: TierDeleteInput!) { tierDelete(input: $input) {
             errors { code } } }""",
        {"input": {"id": ids["Silver"]}}, token=shop.admin.access_token)

    assert sorted(e["field"][-1] for e in duplicate["tierCreate"]["errors"]) == [
        "earnMultiplier", "name", "threshold"]
    assert delete["tierDelete"]["errors"] == [{"code": "TIER_IN_USE"}]
    tiers = await gql.data("{ tiers { name } }", token=shop.admin.access_token)
    assert tiers["tiers"] == [{"name": "Silver"}, {"name": "Gold"}]


async def test_members_cannot_manage_tiers(gql: GraphQLClient) -> None:
    shop, _ = await _ladder(gql)
    ann = await shop.member("ann@example.com")

    body = await gql.execute(TIER_CREATE, {"input": {"name": "Platinum", "threshold": 900}},
                             token=ann.access_token)

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def _reevaluate(gql: GraphQLClient, times: int = 1) -> list[int]:
    services = gql.state.services
    return list(await asyncio.gather(*(
        reevaluate_ladder(services.store, clock=services.clock) for _ in range(times)
    )))


async def test_members_who_qualify_for_a_new_tier_move_up_once_after_the_change(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    ann = await shop.member("ann@example.com")
    bob = await shop.member("bob@example.com")
    await shop.record(shop.order("ann@example.com", 42_000))  # 420 qualifying, no tier yet
    await shop.record(shop.order("bob@example.com", 5_000))  # 50
    assert (await _tier(gql, ann))["current"] is None

    data = await gql.data(TIER_CREATE, {"input": {"name": "Silver", "threshold": 100,
                                                  "earnMultiplier": 1.0, "perks": ""}},
                          token=shop.admin.access_token)
    assert data["tierCreate"]["errors"] == []
    # Concurrent runs (several instances) move each member once; later runs do nothing.
    first = await _reevaluate(gql, times=3)
    again = await _reevaluate(gql)

    assert sorted(first) == [0, 0, 1] and again == [0]
    assert (await _tier(gql, ann))["current"] == {"name": "Silver"}
    assert (await _tier(gql, bob))["current"] is None
    assert [e["reason"] for e in await _history(gql, ann) if e["kind"] == "TIER"] == [
        "Reached Silver: 420 qualifying (the tiers changed)"]
    assert await shop.violations() == []


async def test_a_lower_threshold_moves_members_up_but_a_higher_one_moves_nobody_down(
    gql: GraphQLClient,
) -> None:
    shop, ids = await _ladder(gql)
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 42_000))  # Silver, 420 qualifying
    await _reevaluate(gql)
    update = """mutation($input: TierUpdateInput!) { tierUpdate(input: $input) {
      tier { threshold } errors { code } } }"""

    await gql.data(update, {"input": {"id": ids["Gold"], "threshold": 400}},
                   token=shop.admin.access_token)
    moved_up = await _reevaluate(gql)
    await gql.data(update, {"input": {"id": ids["Gold"], "threshold": 1_000}},
                   token=shop.admin.access_token)
    moved_down = await _reevaluate(gql)

    assert (moved_up, moved_down) == ([1], [0])
    assert (await _tier(gql, ann))["current"] == {"name": "Gold"}


async def test_a_new_tier_wakes_the_background_jobs_at_once(
    gql: GraphQLClient, settings: Settings, clock: ManualClock
) -> None:
    # An instance whose jobs run hourly: the tier change must not wait for the hour.
    hourly = dataclasses.replace(settings, expiry_interval_seconds=3600)
    app = create_app(hourly, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(TEST_CLIENT_ADDRESS, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as http:
            instance = GraphQLClient(http, app.state.kizuna)
            shop = await open_shop(instance)
            await shop.rule(PER_EURO)
            ann = await shop.member("ann@example.com")
            await shop.record(shop.order("ann@example.com", 42_000))
            await instance.data(TIER_CREATE, {"input": {
                "name": "Silver", "threshold": 100, "earnMultiplier": 1.0, "perks": ""}},
                token=shop.admin.access_token)
            tiers = []
            for _ in range(50):  # up to 5 s
                tiers.append((await _tier(instance, ann))["current"])
                if tiers[-1] is not None:
                    break
                await asyncio.sleep(0.1)
            assert tiers[-1] == {"name": "Silver"}, tiers


async def test_tiers_are_nodes_with_global_ids_like_every_other_object(
    gql: GraphQLClient,
) -> None:
    shop, ids = await _ladder(gql)
    ann = await shop.member("ann@example.com")
    node = "query($id: ID!) { node(id: $id) { id ... on Tier { name threshold } } }"

    as_member = await gql.data(node, {"id": ids["Gold"]}, token=ann.access_token)
    anonymous = await gql.data(node, {"id": ids["Gold"]})
    listed = await gql.data("{ tiers { id name } }", token=ann.access_token)
    wrong_type = await gql.data(
        """mutation($input: MemberTierSetInput!) { memberTierSet(input: $input) {
             errors { code field } } }""",
        {"input": {"member": {"email": "ann@example.com"}, "tierId": to_base64("Reward", "x"),
                   "reason": "Test"}}, token=shop.admin.access_token)

    assert from_base64(ids["Gold"])[0] == "Tier"
    assert as_member["node"] == {"id": ids["Gold"], "name": "Gold", "threshold": 500}
    assert anonymous["node"] is None
    assert [t["id"] for t in listed["tiers"]] == [ids["Silver"], ids["Gold"]]
    assert wrong_type["memberTierSet"]["errors"] == [
        {"code": "UNKNOWN_TIER", "field": ["input", "tierId"]}]
