"""Challenges and refunds: a refund loop gives no second voucher, taken-back badges say so
in `badge.revoked`, item refunds take back exactly the refunded lines' eligible spending,
and a refund costs no extra command on the order."""

from typing import Any

from strawberry import relay

from tests.badge_support import create_badge
from tests.challenge_support import challenge, create, documents, mine
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient

VOUCHER = {"kind": "PERCENT_OFF", "title": "10% off", "percentOff": 10, "validDays": 30}


async def test_an_order_and_refund_loop_gives_one_voucher_but_points_each_completion(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    # No refundPolicy: TAKE_BACK is the default.
    await create(shop, challenge(shop, title="One order", target=1,
                                 reward={"points": 50, "voucher": VOUCHER}))
    ann = await shop.member("ann@example.com")
    for loop in range(3):
        await shop.record(shop.order("ann@example.com", 2000, order_id=f"O-{loop}"))
        assert (await shop.refund(f"O-{loop}", f"R-{loop}", amount=2000))["errors"] == []
    again = (await mine(shop, ann))["One order"]
    assert again["reward"] == "50 points (you already have this challenge's voucher)"
    await shop.record(shop.order("ann@example.com", 2000, order_id="O-last"))

    assert len(await documents(shop, "vouchers")) == 1
    gifts = await documents(shop, "gifts", {"occasion": "CHALLENGE"})
    assert sorted(g["_id"].split(":", 4)[-1] for g in gifts) == [
        "1:points", "1:voucher", "2:points", "3:points", "4:points"]
    assert (await shop.points(ann))["balance"] == 50
    (completion,) = await documents(shop, "challenge_completions")
    assert (completion["round"], completion["status"]) == (4, "COMPLETED")
    assert [r["voucher"] for r in completion["rounds"]] == [True, False, False, False]
    completed = await documents(shop, "events", {"type": "challenge.completed"})
    assert [e["data"]["reward"]["voucher"] for e in completed] == [True, False, False, False]
    assert await shop.violations() == []


async def test_a_forged_second_voucher_gift_is_flagged_by_verify(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, title="One order", target=1,
                                 reward={"points": 50, "voucher": VOUCHER}))
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 2000, order_id="A"))
    await shop.refund("A", "R-A", amount=2000)
    await shop.record(shop.order("ann@example.com", 2000, order_id="B"))
    assert await shop.violations() == []
    store = gql.state.services.store
    (first,) = await documents(shop, "gifts", {"_id": {"$regex": ":1:voucher$"}})
    second = {**first, "_id": first["_id"].replace(":1:voucher", ":2:voucher")}
    await store.collection("gifts").insert_one(second)
    await store.collection("challenge_completions").update_one(
        {}, {"$set": {"rounds.1.voucher": True}})

    assert any("a second voucher" in v for v in await shop.violations())


async def test_badges_taken_back_by_a_refund_each_record_badge_revoked(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    first = await create_badge(shop, "First order")
    loyal = await create_badge(shop, "Loyal")
    await create(shop, challenge(shop, title="One order", target=1,
                                 reward={"badgeIds": [first, loyal]}))
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 2000, order_id="A"))

    await shop.refund("A", "R-1", amount=2000)

    revoked = await documents(shop, "events", {"type": "badge.revoked"})
    assert sorted((e["data"]["badge"]["name"], e["data"]["source"]["kind"]) for e in revoked) \
        == [("First order", "CHALLENGE"), ("Loyal", "CHALLENGE")]
    assert {e["data"]["badge"]["id"] for e in revoked} == {
        relay.GlobalID.from_id(first).node_id, relay.GlobalID.from_id(loyal).node_id}
    # Written by the refund's transaction, with the challenge's revocation.
    (taken,) = await documents(shop, "events", {"type": "challenge.revoked"})
    assert all(e["occurred_at"] == taken["occurred_at"] for e in revoked)
    assert await shop.violations() == []


def _shoes_and_gift_card() -> list[dict[str, Any]]:
    return [{"sku": "SHOE", "category": "shoes", "quantity": 1, "unitPrice": 9000},
            {"sku": "GC", "category": "gift-cards", "quantity": 1, "unitPrice": 1000}]


async def _spend_shop(gql: GraphQLClient) -> Shop:
    shop = await open_shop(gql)
    await create(shop, challenge(
        shop, title="Spend €200", kind="SPEND", target=20_000,
        conditions={"currency": "EUR", "categoriesExclude": ["gift-cards"]}))
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000, order_id="A",
                                 items=_shoes_and_gift_card()))
    return shop


async def test_refunding_the_qualifying_line_takes_back_all_it_counted(
    gql: GraphQLClient,
) -> None:
    shop = await _spend_shop(gql)
    ann = await shop.sign_in("ann@example.com")
    assert (await mine(shop, ann))["Spend €200"]["progress"] == 9000

    refund = await shop.refund("A", "R-1", items=[{"sku": "SHOE", "quantity": 1}])

    assert refund["errors"] == []
    assert (await mine(shop, ann))["Spend €200"]["progress"] == 0
    assert await shop.violations() == []


async def test_refunding_an_excluded_line_takes_no_progress_back(gql: GraphQLClient) -> None:
    shop = await _spend_shop(gql)
    ann = await shop.sign_in("ann@example.com")

    await shop.refund("A", "R-1", items=[{"sku": "GC", "quantity": 1}])

    assert (await mine(shop, ann))["Spend €200"]["progress"] == 9000
    await shop.refund("A", "R-2", amount=4500)  # an amount only: its share of the eligible
    assert (await mine(shop, ann))["Spend €200"]["progress"] == 9000 - 9000 * 5500 // 10_000
    assert await shop.violations() == []


async def _commands_for_refund(shop: Shop, order_id: str) -> int:
    commands = shop.gql.state.services.store.commands
    before = commands.total
    assert (await shop.refund(order_id, f"R-{order_id}", amount=100))["errors"] == []
    return commands.total - before


async def test_a_refund_of_a_counted_order_costs_one_command_more_not_two(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    for order_id in ("W", "N"):
        await shop.record(shop.order("ann@example.com", 2000, order_id=order_id))
    await _commands_for_refund(shop, "W")  # warm-up
    without = await _commands_for_refund(shop, "N")
    await create(shop, challenge(shop, title="Spend", kind="SPEND", target=100_000,
                                 conditions={"currency": "EUR"}))
    for order_id in ("C1", "C2"):
        await shop.record(shop.order("ann@example.com", 2000, order_id=order_id))
    await _commands_for_refund(shop, "C1")  # reads the challenges once
    counted = await _commands_for_refund(shop, "C2")
    print(f"orderRefund database commands: no challenge {without}, a SPEND challenge "
          f"{counted}")
    assert counted - without == 1  # the progress document; the order's update is shared
