"""What keeps a prize draw fair beyond the proof: no admin close before closesAt, the
commitment published at creation and checked by `kizuna draw-verify --commitment`, and
action entries counted by when the action happened."""

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from events import OUTBOX
from loyalty.play.draws import DRAW_ENTRANTS, DRAW_ENTRIES, DRAWS
from tests.draw_support import close, create_draw, draw_verify, enter, rerun, write
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient

ACTION_AT = """mutation($input: ActionRecordInput!) { actionRecord(input: $input) {
  replayed errors { code } } }"""


async def _count(shop: Shop, collection: str, where: dict[str, Any]) -> int:
    return await shop.gql.state.services.store.collection(collection).count_documents(where)


async def test_an_admin_cannot_close_a_draw_before_its_closes_at(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    assert (await shop.adjust("ann@example.com", 100))["errors"] == []
    created = await create_draw(shop, prizes=[{"points": 50}], pricePoints=10)
    draw_id = created["draw"]["id"]
    assert (await enter(shop, ann, draw_id, 1, "a-1"))["errors"] == []

    early = await close(shop, draw_id, wait=False)
    assert early["errors"] == [{"code": "DRAW_NOT_DUE", "field": ["input", "drawId"]}]
    doc = await gql.state.services.store.collection(DRAWS).find_one({})
    assert (doc["status"], doc["seed"], doc["proof"], doc["winners"]) == (
        "OPEN", None, None, [])
    assert await _count(shop, "audit_log", {"operation": "drawClose"}) == 0
    assert await _count(shop, OUTBOX, {"type": {"$in": ["draw.closed", "draw.won"]}}) == 0
    assert (await enter(shop, ann, draw_id, 1, "a-2"))["errors"] == []  # still open

    on_time = await close(shop, draw_id)  # at closesAt
    assert on_time["errors"] == [] and on_time["draw"]["status"] == "CLOSED"
    assert await _count(shop, "audit_log", {"operation": "drawClose"}) == 1


def _forged(proof: dict[str, Any]) -> dict[str, Any]:
    """A rewritten draw: a new seed with its own commitment, and the winners that follow."""
    forged = copy.deepcopy(proof)
    seed = bytes(range(32))
    forged |= {"seed": seed.hex(), "commitment": hashlib.sha256(seed).hexdigest()}
    forged["winners"] = rerun(forged)
    return forged


async def test_draw_verify_checks_the_proof_against_the_commitment_published_at_creation(
    gql: GraphQLClient, tmp_path: Path,
) -> None:
    shop = await open_shop(gql)
    for email in ("ann@example.com", "bob@example.com"):
        member = await shop.member(email)
        assert (await shop.adjust(email, 100))["errors"] == []
    created = await create_draw(shop, prizes=[{"points": 50}], pricePoints=10)
    draw_id = created["draw"]["id"]
    (event,) = await gql.state.services.store.collection(OUTBOX).find(
        {"type": "draw.created"}).to_list(None)
    published = event["data"]["draw"]["commitment"]
    assert published == created["draw"]["commitment"]
    assert event["data"]["draw"]["algorithm"] == "kizuna-draw-v2"
    assert (await enter(shop, member, draw_id, 2, "b-1"))["errors"] == []
    closed = await close(shop, draw_id)
    proof = json.loads(closed["draw"]["proof"])
    real, forged = write(tmp_path / "real.json", proof), write(tmp_path / "forged.json",
                                                                _forged(proof))

    internal = draw_verify(forged)  # the forgery agrees with itself ...
    assert internal.returncode == 0 and "warning: no --commitment" in internal.stdout
    checked = draw_verify(forged, options=("--commitment", published))  # ... not the promise
    assert checked.returncode == 1
    assert "is not the published commitment" in checked.stdout
    good = draw_verify(real, options=("--commitment", published.upper(),
                                      "--draw-id", proof["drawId"]))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "warning" not in good.stdout
    other = draw_verify(real, options=("--commitment", published, "--draw-id", "another"))
    assert other.returncode == 1 and "drawId" in other.stdout


async def test_a_backdated_action_from_before_the_draw_opened_earns_no_entries(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    before = shop.later(hours=-2)
    await create_draw(shop, prizes=[{"points": 50}], opensAt=shop.later(hours=-1).isoformat(),
                      actionEntries=[{"actionType": "REVIEW", "entries": 3}])

    async def review(reference: str, at: Any) -> None:
        data = await gql.data(ACTION_AT, {"input": {
            "member": {"email": "ann@example.com"}, "type": "REVIEW", "reference": reference,
            "occurredAt": at.isoformat()}}, token=shop.api_key)
        assert data["actionRecord"]["errors"] == []

    await review("old", before)
    assert await _count(shop, DRAW_ENTRIES, {}) == 0
    assert await _count(shop, DRAW_ENTRANTS, {}) == 0
    assert (await gql.state.services.store.collection(DRAWS).find_one({}))["tickets"] == 0
    await review("in-window", shop.later(minutes=-30))
    assert await _count(shop, DRAW_ENTRIES, {}) == 1
    assert (await gql.state.services.store.collection(DRAWS).find_one({}))["tickets"] == 3
    assert await shop.violations() == []
