"""The outbox: every change a member, a shop or an admin cares about writes its event in the
same unit of work, and `kizuna verify` finds a change without its event (or the reverse)."""

import asyncio
from typing import Any

import events
from events import OUTBOX, Event, EventType, FromDocument, Subject, SubjectKind
from scanner.collections import VOUCHERS
from store import Store
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.reward_support import ladder, open_reward_shop, set_tier
from tests.scanner_support import (
    VOUCHER_VOID,
    ScannerShop,
    open_scanner_shop,
    voucher_cancel,
)
from tests.support import GraphQLClient, SignedIn


def _store(gql: GraphQLClient) -> Store:
    return gql.state.services.store


async def _events(gql: GraphQLClient, **where: Any) -> list[dict[str, Any]]:
    cursor = _store(gql).collection(OUTBOX).find(where).sort("_id", 1)
    return [doc async for doc in cursor]


async def _types(gql: GraphQLClient, **where: Any) -> list[str]:
    return [doc["type"] for doc in await _events(gql, **where)]


async def _member_id(gql: GraphQLClient, email: str) -> str:
    found = await _store(gql).collection("accounts").find_one({"email": email})
    assert found is not None
    return str(found["_id"])


async def test_an_order_writes_points_earned_with_the_new_balance_and_order_recorded(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    member_id = await _member_id(gql, "ann@example.com")
    assert await _types(gql, member_id=member_id) == ["member.registered"]

    first = await shop.record(shop.order("ann@example.com", 4200, order_id="A-1"))
    await shop.record(shop.order("ann@example.com", 1000, order_id="A-2"))

    found = await _events(gql, member_id=member_id)
    assert [e["type"] for e in found] == [
        "member.registered", "points.earned", "order.recorded", "points.earned",
        "order.recorded"]
    earned = found[1]
    assert earned["version"] == 1
    assert earned["subject"] == {"kind": "ledger_entry", "id": earned["data"]["entry"]["id"]}
    assert earned["data"]["entry"]["points"] == first["pointsEarned"] == 42
    assert earned["data"]["balance"] == {"points": 42, "debt": 0}
    assert found[3]["data"]["balance"] == {"points": 52, "debt": 0}
    assert found[2]["data"]["order"]["id"] == "A-1"
    assert found[2]["data"]["points"] == 42
    assert found[0]["data"]["member"]["email"] == "ann@example.com"
    assert await shop.violations() == []


async def test_a_replayed_or_refused_change_writes_no_event(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    order = shop.order("ann@example.com", 4200, order_id="A-1")
    await shop.record(order)
    before = await _types(gql)

    replay = await shop.record(order)
    refused = await shop.adjust("ann@example.com", -1000)

    assert replay["replayed"] is True
    assert refused["errors"][0]["code"] == "INSUFFICIENT_POINTS"
    assert await _types(gql) == before


async def test_a_refund_writes_points_reversed_and_order_refunded(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 4000, order_id="A-1"))

    refund = await shop.refund("A-1", "R-1", amount=1000)

    assert refund["errors"] == [] and refund["pointsReversed"] == 10
    reversed_, refunded = (await _events(gql))[-2:]
    assert reversed_["type"] == "points.reversed"
    assert reversed_["data"]["balance"]["points"] == 30
    assert refunded["type"] == "order.refunded"
    assert refunded["data"]["amount"] == 1000 and refunded["data"]["points"] == 10
    assert refunded["data"]["order"]["refunded_amount"] == 1000
    assert await shop.violations() == []


async def _voucher_id(gql: GraphQLClient) -> str:
    """The database id of the one voucher issued."""
    stored = await _store(gql).collection(VOUCHERS).find_one({})
    assert stored is not None
    return str(stored["_id"])


async def _till(gql: GraphQLClient) -> tuple[ScannerShop, SignedIn, SignedIn]:
    shop = await open_scanner_shop(gql)
    await gql.member("ann@example.com")
    manager = await shop.staff("manager@example.com", "PARIS-01", manager=True)
    cashier = await shop.staff("cashier@example.com", "PARIS-01")
    return shop, manager, cashier


async def test_a_till_redemption_and_its_void_write_their_events_with_store_and_staff(
    gql: GraphQLClient,
) -> None:
    shop, manager, cashier = await _till(gql)
    voucher = await shop.issue("ann@example.com")

    redeemed = await shop.redeem(cashier.access_token, code=voucher["code"])
    assert redeemed["errors"] == [], redeemed
    data = await gql.data(VOUCHER_VOID, {"input": {"voucherId": voucher["id"],
                                                   "reason": "Wrong basket"}},
                          token=manager.access_token)
    assert data["voucherRedemptionVoid"]["errors"] == []

    stored = await _store(gql).collection(VOUCHERS).find_one({})
    assert stored is not None
    found = await _events(gql, **{"subject.id": stored["_id"]})
    assert [e["type"] for e in found] == ["voucher.issued", "voucher.redeemed",
                                          "voucher.voided"]
    issued, redemption, void = found
    assert issued["data"]["voucher"]["status"] == "ACTIVE"
    assert "code" not in issued["data"]["voucher"]
    assert redemption["member_id"] == stored["member_id"]
    paris = await _store(gql).collection("stores").find_one({"code": "PARIS-01"})
    assert paris is not None and redemption["store_id"] == paris["_id"]
    assert redemption["data"]["voucher"] == {
        "id": stored["_id"], "status": "REDEEMED", "title": "€5 off", "kind": "AMOUNT_OFF",
        "expires_at": stored["expires_at"]}
    assert redemption["data"]["order_total"] == 4200
    assert void["data"]["voucher"]["status"] == "ACTIVE"
    assert void["data"]["reason"] == "Wrong basket"
    assert stored["outbox"] == []  # published: nothing left staged on the voucher
    assert await _violations(gql) == []


async def test_concurrent_redemptions_of_one_voucher_write_one_event(gql: GraphQLClient) -> None:
    shop, _, cashier = await _till(gql)
    voucher = await shop.issue("ann@example.com")

    results = await asyncio.gather(*(
        shop.redeem(cashier.access_token, code=voucher["code"]) for _ in range(6)))

    assert sum(1 for r in results if r["errors"] == []) == 1
    redeemed = (await _types(gql, **{"subject.id": await _voucher_id(gql)}))
    assert redeemed.count("voucher.redeemed") == 1
    assert await _violations(gql) == []


async def test_a_cancelled_voucher_writes_voucher_cancelled(gql: GraphQLClient) -> None:
    shop, _, _ = await _till(gql)
    ann = await gql.sign_in("ann@example.com")
    voucher = await shop.issue("ann@example.com")

    cancelled = await voucher_cancel(gql, ann["accessToken"], voucher["id"])

    assert cancelled["errors"] == []
    assert await _types(gql, **{"subject.id": await _voucher_id(gql)}) == [
        "voucher.issued", "voucher.cancelled"]
    assert await _violations(gql) == []


async def _violations(gql: GraphQLClient) -> list[str]:
    from scanner.books import verify  # noqa: PLC0415

    return [str(v) for v in await verify(_store(gql))]


async def test_events_left_staged_by_a_crash_are_published_once(gql: GraphQLClient) -> None:
    """A process that dies between a conditional write and its publishing (or between
    publishing's two steps) leaves the event on the document: verify counts it once, and
    the relay publishes it exactly once."""
    shop, _, _ = await _till(gql)
    await shop.issue("ann@example.com")
    voucher_id = await _voucher_id(gql)
    store = _store(gql)
    cancelled = Event(
        EventType.VOUCHER_CANCELLED, Subject(SubjectKind.VOUCHER, FromDocument("_id")),
        occurred_at=gql.state.services.clock(), member_id=FromDocument("member_id"),
        data={"voucher": {"id": FromDocument("_id"), "status": "CANCELLED"}},
    )
    await store.collection(VOUCHERS).update_one(  # the write, without its publishing
        {"_id": voucher_id},
        events.staged([events.literally({"status": "CANCELLED"})], cancelled))
    assert await _violations(gql) == []
    written = await store.collection(VOUCHERS).find_one({"_id": voucher_id})
    assert written is not None
    await store.collection(OUTBOX).insert_many(written["outbox"])  # publishing's first step
    assert await _violations(gql) == []  # staged and in the outbox: one event, counted once

    assert await events.publish_stranded(store, [VOUCHERS]) == 1
    assert await events.publish_stranded(store, [VOUCHERS]) == 0

    found = await _events(gql, **{"subject.id": voucher_id})
    assert [e["type"] for e in found] == ["voucher.issued", "voucher.cancelled"]
    assert found[1]["member_id"] == (await store.collection(VOUCHERS).find_one())["member_id"]
    assert await _violations(gql) == []


async def test_publishing_the_same_staged_event_twice_stores_it_once(
    gql: GraphQLClient,
) -> None:
    shop, _, _ = await _till(gql)
    await shop.issue("ann@example.com")
    store = _store(gql)
    stored = await store.collection(VOUCHERS).find_one({})
    assert stored is not None
    event = Event(EventType.VOUCHER_CANCELLED, Subject(SubjectKind.VOUCHER, stored["_id"]),
                  occurred_at=stored["issued_at"], member_id=stored["member_id"], data={})
    copy = {**stored, "outbox": [event.document()]}

    await asyncio.gather(*(events.publish(store, VOUCHERS, copy) for _ in range(3)))

    assert (await _types(gql, **{"subject.id": stored["_id"]})).count(
        "voucher.cancelled") == 1


async def test_verify_finds_a_change_without_its_event_and_an_event_without_its_change(
    gql: GraphQLClient,
) -> None:
    shop: Shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 4200, order_id="A-1"))
    store = _store(gql)
    earned = await store.collection(OUTBOX).find_one({"type": "points.earned"})
    assert earned is not None

    await store.collection(OUTBOX).delete_one({"_id": earned["_id"]})
    missing = await shop.violations()
    await store.collection(OUTBOX).insert_many([
        earned, {**earned, "_id": "orphan", "subject": {"kind": "ledger_entry", "id": "gone"}}])
    orphan = await shop.violations()

    entry_id = earned["subject"]["id"]
    assert missing == [f"every ledger entry has its event: {entry_id}: expected one "
                       "points.earned, found none"]
    assert orphan == ["every event has its change: gone: {'points.earned': 1} about a ledger "
                      "entry that does not exist"]


async def test_redeeming_the_last_unit_writes_spent_issued_and_out_of_stock(
    gql: GraphQLClient,
) -> None:
    shop = await open_reward_shop(gql)
    reward = await shop.create(stock=2)
    ann = await shop.member("ann@example.com", points=1000)

    first = await shop.redeem(ann, reward["id"])
    assert await _types(gql, type="reward.out_of_stock") == []
    last = await shop.redeem(ann, reward["id"])
    refused = await shop.redeem(ann, reward["id"])

    assert first["errors"] == [] and last["errors"] == []
    assert refused["errors"][0]["code"] == "OUT_OF_STOCK"
    spent = await _events(gql, type="points.spent")
    assert [e["data"]["balance"]["points"] for e in spent] == [900, 800]
    assert len(await _types(gql, type="voucher.issued")) == 2
    (sold_out,) = await _events(gql, type="reward.out_of_stock")
    assert sold_out["member_id"] is None
    assert sold_out["data"]["reward"]["stock"] == 2
    assert await _violations(gql) == []


async def test_a_tier_change_and_its_removal_write_tier_changed(gql: GraphQLClient) -> None:
    shop = await open_reward_shop(gql)
    tiers = await ladder(shop)
    await shop.member("ann@example.com")

    await set_tier(shop, "ann@example.com", tiers["Gold"])
    await set_tier(shop, "ann@example.com", None)

    gold, cleared = await _events(gql, type="tier.changed")
    assert gold["data"]["tier"]["name"] == "Gold"
    assert gold["data"]["entry"]["kind"] == "TIER"
    assert cleared["data"]["tier"] is None
    assert await _violations(gql) == []


async def test_a_redemption_refused_after_taking_the_last_unit_leaves_no_event(
    gql: GraphQLClient,
) -> None:
    """The stock is taken (and its sold-out event written) before the points are found
    short: the transaction's abort takes the event with it."""
    shop = await open_reward_shop(gql)
    reward = await shop.create(stock=1)
    ann = await shop.member("ann@example.com", points=10)
    before = await _types(gql)

    refused = await shop.redeem(ann, reward["id"])

    assert refused["errors"][0]["code"] == "INSUFFICIENT_POINTS"
    assert await _types(gql) == before
    assert (await shop.stock(reward["id"]))["remaining"] == 1


async def test_checkouts_at_four_tills_at_once_publish_each_event_once(
    gql: GraphQLClient,
) -> None:
    """Concurrent redemptions publish together (store/batching.py): every redemption's
    event is in the outbox once, and none is left staged on its voucher."""
    shop, _, _ = await _till(gql)
    tills = [await shop.staff(f"till{n}@example.com", "PARIS-01") for n in range(4)]
    vouchers = [await shop.issue("ann@example.com") for _ in range(8)]

    redeemed = await asyncio.gather(*(
        shop.redeem(tills[n % 4].access_token, code=voucher["code"])
        for n, voucher in enumerate(vouchers)))

    assert [payload["errors"] for payload in redeemed] == [[]] * 8
    found = await _events(gql, type="voucher.redeemed")
    assert len({event["subject"]["id"] for event in found}) == len(found) == 8
    staged = await _store(gql).collection(VOUCHERS).count_documents({"outbox.0": {"$exists": True}})
    assert staged == 0
    assert await _violations(gql) == []
