"""Prize draws in `kizuna verify`, in the member's data export and through an erasure."""

import json
from typing import Any

from loyalty.collections import GIFTS, LEDGER
from loyalty.play.draw_algorithm import check_proof
from loyalty.play.draws import DRAW_ENTRANTS, DRAW_ENTRIES, DRAWS
from tests.draw_support import close, create_draw, draws_seen_by, enter
from tests.ledger_support import open_shop
from tests.privacy_support import EXPORT, MEMBER_ERASE, plain_member
from tests.support import GraphQLClient


async def _closed_draw(gql: GraphQLClient) -> tuple[Any, Any, dict[str, Any]]:
    shop = await open_shop(gql)
    subject = await plain_member(gql, email="ann@example.com", name="Ann Example",
                                 shop=shop)
    bob = await shop.member("bob@example.com")
    for email in ("ann@example.com", "bob@example.com"):
        assert (await shop.adjust(email, 100))["errors"] == []
    created = await create_draw(shop, prizes=[{"points": 300}], pricePoints=10)
    draw_id = created["draw"]["id"]
    assert (await enter(shop, subject.member, draw_id, 2, "a-1"))["errors"] == []
    assert (await enter(shop, bob, draw_id, 3, "b-1"))["errors"] == []
    closed = await close(shop, draw_id)
    assert closed["errors"] == []
    return shop, subject, closed["draw"]


async def test_verify_finds_a_prize_given_to_a_loser_and_an_entry_without_its_debit(
    gql: GraphQLClient,
) -> None:
    shop, _, draw = await _closed_draw(gql)
    assert await shop.violations() == []
    store = gql.state.services.store
    gift = await store.collection(GIFTS).find_one({"occasion": "DRAW"})
    winner = gift["member_id"]
    loser = (await store.collection(DRAW_ENTRIES).find_one(
        {"member_id": {"$ne": winner}}))["member_id"]
    await store.collection(GIFTS).update_one({"_id": gift["_id"]},
                                             {"$set": {"member_id": loser}})
    entries = await store.collection(DRAW_ENTRIES).find_one({"member_id": winner})
    await store.collection(DRAW_ENTRIES).update_one({"_id": entries["_id"]},
                                                    {"$set": {"points": 1}})
    found = "\n".join(await shop.violations())
    assert "every draw prize goes to its winner" in found
    assert "every draw winner has their prize" in found
    assert "every bought draw entry has its ledger debit" in found
    assert draw["status"] == "CLOSED"


async def test_export_has_the_entries_and_erasure_keeps_the_proof_valid_and_unlinkable(
    gql: GraphQLClient,
) -> None:
    shop, subject, draw = await _closed_draw(gql)
    export = (await gql.data(EXPORT, token=subject.member.access_token))["myDataExport"]
    records = export["sections"]["draw_entries"]
    (mine,) = await draws_seen_by(shop, subject.member)
    assert [r["entrant"] for r in records if r["kind"] == "entrant"] == [
        mine["myEntries"]["entrant"]]
    assert [r["points"] for r in records if r["kind"] == "entries"] == [20]

    erased = await gql.data(MEMBER_ERASE, {"input": {"memberId": subject.global_id,
                                                     "reason": "Request by letter"}},
                            token=shop.admin.access_token)
    assert erased["memberErase"]["errors"] == []
    (after,) = await draws_seen_by(shop, shop.admin)
    proof = json.loads(after["proof"])
    assert after["proof"] == draw["proof"]
    assert check_proof(proof)  # still valid
    text = after["proof"].lower()
    assert subject.member_id not in text and "ann" not in text and "@" not in text
    store = gql.state.services.store
    assert await store.collection(LEDGER).count_documents(
        {"source.type": "DRAW", "kind": "REDEEM"}) == 2
    assert await shop.violations() == []


async def test_verify_finds_a_wrong_prize_wrong_ticket_counts_and_a_rewritten_proof(
    gql: GraphQLClient,
) -> None:
    shop, _, draw = await _closed_draw(gql)
    store = gql.state.services.store
    gift = await store.collection(GIFTS).find_one({"occasion": "DRAW"})
    await store.collection(GIFTS).update_one({"_id": gift["_id"]},
                                             {"$set": {"gift.points": 9000}})
    found = "\n".join(await shop.violations())
    assert "every draw prize gift is the draw's prize" in found
    assert "tickets" not in found and "proof" not in found
    await store.collection(GIFTS).update_one({"_id": gift["_id"]},
                                             {"$set": {"gift.points": 300}})
    assert await shop.violations() == []

    entrant = await store.collection(DRAW_ENTRANTS).find_one({})
    await store.collection(DRAW_ENTRANTS).update_one({"_id": entrant["_id"]},
                                                     {"$inc": {"tickets": 4}})
    await store.collection(DRAWS).update_one({}, {"$inc": {"tickets": 1}})
    proof = json.loads(draw["proof"])
    proof["winners"][0]["ticket"] = (proof["winners"][0]["ticket"] + 1) % 5
    await store.collection(DRAWS).update_one({}, {"$set": {"proof": proof}})
    found = "\n".join(await shop.violations())
    assert "every draw entrant's tickets are the sum of their entries" in found
    assert "every draw's ticket count is its entrants' tickets" in found
    assert "every closed draw's proof checks out" in found
