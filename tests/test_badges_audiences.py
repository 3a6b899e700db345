"""Badges as conditions of rewards (redeem only with the badges) and of segments (members
holding the badges), over GraphQL."""

from typing import Any

from strawberry.relay import to_base64

from loyalty.collections import LEDGER, REWARDS, SEGMENTS
from scanner.collections import VOUCHERS
from tests.badge_support import BADGE_ARCHIVE, create_badge, grant
from tests.reward_support import open_reward_shop
from tests.support import GraphQLClient

SEGMENT_CREATE = """mutation($input: SegmentCreateInput!) { segmentCreate(input: $input) {
  segment { id name conditions { badgeIds } } errors { code message field } } }"""
PREVIEW = """query($input: SegmentPreviewInput!) { segmentPreview(input: $input) {
  count sample { email } errors { code message field } } }"""
MEMBERS_IN = """query($segment: ID!) { members(segment: $segment) {
  edges { node { email } } } }"""


async def test_a_reward_requiring_a_badge_refuses_non_holders_with_a_typed_error(
    gql: GraphQLClient,
) -> None:
    shop = await open_reward_shop(gql)
    vip = await create_badge(shop.shop, "Insider")
    ann = await shop.member("ann@example.com", points=500)
    bob = await shop.member("bob@example.com", points=500)
    assert (await grant(shop.shop, "ann@example.com", vip))["errors"] == []
    reward = await shop.create(title="Backstage tour", cost=100, badgeIds=[vip])
    assert reward["id"]
    store = gql.state.services.store
    ledger_before = await store.collection(LEDGER).count_documents({})

    refused = await shop.redeem(bob, reward["id"])

    assert [e["code"] for e in refused["errors"]] == ["NOT_ELIGIBLE_BADGE"]
    assert refused["voucher"] is None
    assert await store.collection(LEDGER).count_documents({}) == ledger_before
    assert await store.collection(VOUCHERS).count_documents({}) == 0
    assert (await store.collection(REWARDS).find_one({}))["redeemed"] == 0
    seen_by_bob = {r["title"]: r for r in await shop.catalogue(bob)}
    assert seen_by_bob["Backstage tour"]["eligible"] is False
    assert seen_by_bob["Backstage tour"]["ineligibleReason"]["code"] == "NOT_ELIGIBLE_BADGE"
    redeemed = await shop.redeem(ann, reward["id"])
    assert redeemed["errors"] == [] and redeemed["pointsSpent"] == 100
    assert await shop.balance(bob) == 500


async def test_a_reward_naming_an_unknown_badge_is_not_stored(gql: GraphQLClient) -> None:
    shop = await open_reward_shop(gql)

    payload = await shop.create_payload(title="Tour", cost=100,
                                        badgeIds=[to_base64("Badge", "f" * 24)])

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("UNKNOWN_BADGE", ["input", "badgeIds"])]
    assert await gql.state.services.store.collection(REWARDS).count_documents({}) == 0


async def _segment(gql: GraphQLClient, token: str, conditions: dict[str, Any]) -> (
    dict[str, Any]
):
    data = await gql.data(SEGMENT_CREATE, {"input": {"name": "INSIDERS",
                                                     "conditions": conditions}}, token=token)
    payload: dict[str, Any] = data["segmentCreate"]
    return payload


async def test_a_segment_by_badge_holds_the_holders_in_preview_list_and_rules(
    gql: GraphQLClient,
) -> None:
    shop = await open_reward_shop(gql)
    token = shop.admin_token
    insider = await create_badge(shop.shop, "Insider")
    await shop.member("ann@example.com")
    await shop.member("bob@example.com")
    assert (await grant(shop.shop, "bob@example.com", insider))["errors"] == []

    created = await _segment(gql, token, {"badgeIds": [insider]})

    assert created["errors"] == []
    assert created["segment"]["conditions"]["badgeIds"] == [insider]
    preview = (await gql.data(PREVIEW, {"input": {"conditions": {"badgeIds": [insider]}}},
                              token=token))["segmentPreview"]
    assert (preview["count"], preview["sample"]) == (1, [{"email": "bob@example.com"}])
    listed = await gql.data(MEMBERS_IN, {"segment": created["segment"]["id"]}, token=token)
    assert [e["node"]["email"] for e in listed["members"]["edges"]] == ["bob@example.com"]
    await shop.shop.rule({"name": "Insider bonus", "trigger": "ORDER",
                          "conditions": {"segments": ["INSIDERS"]},
                          "formula": {"kind": "FIXED", "points": 7}})
    for_ann = await shop.shop.record(shop.shop.order("ann@example.com", 1000))
    for_bob = await shop.shop.record(shop.shop.order("bob@example.com", 1000))
    assert (for_ann["pointsEarned"], for_bob["pointsEarned"]) == (0, 7)


async def test_a_segment_naming_an_unknown_or_archived_badge_is_not_stored(
    gql: GraphQLClient,
) -> None:
    shop = await open_reward_shop(gql)
    old = await create_badge(shop.shop, "Old")
    await gql.data(BADGE_ARCHIVE, {"input": {"badgeId": old}}, token=shop.admin_token)

    for badge in (old, to_base64("Badge", "a" * 24)):
        payload = await _segment(gql, shop.admin_token, {"badgeIds": [badge]})
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("UNKNOWN_BADGE", ["input", "conditions", "badgeIds"])]

    assert await gql.state.services.store.collection(SEGMENTS).count_documents({}) == 0
