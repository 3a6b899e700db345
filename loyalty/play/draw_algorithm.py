"""The prize draw's algorithm, pure: the commitment, the entrants' pseudonyms, the tickets,
the winners, and checking a published proof. `kizuna draw-verify` runs this very module;
docs/draws.md says it step by step for anyone rerunning it in another language.

Algorithm "kizuna-draw-v2" (drawing without replacement):
- seed: 32 random bytes; commitment = SHA-256(seed), lowercase hex, published at creation.
- entries: one (entrant, tickets) pair per entrant, sorted by entrant (ascending, unique);
  tickets are numbered from 0 in that order, so entrant k holds the tickets from the sum of
  the counts before it, `tickets` of them.
- for prize i = 0, 1, …, min(N, entrants) − 1: the tickets still in play are those of the
  entrants who have not won yet, in ticket order; R is how many. For counter c = 0, 1, …:
  h = HMAC-SHA256(key = seed, message = UTF-8(draw id) ‖ 0x00 ‖ i as 4 bytes big-endian ‖
  c as 4 bytes big-endian), x = h read as a 256-bit big-endian unsigned integer. If
  x ≥ 2^256 − (2^256 mod R) the value is rejected (no modulo bias: try c + 1); else the
  (x mod R)-th ticket in play (from 0) wins prize i, reported by its number in the whole
  list, and its entrant's tickets leave play.
Each prize needs one HMAC but with probability < R / 2^256, whatever the ticket counts: the
old re-draw on hitting a past winner (v1) could take millions of tries.
"""

import bisect
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALGORITHM = "kizuna-draw-v2"
SEED_BYTES = 32
MAX_COUNTER = 2**32 - 1
_SPACE = 2**256


@dataclass(frozen=True, slots=True)
class Entrant:
    entrant: str
    """A pseudonym (hex), never a member id, email or name."""
    tickets: int


@dataclass(frozen=True, slots=True)
class Winner:
    prize: int
    ticket: int
    entrant: str


class ProofError(ValueError):
    """A proof that does not check out; the message says why."""


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def pseudonym(salt: bytes, member_id: str) -> str:
    """The entrant id of `member_id` in the draw whose secret salt is `salt`: without the
    salt nobody can tell whose it is."""
    return hmac.new(salt, member_id.encode(), hashlib.sha256).hexdigest()[:32]


def canonical(entrants: Sequence[Entrant]) -> list[Entrant]:
    """The entry list in ticket order (by entrant), without entrants holding no ticket."""
    return sorted((e for e in entrants if e.tickets > 0), key=lambda e: e.entrant)


def ticket_ranges(entrants: Sequence[Entrant]) -> dict[str, tuple[int, int]]:
    """Each entrant's tickets as (first, last), both included, numbered in list order."""
    ranges: dict[str, tuple[int, int]] = {}
    first = 0
    for entrant in entrants:
        ranges[entrant.entrant] = (first, first + entrant.tickets - 1)
        first += entrant.tickets
    return ranges


def _number(seed: bytes, draw_id: str, prize: int, counter: int) -> int:
    message = draw_id.encode() + b"\x00" + prize.to_bytes(4, "big") + counter.to_bytes(4, "big")
    return int.from_bytes(hmac.new(seed, message, hashlib.sha256).digest(), "big")


def _pick(cumulative: Sequence[int], gone: Sequence[tuple[int, int]], index: int) -> (
    tuple[int, int]
):
    """The ticket number (in the whole list) and the entrant position of the `index`-th
    ticket still in play: `cumulative` holds each entrant's end (exclusive) in the whole
    list, `gone` the (first ticket, count) of the past winners, sorted by first ticket."""
    ticket = index
    for first, count in gone:  # at most one interval per prize (≤ MAX_PRIZES)
        if ticket < first:
            break
        ticket += count
    return ticket, bisect.bisect_right(cumulative, ticket)


def winners(*, seed: bytes, draw_id: str, prizes: int, entrants: Sequence[Entrant]) -> (
    list[Winner]
):
    """The winners of prizes 0 … `prizes` − 1 over `entrants` (in ticket order): as many as
    there are entrants when fewer than prizes. Time: O(entrants) to sum the tickets, then
    O(prizes × (prizes + log entrants)) HMACs and steps, whatever the ticket counts."""
    cumulative = list(itertools.accumulate(e.tickets for e in entrants))
    remaining = cumulative[-1] if cumulative else 0
    gone: list[tuple[int, int]] = []
    found: list[Winner] = []
    for prize in range(min(prizes, len(entrants))):
        limit = _SPACE - _SPACE % remaining
        for counter in range(MAX_COUNTER + 1):
            x = _number(seed, draw_id, prize, counter)
            if x < limit:
                break
        else:  # pragma: no cover - each try fails with probability < 2^-200
            raise ProofError("no number below the limit")
        ticket, position = _pick(cumulative, gone, x % remaining)
        winner = entrants[position]
        found.append(Winner(prize, ticket, winner.entrant))
        bisect.insort(gone, (cumulative[position] - winner.tickets, winner.tickets))
        remaining -= winner.tickets
    return found


def proof(*, draw_id: str, seed: bytes, prizes: int, entrants: Sequence[Entrant],
          chosen: Sequence[Winner]) -> dict[str, Any]:
    """The published proof (JSON-ready)."""
    return {
        "algorithm": ALGORITHM, "drawId": draw_id, "commitment": commitment(seed),
        "seed": seed.hex(), "prizeCount": prizes,
        "entries": [{"entrant": e.entrant, "tickets": e.tickets} for e in entrants],
        "winners": [{"prize": w.prize, "ticket": w.ticket, "entrant": w.entrant}
                    for w in chosen],
    }


def _entrants(raw: Any) -> list[Entrant]:
    if not isinstance(raw, list):
        raise ProofError("entries must be a list")
    found = []
    for item in raw:
        if not (isinstance(item, dict) and isinstance(item.get("entrant"), str)
                and type(item.get("tickets")) is int and item["tickets"] > 0):
            raise ProofError(f"bad entry {item!r}")
        found.append(Entrant(item["entrant"], item["tickets"]))
    names = [e.entrant for e in found]
    if names != sorted(set(names)):
        raise ProofError("entries are not sorted by entrant, or an entrant appears twice")
    return found


def check_proof(published: Mapping[str, Any]) -> list[Winner]:
    """The winners `published` claims, after checking that its seed matches its commitment
    and that rerunning the algorithm gives exactly them; raises ProofError otherwise."""
    if published.get("algorithm") != ALGORITHM:
        raise ProofError(f"unknown algorithm {published.get('algorithm')!r}")
    try:
        seed = bytes.fromhex(str(published["seed"]))
        draw_id, prizes = str(published["drawId"]), published["prizeCount"]
        claimed = [Winner(int(w["prize"]), int(w["ticket"]), str(w["entrant"]))
                   for w in published["winners"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ProofError(f"malformed proof: {error}") from None
    if type(prizes) is not int or prizes < 1:
        raise ProofError("prizeCount must be a positive integer")
    if len(seed) != SEED_BYTES or not hmac.compare_digest(
            commitment(seed), str(published.get("commitment", ""))):
        raise ProofError("SHA-256(seed) is not the commitment")
    expected = winners(seed=seed, draw_id=draw_id, prizes=prizes,
                       entrants=_entrants(published.get("entries")))
    if expected != claimed:
        raise ProofError(f"the winners do not follow from the seed and the entries: expected "
                         f"{[(w.prize, w.ticket, w.entrant) for w in expected]}")
    return expected
