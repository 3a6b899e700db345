"""Prize draws over HTTP: entries from actions and bought with points, a provably fair close
checked independently (here and by `kizuna draw-verify`), prizes given once."""

import asyncio
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from events import OUTBOX
from loyalty.collections import GIFTS, LEDGER
from loyalty.play.draw_close import close_due_draws
from loyalty.play.draws import DRAW_ENTRANTS, DRAW_ENTRIES, DRAWS
from scanner.gifts import deliver_pending_gifts
from tests.draw_support import (
    action,
    close,
    create_draw,
    draw_verify,
    draws_seen_by,
    enter,
    rerun,
    serving,
    write,
)
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient

PRIZES = [{"points": 500}, {"points": 200}]
PROOF = "query($id: ID!) { node(id: $id) { ... on Draw { proof } } }"


async def _count(shop: Shop, collection: str, where: dict[str, Any]) -> int:
    return await shop.gql.state.services.store.collection(collection).count_documents(where)


async def test_a_draw_from_commitment_to_verified_winners(gql: GraphQLClient,
                                                          tmp_path: Path) -> None:
    shop = await open_shop(gql)
    ann, bob = await shop.member("ann@example.com"), await shop.member("bob@example.com")
    cat = await shop.member("cat@example.com")
    for email in ("ann@example.com", "bob@example.com"):
        assert (await shop.adjust(email, 100))["errors"] == []
    created = await create_draw(shop, prizes=PRIZES, pricePoints=10, maxEntriesPerMember=5,
                                actionEntries=[{"actionType": "review", "entries": 2}])
    assert created["errors"] == []
    draw_id = created["draw"]["id"]
    (seen,) = await draws_seen_by(shop, ann)
    assert (seen["status"], seen["seed"], seen["proof"]) == ("OPEN", None, None)
    assert len(seen["commitment"]) == 64 and seen["commitment"] == created["draw"]["commitment"]
    store = gql.state.services.store
    audited = await store.collection("audit_log").find_one({"operation": "drawCreate"})
    secrets = await store.collection(DRAWS).find_one({}, {"seed_secret": 1, "salt_secret": 1})
    assert audited is not None and secrets["seed_secret"] not in json.dumps(audited, default=str)
    assert secrets["salt_secret"] not in json.dumps(audited, default=str)

    # Entries from actions sent with the API key: two per review, once per action.
    for _ in range(2):
        assert (await action(shop, "ann@example.com", "REVIEW", "R-1"))["errors"] == []
    await action(shop, "cat@example.com", "REVIEW", "C-1")
    await action(shop, "cat@example.com", "SURVEY", "S-1")  # not a type of this draw

    # Bought entries: a debit with the draw as reason; one debit per idempotency key.
    bought = await asyncio.gather(*(enter(shop, bob, draw_id, 2, "bob-1") for _ in range(10)))
    assert all(b["errors"] == [] for b in bought)
    assert sum(not b["replayed"] for b in bought) == 1
    assert bought[0]["entry"] == {"kind": "REDEEM", "points": -20,
                                  "reason": "Prize draw entries: Winter draw"}
    assert (await shop.points(bob))["balance"] == 80
    assert (await enter(shop, ann, draw_id, 1, "ann-1"))["errors"] == []

    # Refused, with nothing written: no points, over the cap.
    broke = await enter(shop, cat, draw_id, 1, "cat-1")
    assert broke["errors"] == [{"code": "INSUFFICIENT_POINTS", "field": ["input", "entries"]}]
    over = await enter(shop, bob, draw_id, 4, "bob-2")
    assert over["errors"] == [{"code": "DRAW_ENTRY_LIMIT", "field": ["input", "entries"]}]
    assert (await gql.http.get(f"/draws/{draw_id}/proof")).status_code == 404  # not closed
    assert await _count(shop, LEDGER, {"source.type": "DRAW"}) == 2
    assert (await shop.points(bob))["balance"] == 80
    (seen,) = await draws_seen_by(shop, bob)
    assert (seen["tickets"], seen["entrants"]) == (7, 3)  # ann 2+1, cat 2, bob 2
    assert seen["myEntries"]["entries"] == 2 and seen["myEntries"]["bought"] == 2

    closed = await close(shop, draw_id)
    assert closed["errors"] == []
    draw = closed["draw"]
    assert draw["status"] == "CLOSED"
    seed = bytes.fromhex(draw["seed"])
    assert hashlib.sha256(seed).hexdigest() == created["draw"]["commitment"]
    proof = json.loads(draw["proof"])
    assert [e["tickets"] for e in proof["entries"]] and sum(
        e["tickets"] for e in proof["entries"]) == 7
    assert "@" not in draw["proof"] and "ann" not in draw["proof"]
    # The winners follow from the seed and the entry list, recomputed here from the docs.
    assert rerun(proof) == proof["winners"] == draw["winningTickets"]
    assert len({w["entrant"] for w in proof["winners"]}) == 2

    # Each member finds their tickets in the list, and whether they won.
    won_points = 0
    for member, start in ((ann, 90), (bob, 80), (cat, 0)):
        (mine,) = await draws_seen_by(shop, member)
        entries = mine["myEntries"]
        listed = {e["entrant"]: e["tickets"] for e in proof["entries"]}
        assert listed[entries["entrant"]] == entries["entries"]
        assert entries["lastTicket"] - entries["firstTicket"] + 1 == entries["entries"]
        prizes = [w["prize"] for w in proof["winners"] if w["entrant"] == entries["entrant"]]
        assert entries["wonPrizes"] == prizes
        gained = (await shop.points(member))["balance"] - start
        assert gained == sum(PRIZES[p]["points"] for p in prizes)
        won_points += gained
    assert won_points == 700
    won = await store.collection(OUTBOX).find({"type": "draw.won"}).to_list(None)
    assert sorted(e["data"]["prize"]["index"] for e in won) == [0, 1]
    assert await _count(shop, OUTBOX, {"type": "draw.closed"}) == 1

    # Typed errors after the close.
    again = await close(shop, draw_id)
    assert again["errors"] == [{"code": "DRAW_ALREADY_CLOSED", "field": ["input", "drawId"]}]
    late = await enter(shop, ann, draw_id, 1, "ann-2")
    assert late["errors"] == [{"code": "DRAW_NOT_OPEN", "field": ["input", "drawId"]}]
    assert (await action(shop, "cat@example.com", "REVIEW", "C-2"))["errors"] == []
    assert await _count(shop, DRAW_ENTRIES, {}) == 4  # R-1, C-1, bob-1, ann-1

    # `kizuna draw-verify` on the published proof, and on tampered copies of it.
    # Also as a member saves it: the GraphQL response of the draw's `proof` field.
    response = await gql.execute(PROOF, {"id": draw_id}, token=cat.access_token)
    # And from the public proof URL, which needs no sign-in.
    published = await gql.http.get(f"/draws/{draw_id}/proof")
    assert published.status_code == 200 and published.json() == proof
    with serving(published.content) as url:
        ok = draw_verify(write(tmp_path / "proof.json", proof),
                         write(tmp_path / "response.json", response), url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("the winners match") == 3
    tampered = _tampered(proof)
    bad = draw_verify(*(write(tmp_path / f"bad-{i}.json", t) for i, t in enumerate(tampered)))
    assert bad.returncode == 1, bad.stdout
    assert bad.stdout.count("FAILED") == len(tampered) >= 5, bad.stdout
    assert await shop.violations() == []


def _tampered(proof: dict[str, Any]) -> list[dict[str, Any]]:
    other_seed = copy.deepcopy(proof)
    other_seed["seed"] = "00" * 32
    recommitted = copy.deepcopy(other_seed)  # a consistent commitment, other winners
    recommitted["commitment"] = hashlib.sha256(bytes(32)).hexdigest()
    more_tickets = copy.deepcopy(proof)
    more_tickets["entries"][0]["tickets"] += 5
    dropped = copy.deepcopy(proof)
    dropped["entries"] = dropped["entries"][1:]
    other_winner = copy.deepcopy(proof)
    other_winner["winners"][0]["ticket"] = (other_winner["winners"][0]["ticket"] + 1) % 7
    swapped = copy.deepcopy(proof)
    swapped["winners"].reverse()
    found = [other_seed, more_tickets, dropped, other_winner, swapped]
    if rerun(recommitted) != proof["winners"]:
        found.append(recommitted)
    return found


async def test_too_few_entrants_is_refused_to_an_admin_and_the_job_closes_once(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    voucher = {"voucher": {"kind": "AMOUNT_OFF", "title": "10 off", "amountOff": 1000,
                           "currency": "EUR", "validDays": 30}}
    created = await create_draw(shop, prizes=[voucher, {"points": 50}],
                                actionEntries=[{"actionType": "REVIEW"}])
    draw_id = created["draw"]["id"]
    await action(shop, "ann@example.com", "REVIEW", "R-1")

    refused = await close(shop, draw_id)
    assert refused["errors"] == [{"code": "DRAW_TOO_FEW_ENTRANTS", "field": ["input", "drawId"]}]
    store = gql.state.services.store
    doc = await store.collection(DRAWS).find_one({})
    assert (doc["status"], doc["seed"], doc["proof"]) == ("OPEN", None, None)
    assert await _count(shop, GIFTS, {}) == 0

    # At closes_at every server's job tries at once: one close, one prize.
    await shop.advance(days=1, seconds=1)
    runs = await asyncio.gather(*(close_due_draws(store, clock=gql.state.services.clock)
                                  for _ in range(6)))
    assert sum(len(run) for run in runs) == 1
    assert await _count(shop, GIFTS, {"occasion": "DRAW"}) == 1  # one entrant, one prize
    assert await _count(shop, OUTBOX, {"type": "draw.won"}) == 1
    assert await _count(shop, OUTBOX, {"type": "draw.closed"}) == 1
    assert await deliver_pending_gifts(store, clock=gql.state.services.clock) == 1
    gift = await store.collection(GIFTS).find_one({"occasion": "DRAW"})
    assert gift["_id"] == f"draw:{doc['_id']}:0" and gift["voucher_id"] is not None
    again = await close(shop, draw_id)
    assert again["errors"][0]["code"] == "DRAW_ALREADY_CLOSED"
    assert await shop.violations() == []


async def test_bad_draws_are_typed_errors_and_write_nothing(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    member = await shop.member("ann@example.com")
    bad = [
        ({"prizes": []}, ["input", "prizes"]),
        ({"prizes": PRIZES, "opensAt": shop.later(days=2).isoformat()}, ["input", "closesAt"]),
        ({"prizes": PRIZES, "closesAt": shop.later(days=-1).isoformat(),
          "opensAt": shop.later(days=-2).isoformat()}, ["input", "closesAt"]),
        ({"prizes": PRIZES}, ["input", "actionEntries"]),  # no way to enter
        ({"prizes": PRIZES, "pricePoints": 0}, ["input", "pricePoints"]),
    ]
    for fields, path in bad:
        created = await create_draw(shop, **({"actionEntries": []} | fields))
        assert {"code": "INVALID_DRAW", "field": path} in created["errors"], (fields, created)
    zero = await create_draw(shop, prizes=[{"points": 0}], pricePoints=5)
    assert zero["errors"] == [{"code": "INVALID_INPUT", "field": ["input", "prizes", "0",
                                                                  "points"]}]
    assert await _count(shop, DRAWS, {}) == 0
    assert await _count(shop, "audit_log", {"operation": "drawCreate"}) == 0
    denied = await gql.execute("mutation { drawCreate(input: {title: \"x\", closesAt: "
                               "\"2030-01-01T00:00:00Z\", prizes: [{points: 1}]}) "
                               "{ errors { code } } }", token=member.access_token)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _count(shop, DRAW_ENTRANTS, {}) == 0


async def test_buying_is_refused_before_the_window_without_a_price_and_on_a_reused_key(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    assert (await shop.adjust("ann@example.com", 100))["errors"] == []
    later = await create_draw(shop, prizes=PRIZES, pricePoints=10,
                              opensAt=shop.later(hours=1).isoformat(),
                              closesAt=shop.later(hours=2).isoformat())
    free = await create_draw(shop, prizes=PRIZES, actionEntries=[{"actionType": "REVIEW"}])
    sold = await create_draw(shop, prizes=PRIZES, pricePoints=10)
    assert await draws_seen_by(shop, ann) != []  # the scheduled one is not listed yet
    assert later["draw"]["id"] not in [d["id"] for d in await draws_seen_by(shop, ann)]
    for draw in (later, free):
        refused = await enter(shop, ann, draw["draw"]["id"], 1, "k-1")
        assert refused["errors"] == [{"code": "DRAW_NOT_OPEN", "field": ["input", "drawId"]}]
    assert (await enter(shop, ann, sold["draw"]["id"], 1, "k-1"))["errors"] == []
    reused = await enter(shop, ann, sold["draw"]["id"], 2, "k-1")
    assert reused["errors"] == [{"code": "IDEMPOTENCY_CONFLICT", "field": ["input"]}]
    assert (await shop.points(ann))["balance"] == 90
    assert await _count(shop, DRAW_ENTRIES, {}) == 1


async def test_a_voucher_prize_is_issued_as_the_admin_closes_the_draw(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    voucher = {"voucher": {"kind": "PERCENT_OFF", "title": "20% off", "percentOff": 20,
                           "validDays": 30}}
    created = await create_draw(shop, prizes=[voucher],
                                actionEntries=[{"actionType": "REVIEW"}])
    await action(shop, "ann@example.com", "REVIEW", "R-1")
    closed = await close(shop, created["draw"]["id"])
    assert closed["errors"] == []
    (entrant,) = json.loads(closed["draw"]["proof"])["entries"]
    assert closed["draw"]["winningTickets"] == [
        {"prize": 0, "ticket": 0, "entrant": entrant["entrant"]}]
    vouchers = await gql.data("{ me { vouchers(first: 5) { edges { node { title status } } } } }",
                              token=ann.access_token)
    assert [e["node"] for e in vouchers["me"]["vouchers"]["edges"]] == [
        {"title": "20% off", "status": "ACTIVE"}]
    assert await _count(shop, GIFTS, {"occasion": "DRAW", "status": "GRANTED"}) == 1
    assert await shop.violations() == []
