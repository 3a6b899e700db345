"""Points expire soonest-first, exactly once, however often or concurrently the job runs."""

import asyncio

import pytest

from loyalty.ledger.expiry import expire_due_lots
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import GraphQLClient


@pytest.fixture
async def shop(gql: GraphQLClient) -> Shop:
    opened = await open_shop(gql)
    await opened.rule(PER_EURO)
    return opened


async def run_job(shop: Shop) -> tuple[int, int]:
    state = shop.gql.state.services
    run = await expire_due_lots(state.store, clock=state.clock)
    return run.lots_expired, run.points_expired


async def test_spending_uses_the_soonest_expiring_points_and_the_rest_expire_once(
    shop: Shop,
) -> None:
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000))  # 100, expires in 12 months
    await shop.advance(days=180)
    await shop.record(shop.order("ann@example.com", 5_000))  # 50, expires 6 months later
    await shop.adjust("ann@example.com", -120, "Spent at the till")  # 100 + 20
    ann = await shop.sign_in("ann@example.com")
    points = await shop.points(ann)
    assert points["balance"] == 30
    assert [e["points"] for e in points["expiringSoon"]] == []  # nothing within 90 days

    await shop.advance(days=190)  # day 370: the first lot is due, but it is empty
    assert await run_job(shop) == (0, 0)
    await shop.advance(days=95)  # day 465: the second lot expires on day 545
    ann = await shop.sign_in("ann@example.com")
    soon = (await shop.points(ann))["pointsExpiringSoon"]
    assert (soon["within30Days"], soon["within90Days"]) == (0, 30)

    await shop.advance(days=85)  # day 550: the second lot is due, its 30 points expire
    assert await run_job(shop) == (1, 30)
    assert await run_job(shop) == (0, 0)  # running again changes nothing
    ann = await shop.sign_in("ann@example.com")
    assert (await shop.points(ann))["balance"] == 0
    history = await shop.gql.data(
        "{ me { history(first: 1) { edges { node { kind points reason } } } } }",
        token=ann.access_token)
    assert history["me"]["history"]["edges"][0]["node"] == {
        "kind": "EXPIRE", "points": -30, "reason": "Points expired"}
    assert await shop.violations() == []


async def test_concurrent_expiry_runs_expire_each_lot_once(shop: Shop) -> None:
    for i in range(5):
        await shop.member(f"m{i}@example.com")
        await shop.record(shop.order(f"m{i}@example.com", 1_000 * (i + 1)))
    await shop.advance(days=400)
    runs = await asyncio.gather(*(run_job(shop) for _ in range(4)))
    assert sum(lots for lots, _ in runs) == 5
    assert sum(points for _, points in runs) == 10 + 20 + 30 + 40 + 50
    store = shop.gql.state.services.store
    assert await store.collection("ledger").count_documents({"kind": "EXPIRE"}) == 5
    assert await shop.violations() == []


async def test_expiry_policy_end_of_nth_month(shop: Shop) -> None:
    await shop.gql.data(
        'mutation { programmeUpdate(input: {pointsExpiry: END_OF_NTH_MONTH, expiryMonths: 1,'
        ' timezone: "Europe/Paris"}) { programme { pointsExpiry expiryMonths timezone }'
        " errors { code } } }", token=shop.admin.access_token)
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000))
    [expiring] = (await shop.points(ann))["expiringSoon"]
    assert expiring["points"] == 100
    # The end of next month in Paris (the first instant of the month after, local time).
    assert expiring["expiresAt"].endswith(("T22:00:00+00:00", "T23:00:00+00:00"))
