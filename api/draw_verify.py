"""`kizuna draw-verify PROOF`: check a prize draw's published proof independently of the
server — SHA-256(seed) is the commitment, and the winners follow from the seed and the
entry list (loyalty/play/draw_algorithm.py, docs/draws.md). PROOF is a file, `-` for
standard input, or an http(s) URL that answers the proof's JSON."""

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


def run(source: str) -> int:
    """Print the verdict; 0 when the proof checks out, 1 when it does not, 2 when it cannot
    be read."""
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
    return 0
