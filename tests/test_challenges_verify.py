"""`kizuna verify` over challenges: the badges a standing completion gave are held, and no
challenge voucher stays pending for more than a day."""

from datetime import timedelta

from strawberry import relay

from tests.badge_support import BADGE_REVOKE, create_badge
from tests.challenge_support import challenge, create, documents
from tests.ledger_support import open_shop
from tests.support import GraphQLClient


async def test_a_badge_a_completion_gave_that_vanished_is_flagged_but_not_an_admin_revoke(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    star = await create_badge(shop, "Star")
    await create(shop, challenge(shop, title="One order", target=1,
                                 reward={"badgeIds": [star]}))
    await shop.member("ann@example.com")
    await shop.member("bob@example.com")
    await shop.record(shop.order("ann@example.com", 2000))
    await shop.record(shop.order("bob@example.com", 2000))
    assert await shop.violations() == []
    store = gql.state.services.store
    badge = relay.GlobalID.from_id(star).node_id
    account = await store.collection("accounts").find_one({"email": "ann@example.com"})
    assert account is not None
    ann = account["_id"]

    await store.collection("members").update_one({"_id": ann},
                                                 {"$unset": {f"badges.{badge}": ""}})
    revoked = await gql.data(BADGE_REVOKE, {"input": {
        "member": {"email": "bob@example.com"}, "badgeId": star,
        "reason": "Awarded by mistake"}}, token=shop.admin.access_token)

    assert revoked["badgeRevoke"]["errors"] == []
    found = await shop.violations()
    assert len(found) == 1 and f"the badge {badge} it gave is not held" in found[0]
    assert ann in found[0]


async def test_a_challenge_voucher_pending_for_more_than_a_day_is_flagged(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, title="One order", target=1, reward={"voucher": {
        "kind": "PERCENT_OFF", "title": "10% off", "percentOff": 10, "validDays": 30}}))
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 2000))
    store = gql.state.services.store
    (gift,) = await documents(shop, "gifts", {"occasion": "CHALLENGE"})
    await store.collection("gifts").update_one({"_id": gift["_id"]}, {"$set": {
        "status": "PENDING", "created_at": gift["created_at"] - timedelta(hours=2)}})
    assert await shop.violations() == []  # delivered by the next jobs round

    await store.collection("gifts").update_one({"_id": gift["_id"]}, {"$set": {
        "created_at": gift["created_at"] - timedelta(days=2)}})

    found = await shop.violations()
    assert len(found) == 1 and "still pending after a day" in found[0]
