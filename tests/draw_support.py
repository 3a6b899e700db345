"""Prize draws over GraphQL, and an independent reimplementation of the draw algorithm as
docs/draws.md describes it (deliberately not importing loyalty.play.draw_algorithm)."""

import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loyalty.play.draws import DRAWS as DRAWS_COLLECTION
from tests.ledger_support import Shop
from tests.support import SignedIn

ROOT = Path(__file__).resolve().parent.parent

DRAW_FIELDS = """id title status commitment seed closesAt pricePoints tickets entrants
  winningTickets { prize ticket entrant } proof
  myEntries { entries bought entrant firstTicket lastTicket wonPrizes }"""

DRAW_CREATE = f"""mutation($input: DrawCreateInput!) {{ drawCreate(input: $input) {{
  draw {{ {DRAW_FIELDS} }} errors {{ code field }} }} }}"""

DRAW_CLOSE = f"""mutation($input: DrawCloseInput!) {{ drawClose(input: $input) {{
  draw {{ {DRAW_FIELDS} }} errors {{ code field }} }} }}"""

DRAW_ENTER = f"""mutation($input: DrawEnterInput!) {{ drawEnter(input: $input) {{
  replayed entry {{ kind points reason }} draw {{ {DRAW_FIELDS} }}
  errors {{ code field }} }} }}"""

DRAWS = f"{{ draws {{ edges {{ node {{ {DRAW_FIELDS} }} }} }} }}"

ACTION = """mutation($input: ActionRecordInput!) { actionRecord(input: $input) {
  replayed errors { code } } }"""


async def create_draw(shop: Shop, **fields: Any) -> dict[str, Any]:
    draw = {"title": "Winter draw", "description": "Win a weekend away",
            "closesAt": shop.later(minutes=10).isoformat(), **fields}
    data = await shop.gql.data(DRAW_CREATE, {"input": draw}, token=shop.admin.access_token)
    payload: dict[str, Any] = data["drawCreate"]
    return payload


async def close(shop: Shop, draw_id: str, *, wait: bool = True) -> dict[str, Any]:
    """The admin's drawClose; with `wait`, once the clock reached the draw's closesAt (an
    admin cannot close earlier). Members' tokens outlive the default 10-minute window."""
    store = shop.gql.state.services.store
    stored = base64.b64decode(draw_id).decode().partition(":")[2]
    draw = await store.collection(DRAWS_COLLECTION).find_one({"_id": stored},
                                                             {"closes_at": 1})
    if wait and draw is not None and shop.now() < draw["closes_at"]:
        await shop.advance(seconds=(draw["closes_at"] - shop.now()).total_seconds() + 1)
    data = await shop.gql.data(DRAW_CLOSE, {"input": {"drawId": draw_id}},
                               token=shop.admin.access_token)
    payload: dict[str, Any] = data["drawClose"]
    return payload


async def enter(shop: Shop, member: SignedIn, draw_id: str, entries: int,
                key: str) -> dict[str, Any]:
    data = await shop.gql.data(
        DRAW_ENTER, {"input": {"drawId": draw_id, "entries": entries, "idempotencyKey": key}},
        token=member.access_token)
    payload: dict[str, Any] = data["drawEnter"]
    return payload


async def action(shop: Shop, email: str, kind: str, reference: str) -> dict[str, Any]:
    data = await shop.gql.data(ACTION, {"input": {"member": {"email": email}, "type": kind,
                                                  "reference": reference}},
                               token=shop.api_key)
    payload: dict[str, Any] = data["actionRecord"]
    return payload


async def draws_seen_by(shop: Shop, member: SignedIn) -> list[dict[str, Any]]:
    data = await shop.gql.data(DRAWS, token=member.access_token)
    return [edge["node"] for edge in data["draws"]["edges"]]


def rerun(proof: dict[str, Any]) -> list[dict[str, Any]]:
    """The winners, computed from the proof exactly as docs/draws.md says (slowly: every
    ticket listed, the tickets in play rebuilt for each prize)."""
    seed = bytes.fromhex(proof["seed"])
    assert hashlib.sha256(seed).hexdigest() == proof["commitment"]
    owners: list[str] = []
    for entry in proof["entries"]:
        owners += [entry["entrant"]] * entry["tickets"]
    won: set[str] = set()
    found = []
    for prize in range(min(proof["prizeCount"], len(proof["entries"]))):
        in_play = [t for t, owner in enumerate(owners) if owner not in won]
        limit = 2**256 - (2**256 % len(in_play))
        counter = 0
        while True:
            message = (proof["drawId"].encode() + b"\x00" + prize.to_bytes(4, "big")
                       + counter.to_bytes(4, "big"))
            x = int.from_bytes(hmac.new(seed, message, hashlib.sha256).digest(), "big")
            counter += 1
            if x < limit:
                break
        ticket = in_play[x % len(in_play)]
        won.add(owners[ticket])
        found.append({"prize": prize, "ticket": ticket, "entrant": owners[ticket]})
    return found


def draw_verify(*paths: Path | str, options: tuple[str, ...] = ()) -> (
    subprocess.CompletedProcess[str]
):
    """`kizuna draw-verify` run as an operator or a member would (one process for all)."""
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "api.cli", "draw-verify", *options, *map(str, paths)],
        cwd=ROOT, text=True, capture_output=True, env=dict(os.environ), timeout=60, check=False)


@contextlib.contextmanager
def serving(body: bytes) -> Iterator[str]:
    """A local HTTP server answering `body` (as a shop's server would publish a proof)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/proof"
    finally:
        server.shutdown()
        server.server_close()


def write(path: Path, proof: dict[str, Any]) -> Path:
    path.write_text(json.dumps(proof))
    return path
