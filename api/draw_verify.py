"""`kizuna draw-verify PROOF`: check a prize draw's published proof independently of the
server — SHA-256(seed) is the commitment, and the winners follow from the seed and the
entry list (loyalty/play/draw_algorithm.py, docs/draws.md). PROOF is a file, `-` for
standard input, or an http(s) URL that answers the proof's JSON.

That check is internal to the proof: whoever can rewrite the draw can publish a new seed, its
commitment and winners of their choice, and the proof still checks out. `--commitment HEX`
(the commitment published before the draw opened: its `draw.created` event, a saved page)
ties the proof to what was promised; `--draw-id` ties it to the draw."""

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from loyalty.play.draw_algorithm import ProofError, check_proof


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if source.startswith(("https://", "http://")):
        response = httpx.get(source, timeout=30, follow_redirects=True)
        response.raise_for_status()
        return response.text
    return Path(source).read_text(encoding="utf-8")


def _proof(document: Any) -> Any:
    """The proof itself, also when given as the Draw's `proof` field (a JSON string) or a
    GraphQL response holding a draw."""
    if isinstance(document, str):
        return _proof(json.loads(document))
    if isinstance(document, dict) and "algorithm" not in document:
        for key in ("data", "node", "draw", "proof"):
            if key in document:
                return _proof(document[key])
    return document


def _mismatch(published: dict[str, Any], commitment: str | None,
              draw_id: str | None) -> str | None:
    """Why the proof is not the one promised, if it is not."""
    if commitment is not None and str(published.get("commitment", "")).lower() != (
            commitment.strip().lower()):
        return (f"the proof's commitment {published.get('commitment')} is not the published "
                f"commitment {commitment.strip().lower()}")
    if draw_id is not None and str(published.get("drawId")) != draw_id.strip():
        return f"the proof's drawId {published.get('drawId')} is not {draw_id.strip()}"
    return None


def run(source: str, *, commitment: str | None = None, draw_id: str | None = None) -> int:
    """Print the verdict; 0 when the proof checks out (and matches `commitment` and
    `draw_id` when given), 1 when it does not, 2 when it cannot be read."""
    try:
        published = _proof(json.loads(_read(source)))
    except (OSError, ValueError, httpx.HTTPError) as error:
        print(f"kizuna draw-verify: cannot read the proof: {error}", file=sys.stderr)
        return 2
    if not isinstance(published, dict):
        print("kizuna draw-verify: the proof is not a JSON object", file=sys.stderr)
        return 2
    try:
        winners = check_proof(published)
        mismatch = _mismatch(published, commitment, draw_id)
        if mismatch is not None:
            raise ProofError(mismatch)
    except ProofError as error:
        print(f"FAILED: draw {published.get('drawId')}: {error}")
        return 1
    print(f"ok: draw {published['drawId']}: SHA-256(seed) = commitment "
          f"{published['commitment']}")
    print(f"{len(published['entries'])} entrant(s), "
          f"{sum(e['tickets'] for e in published['entries'])} ticket(s), "
          f"{published['prizeCount']} prize(s); the winners match:")
    for winner in winners:
        print(f"  prize {winner.prize}: ticket {winner.ticket}, entrant {winner.entrant}")
    if commitment is None:
        print("warning: no --commitment given: only checked that the proof agrees with "
              "itself; pass the commitment published at the draw's creation to check it is "
              "the draw that was promised")
    else:
        print("ok: the commitment is the one published (--commitment)")
    return 0
