"""The prize draw's algorithm, pure: the commitment, the entrants' pseudonyms, the tickets,
the winners, and checking a published proof. `kizuna draw-verify` runs this very module;
docs/draws.md says it step by step for anyone rerunning it in another language.

Algorithm "kizuna-draw-v1":
- seed: 32 random bytes; commitment = SHA-256(seed), lowercase hex, published at creation.
- entries: one (entrant, tickets) pair per entrant, sorted by entrant (ascending, unique);
  tickets are numbered from 0 in that order, so entrant k holds the tickets from the sum of
  the counts before it, `tickets` of them.
- for prize i = 0, 1, …, N − 1, with T the number of tickets and counter c = 0, 1, …:
  h = HMAC-SHA256(key = seed, message = UTF-8(draw id) ‖ 0x00 ‖ i as 4 bytes big-endian ‖
  c as 4 bytes big-endian), x = h read as a 256-bit big-endian unsigned integer. If
  x ≥ 2^256 − (2^256 mod T) the value is rejected (no modulo bias); else ticket = x mod T,
  and if that ticket's entrant has not won yet, they win prize i; otherwise c + 1.
- at most one prize per entrant: once every entrant has won, the remaining prizes are not
  awarded.
"""

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALGORITHM = "kizuna-draw-v1"
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


def _owner(entrants: Sequence[Entrant], ticket: int) -> str:
    for entrant in entrants:
        if ticket < entrant.tickets:
            return entrant.entrant
        ticket -= entrant.tickets
    raise ProofError("ticket out of range")  # unreachable for ticket < total


def winners(*, seed: bytes, draw_id: str, prizes: int, entrants: Sequence[Entrant]) -> (
    list[Winner]
):
    """The winners of prizes 0 … `prizes` − 1 over `entrants` (in ticket order): as many as
    there are entrants when fewer than prizes."""
    total = sum(e.tickets for e in entrants)
    limit = _SPACE - _SPACE % total if total else 0
    won: set[str] = set()
    found: list[Winner] = []
    for prize in range(min(prizes, len(entrants))):
        for counter in range(MAX_COUNTER + 1):
            x = _number(seed, draw_id, prize, counter)
            if x >= limit:
                continue
            ticket = x % total
            owner = _owner(entrants, ticket)
            if owner not in won:
                won.add(owner)
                found.append(Winner(prize, ticket, owner))
                break
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
