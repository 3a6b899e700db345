"""`kizuna verify` checks the ledger's invariants on a live database."""

import asyncio

import pytest

import loyalty.ledger.verify as ledger_verify
from api.settings import Settings
from events.outbox import OUTBOX
from loyalty.collections import LOTS, MEMBERS
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import GraphQLClient
from tests.test_cli import kizuna


def env_for(settings: Settings) -> dict[str, str]:
    return {"KIZUNA_MONGODB_URI": settings.mongodb_uri or "",
            "KIZUNA_DATABASE": settings.database, "KIZUNA_DATA_DIR": str(settings.data_dir)}


async def test_verify_passes_on_a_consistent_ledger_and_reports_tampering(
    settings: Settings, gql: GraphQLClient
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 10_000, order_id="V-1"))
    await shop.refund("V-1", "V-R1", amount=2_500)
    await shop.adjust("ann@example.com", -10, "Spent at the till")

    clean = kizuna("verify", env=env_for(settings))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ok: no violation" in clean.stdout

    store = gql.state.services.store
    await store.collection("members").update_one({}, {"$inc": {"points": 7}})
    await store.collection("lots").update_one({}, {"$set": {"remaining": -1}})
    broken = kizuna("verify", env=env_for(settings))
    assert broken.returncode == 1
    assert "balance = Σ entries" in broken.stdout
    assert "0 ≤ lot remaining ≤ earned" in broken.stdout
    assert "violation(s)" in broken.stdout


async def _five_members_with_an_order(shop: Shop) -> list[str]:
    """Five members with one order each; their ids in `_id` order."""
    await shop.rule(PER_EURO)
    for n in range(5):
        await shop.member(f"m{n}@example.com")
        assert (await shop.record(shop.order(f"m{n}@example.com", 1_000)))["errors"] == []
    store = shop.gql.state.services.store
    return sorted([doc["_id"] async for doc in store.collection(MEMBERS).find({}, {"_id": 1})])


async def test_verify_checks_every_batch_once_and_finds_orphans_beyond_the_members(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of two members: each violation is reported once, whichever batch holds it,
    and documents of no member or of a member past the last still belong to a batch."""
    monkeypatch.setattr(ledger_verify, "BATCH", 2)
    shop = await open_shop(gql)
    ids = await _five_members_with_an_order(shop)
    assert await shop.violations() == []
    store = gql.state.services.store

    for member_id in ids[0], ids[2], ids[4]:  # the first, a middle and the last batch
        await store.collection(MEMBERS).update_one({"_id": member_id},
                                                   {"$inc": {"points": 1}})
    event = await store.collection(OUTBOX).find_one({"type": "points.earned"})
    assert event is not None
    del event["member_id"]
    await store.collection(OUTBOX).insert_one(
        {**event, "_id": "no-member", "subject": {"kind": "ledger_entry", "id": "gone"}})
    await store.collection(LOTS).insert_one(
        {"_id": "past-the-last", "member_id": "~", "earned": 5, "remaining": 5,
         "expired_at": None})

    found = await shop.violations()

    assert sorted(found) == sorted([
        *(f"balance = Σ entries: {member_id}: balance 11, entries sum to 10"
          for member_id in (ids[0], ids[2], ids[4])),
        *(f"balance = Σ open lots − debt: {member_id}: balance 11, open lots 10, debt 0"
          for member_id in (ids[0], ids[2], ids[4])),
        "every event has its change: gone: {'points.earned': 1} about a ledger entry that "
        "does not exist",
        "balance = Σ open lots − debt: ~: balance 0, open lots 5, debt 0",
    ])


async def test_verify_stays_clean_while_orders_are_recorded(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch reads one snapshot: orders earning for the members being checked, and
    members joining after verify listed them, never make a balance look broken; the orders
    are not held back until verify ends."""
    monkeypatch.setattr(ledger_verify, "BATCH", 2)
    shop = await open_shop(gql)
    await _five_members_with_an_order(shop)

    async def orders() -> int:
        recorded = 0
        for round_ in range(4):
            await shop.member(f"new{round_}@example.com")  # joins while verify runs
            results = await asyncio.gather(*(
                shop.record(shop.order(email, 500 + round_))
                for email in [*(f"m{n}@example.com" for n in range(5)),
                              f"new{round_}@example.com"]))
            recorded += sum(result["errors"] == [] for result in results)
        return recorded

    checks = [shop.violations() for _ in range(3)]
    recorded, *reports = await asyncio.gather(orders(), *checks)

    assert recorded == 24
    assert reports == [[], [], []]
    assert await shop.violations() == []
