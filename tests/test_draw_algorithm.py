"""The draw algorithm without a server: the documented test vector, one prize per entrant,
and proofs that must not check out."""

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from loyalty.play.draw_algorithm import (
    Entrant,
    ProofError,
    check_proof,
    commitment,
    new_seed,
    proof,
    ticket_ranges,
    winners,
)
from tests.draw_support import rerun

DOCS = Path(__file__).resolve().parent.parent / "docs" / "draws.md"


def _documented_vector() -> dict[str, Any]:
    text = DOCS.read_text()
    vector = text[text.index("**Test vector**"):]
    block = re.search(r"```json\n(.*?)```", vector, re.DOTALL)
    assert block is not None
    found: dict[str, Any] = json.loads(block.group(1))
    return found


def test_the_documented_test_vector_checks_out_both_ways() -> None:
    vector = _documented_vector()
    assert [(w.prize, w.ticket, w.entrant) for w in check_proof(vector)] == [
        (w["prize"], w["ticket"], w["entrant"]) for w in vector["winners"]]
    assert rerun(vector) == vector["winners"]
    more = winners(seed=bytes(range(32)), draw_id="example", prizes=5,
                   entrants=[Entrant("aa", 3), Entrant("bb", 1), Entrant("cc", 6)])
    assert [(w.prize, w.ticket, w.entrant) for w in more] == [
        (0, 9, "cc"), (1, 2, "aa"), (2, 3, "bb")]


def test_one_heavy_entrant_does_not_make_the_pick_slow() -> None:
    """Drawing without replacement: no re-draws on a past winner, no scan of the tickets.
    (kizuna-draw-v1 took 23.5 s of CPU for this.)"""
    entrants = [Entrant("00", 2_000_000)] + [Entrant(f"0{i}", 1) for i in range(1, 6)]
    for _ in range(5):
        started = time.process_time()
        chosen = winners(seed=new_seed(), draw_id="d", prizes=6, entrants=entrants)
        assert time.process_time() - started < 0.05
        assert sorted(w.entrant for w in chosen) == sorted(e.entrant for e in entrants)
    many = [Entrant(f"{i:06x}", 1 + i % 7) for i in range(200_000)]
    started = time.process_time()
    chosen = winners(seed=new_seed(), draw_id="d", prizes=100, entrants=many)
    assert time.process_time() - started < 1.0 and len({w.entrant for w in chosen}) == 100


def test_winning_tickets_are_numbered_in_the_whole_list_and_match_the_docs_rerun() -> None:
    for _ in range(200):
        entrants = [Entrant(f"{i:02d}", 1 + (i * 7) % 5) for i in range(1 + _ % 9)]
        seed, prizes = new_seed(), 1 + _ % 11
        chosen = winners(seed=seed, draw_id="d", prizes=prizes, entrants=entrants)
        published = proof(draw_id="d", seed=seed, prizes=prizes, entrants=entrants,
                          chosen=chosen)
        assert rerun(published) == published["winners"]
        ranges = ticket_ranges(entrants)
        for won in chosen:
            first, last = ranges[won.entrant]
            assert first <= won.ticket <= last


def test_nobody_wins_twice_and_prizes_stop_when_everyone_won() -> None:
    for _ in range(20):
        seed = new_seed()
        entrants = [Entrant("a", 1), Entrant("b", 50), Entrant("c", 2)]
        chosen = winners(seed=seed, draw_id="d", prizes=10, entrants=entrants)
        assert sorted(w.entrant for w in chosen) == ["a", "b", "c"]
        assert [w.prize for w in chosen] == [0, 1, 2]
        published = proof(draw_id="d", seed=seed, prizes=10, entrants=entrants, chosen=chosen)
        assert check_proof(published) == chosen
        assert commitment(seed) == published["commitment"]
    assert winners(seed=new_seed(), draw_id="d", prizes=3, entrants=[]) == []


@pytest.mark.parametrize("change", [
    lambda p: p["entries"].reverse(),  # not in canonical order
    lambda p: p["entries"].append(dict(p["entries"][0])),  # an entrant twice
    lambda p: p["entries"][0].update(tickets=0),
    lambda p: p.update(seed=p["seed"][:-2]),  # 31 bytes
    lambda p: p.update(prizeCount=0),
    lambda p: p.update(drawId="another"),
    lambda p: p.update(algorithm="kizuna-draw-v0"),
    lambda p: p["winners"].pop(),
])
def test_a_changed_proof_does_not_check_out(change: Any) -> None:
    tampered = copy.deepcopy(_documented_vector())
    change(tampered)
    with pytest.raises(ProofError):
        check_proof(tampered)
