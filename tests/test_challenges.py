"""Challenges end to end over HTTP: orders and actions from the shop's API key move members'
progress once, completion rewards once, refunds move progress back."""

import asyncio

from tests.challenge_support import challenge, create, documents, mine
from tests.ledger_support import PER_EURO, open_shop
from tests.support import GraphQLClient


async def test_three_qualifying_orders_complete_an_order_count_challenge_once(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await create(shop, challenge(shop, conditions={"currency": "EUR", "minTotal": 1000}))
    ann = await shop.member("ann@example.com")

    await shop.record(shop.order("ann@example.com", 500))  # below the minimum: no progress
    await shop.record(shop.order("ann@example.com", 2000))
    first = (await mine(shop, ann))["Three orders"]
    assert (first["progress"], first["target"], first["completedAt"]) == (1, 3, None)
    assert first["nextStep"].startswith("Place 2 more orders of €10 or more before ")
    await shop.record(shop.order("ann@example.com", 2000))
    await shop.record(shop.order("ann@example.com", 2000))
    await shop.record(shop.order("ann@example.com", 2000))  # beyond the target: no second reward

    done = (await mine(shop, ann))["Three orders"]
    assert done["progress"] == 3 and done["completedAt"] is not None
    assert done["nextStep"] == "Done! You earned 100 points."
    gifts = await documents(shop, "gifts", {"occasion": "CHALLENGE"})
    assert [g["gift"]["points"] for g in gifts] == [100]
    entries = await documents(shop, "ledger", {"source.type": "CHALLENGE"})
    assert [(e["kind"], e["points"]) for e in entries] == [("EARN", 100)]
    events = await documents(shop, "events", {"type": "challenge.completed"})
    assert len(events) == 1
    moved = await documents(shop, "events", {"type": "challenge.progressed"})
    assert [[(p["before"], p["after"], p["completed"]) for p in e["data"]["progress"]]
            for e in moved] == [[(0, 1, False)], [(1, 2, False)], [(2, 3, True)],
                                [(3, 4, False)]]
    assert await shop.violations() == []


async def test_twenty_concurrent_orders_on_the_last_step_complete_once(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, target=2, reward={
        "points": 50, "voucher": {"kind": "PERCENT_OFF", "title": "10% off", "percentOff": 10,
                                  "validDays": 30}}))
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 1000))

    results = await asyncio.gather(*(
        shop.record(shop.order("ann@example.com", 1000)) for _ in range(20)))

    assert all(r["errors"] == [] for r in results), results
    assert len(await documents(shop, "challenge_completions")) == 1
    gifts = await documents(shop, "gifts", {"occasion": "CHALLENGE"})
    assert sorted(g["_id"].rsplit(":", 1)[1] for g in gifts) == ["points", "voucher"]
    assert [g["status"] for g in gifts if g["_id"].endswith("voucher")] == ["GRANTED"]
    entries = await documents(shop, "ledger", {"source.type": "CHALLENGE"})
    assert [e["points"] for e in entries] == [50]
    vouchers = await documents(shop, "vouchers")
    assert len(vouchers) == 1
    progress = await documents(shop, "challenge_progress")
    (counters,) = progress[0]["c"].values()
    assert counters["all"]["n"] == 21
    assert await shop.violations() == []
