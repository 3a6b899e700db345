"""Each kind of challenge end to end over HTTP, with refunds: spending, actions, a streak of
weeks in the programme's time zone, different stores."""

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from strawberry import relay

from tests.badge_support import create_badge
from tests.challenge_support import action, challenge, create, documents, mine
from tests.ledger_support import Shop, open_shop
from tests.scanner_support import ScannerShop
from tests.support import GraphQLClient, SignedIn

CARD = "{ me { card { token } } }"
BADGES = "badges"


async def test_spend_completes_and_a_partial_refund_below_target_takes_the_reward_back(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    big_spender = await create_badge(shop, "Big spender")
    await create(shop, challenge(
        shop, title="Spend €100", kind="SPEND", target=10_000, refundPolicy="TAKE_BACK",
        conditions={"currency": "EUR", "categoriesExclude": ["gift-cards"]},
        reward={"points": 300, "badgeIds": [big_spender]}))
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 6000, order_id="A"))
    # Only the eligible lines count: half this order is a gift card.
    await shop.record(shop.order("ann@example.com", 2000, order_id="B", items=[
        {"sku": "GC", "category": "gift-cards", "quantity": 1, "unitPrice": 1000},
        {"sku": "S1", "category": "shoes", "quantity": 1, "unitPrice": 1000}]))
    mid = (await mine(shop, ann))["Spend €100"]
    assert mid["progress"] == 7000
    assert mid["nextStep"].startswith("Spend €30 more before ")
    await shop.record(shop.order("ann@example.com", 5000, order_id="C"))
    assert (await shop.points(ann))["balance"] == 300
    assert _raw(big_spender) in (await _member(shop, "ann@example.com"))[BADGES]

    refund = await shop.refund("C", "R-1", amount=2000)  # 12,000 − 2,000 = 10,000: still there
    assert refund["errors"] == []
    assert (await mine(shop, ann))["Spend €100"]["completedAt"] is not None
    await shop.refund("C", "R-2", amount=1000)  # 9,000: below the target

    after = (await mine(shop, ann))["Spend €100"]
    assert (after["progress"], after["completedAt"]) == (9000, None)
    assert (await shop.points(ann))["balance"] == 0
    taken = await documents(shop, "ledger", {"source.type": "CHALLENGE", "kind": "REVERSAL"})
    assert [e["points"] for e in taken] == [-300]
    assert _raw(big_spender) not in (await _member(shop, "ann@example.com")).get(BADGES, {})
    assert len(await documents(shop, "events", {"type": "challenge.revoked"})) == 1

    await shop.record(shop.order("ann@example.com", 1000, order_id="D"))  # completes again
    assert (await shop.points(ann))["balance"] == 300
    (completion,) = await documents(shop, "challenge_completions")
    assert (completion["round"], completion["status"]) == (2, "COMPLETED")
    assert await shop.violations() == []


async def test_a_full_refund_under_keep_moves_progress_back_but_keeps_the_reward(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, title="Two orders", target=2, refundPolicy="KEEP",
                                 conditions={"currency": "EUR", "minTotal": 1500}))
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 2000, order_id="A"))
    await shop.record(shop.order("ann@example.com", 2000, order_id="B"))
    assert (await shop.points(ann))["balance"] == 100

    await shop.refund("B", "R-1", amount=1000)  # 1,000 left: below the minimum total

    kept = (await mine(shop, ann))["Two orders"]
    assert kept["progress"] == 1 and kept["completedAt"] is not None
    assert (await shop.points(ann))["balance"] == 100
    await shop.refund("B", "R-2", amount=1000)  # nothing more to take back
    await shop.record(shop.order("ann@example.com", 2000, order_id="C"))  # no second reward
    assert len(await documents(shop, "gifts", {"occasion": "CHALLENGE"})) == 1
    (progress,) = await documents(shop, "challenge_progress")
    (counters,) = progress["c"].values()
    assert counters["all"]["n"] == 2
    assert await shop.violations() == []


async def test_actions_of_the_type_count_once_each_and_a_voucher_reward_is_issued(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    critic = await create_badge(shop, "Critic")
    await create(shop, challenge(
        shop, title="Reviewer", kind="ACTION_COUNT", actionType="review", target=2,
        reward={"voucher": {"kind": "AMOUNT_OFF", "title": "€5 off", "amountOff": 500,
                            "currency": "EUR", "validDays": 30}, "badgeIds": [critic]}))
    ann = await shop.member("ann@example.com")
    await action(shop, "ann@example.com", "REVIEW", "R-1")
    await action(shop, "ann@example.com", "REVIEW", "R-1")  # a replay counts once
    await action(shop, "ann@example.com", "SURVEY", "S-1")  # another type
    mid = (await mine(shop, ann))["Reviewer"]
    assert mid["progress"] == 1
    assert mid["nextStep"].startswith("Write 1 more review before ")
    assert mid["reward"] == "a voucher (€5 off) and the Critic badge"

    await action(shop, "ann@example.com", "REVIEW", "R-2")

    assert (await mine(shop, ann))["Reviewer"]["completedAt"] is not None
    (gift,) = await documents(shop, "gifts", {"occasion": "CHALLENGE"})
    assert gift["status"] == "GRANTED" and gift["voucher_id"] is not None
    assert _raw(critic) in (await _member(shop, "ann@example.com"))[BADGES]
    assert await shop.violations() == []


async def _set_timezone(shop: Shop, zone: str) -> None:
    data = await shop.gql.data(
        """mutation($tz: String!) { programmeUpdate(input: {timezone: $tz}) {
             errors { code } } }""", {"tz": zone}, token=shop.admin.access_token)
    assert data["programmeUpdate"]["errors"] == []


def _local_monday(now: datetime, zone: ZoneInfo, weeks_back: int) -> datetime:
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday(), weeks=weeks_back)
    return datetime.combine(monday, time(), zone)


async def test_a_streak_counts_weeks_in_the_programme_time_zone(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await _set_timezone(shop, "Asia/Tokyo")
    zone = ZoneInfo("Asia/Tokyo")
    window = {"startsAt": (shop.now() - timedelta(days=40)).isoformat()}
    await create(shop, challenge(shop, title="Two weeks", kind="STREAK_WEEKS", target=2,
                                 **window))
    ann = await shop.member("ann@example.com")
    bob = await shop.member("bob@example.com")
    monday = _local_monday(shop.now(), zone, weeks_back=3)
    # Sunday 23:30 then Monday 00:30 in Tokyo: two weeks there, one UTC week (both Sunday).
    await shop.record(shop.order("ann@example.com", 1000, at=monday - timedelta(minutes=30)))
    await shop.record(shop.order("ann@example.com", 1000, at=monday + timedelta(minutes=30)))
    # Monday 00:30 then Sunday 23:30 of the same Tokyo week: one week.
    await shop.record(shop.order("bob@example.com", 1000, at=monday + timedelta(minutes=30)))
    await shop.record(shop.order("bob@example.com", 1000,
                                 at=monday + timedelta(days=7, minutes=-30)))

    assert (await mine(shop, ann))["Two weeks"]["completedAt"] is not None
    bobs = (await mine(shop, bob))["Two weeks"]
    assert (bobs["progress"], bobs["completedAt"]) == (1, None)
    assert bobs["nextStep"].startswith("Place an order in 1 more week in a row before ")
    assert await shop.violations() == []


async def _card(shop: Shop, member: SignedIn) -> str:
    token: str = (await shop.gql.data(CARD, token=member.access_token))["me"]["card"]["token"]
    return token


async def test_orders_in_different_stores_complete_a_store_count_challenge(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, title="Tour", kind="STORE_COUNT", target=2))
    stores = ScannerShop(gql=gql, admin=shop.admin)
    await stores.store("PARIS-01")
    await stores.store("LYON-01")
    paris = await stores.staff("sam@example.com", "PARIS-01")
    lyon = await stores.staff("lea@example.com", "LYON-01")
    ann = await shop.member("ann@example.com")

    async def till(staff: SignedIn, order_id: str) -> dict[str, Any]:
        order = shop.order("ann@example.com", 1500, order_id=order_id, channel="STORE")
        order["member"] = {"cardToken": await _card(shop, ann)}
        data = await gql.data(
            """mutation($input: OrderRecordInput!) { orderRecord(input: $input) {
                 errors { code message } } }""", {"input": order}, token=staff.access_token)
        payload: dict[str, Any] = data["orderRecord"]
        return payload

    assert (await till(paris, "P-1"))["errors"] == []
    await till(paris, "P-2")  # the same store again
    await shop.record(shop.order("ann@example.com", 1500))  # online: in no store
    assert (await mine(shop, ann))["Tour"]["progress"] == 1
    await till(lyon, "L-1")

    assert (await mine(shop, ann))["Tour"]["completedAt"] is not None
    assert (await shop.points(ann))["balance"] == 100
    assert await shop.violations() == []


def _raw(global_id: str) -> str:
    return relay.GlobalID.from_id(global_id).node_id


async def _member(shop: Shop, email: str) -> dict[str, Any]:
    account = await shop.gql.state.services.store.collection("accounts").find_one(
        {"email": email})
    assert account is not None
    doc = await shop.gql.state.services.store.collection("members").find_one(
        {"_id": account["_id"]})
    assert doc is not None
    return doc


async def test_taking_back_points_already_spent_leaves_a_debt(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, title="One order", target=1, refundPolicy="TAKE_BACK"))
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 2000, order_id="A"))
    spent = await shop.adjust("ann@example.com", -100, "Spent at the counter")
    assert spent["errors"] == [], spent

    await shop.refund("A", "R-1", amount=2000)

    points = await shop.points(ann)
    assert (points["balance"], points["debt"]) == (0, 100)
    assert (await mine(shop, ann))["One order"]["progress"] == 0
    assert await shop.violations() == []
