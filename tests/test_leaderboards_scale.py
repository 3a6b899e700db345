"""A leaderboard's top N and a member's rank read the ranking index, not the collection:
many score documents inserted directly into the embedded engine, the exact queries of
loyalty/play/leaderboard_scores.py explained (mongoeco's explain, and SQLite's plan of the
statements the engine really runs)."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mongoeco import MongoClient

from loyalty.play.leaderboard_scores import INDEXES, TOP_SORT, rank_filters, top_filter
from store.engine import KizunaEngine

SCORES = 6_000
START = datetime(2026, 11, 23, tzinfo=UTC)


class _TracedEngine(KizunaEngine):
    """Notes every statement the engine runs."""

    statements: list[str]

    def _create_sqlite_connection(self) -> sqlite3.Connection:
        connection = super()._create_sqlite_connection()
        connection.set_trace_callback(lambda sql: self.statements.append(sql))
        return connection


def _scores(count: int) -> list[dict[str, Any]]:
    docs = []
    for n in range(count):
        score = (n * 7919) % 3000 + 1
        docs.append({"_id": f"b1:2026-W48:m{n:06d}", "slot": "b1:2026-W48", "board": "b1",
                     "period": "2026-W48", "member": f"m{n:06d}", "score": score,
                     "minus_score": -score, "reached_at": START + timedelta(seconds=n % 5000),
                     "name": f"Player {n}"})
    # Another board's period in the same collection: the slot keeps them apart.
    docs += [{**doc, "_id": "b2" + doc["_id"][2:], "slot": "b2:2026-W48", "board": "b2"}
             for doc in docs[:500]]
    return docs


def _plans(path: Path, statements: list[str]) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [" | ".join(str(row[3]) for row in connection.execute(
            "EXPLAIN QUERY PLAN " + sql)) for sql in statements]


def test_top_n_and_my_rank_walk_the_ranking_index_at_scale(tmp_path: Path) -> None:
    engine = _TracedEngine(str(tmp_path / "scores.db"))
    engine.statements = []
    client = MongoClient(engine=engine)
    scores = client.kizuna.leaderboard_scores
    for spec in INDEXES:
        scores.create_index(list(spec.keys), name=spec.name)
    scores.insert_many(_scores(SCORES))
    mine = scores.find_one({"_id": "b1:2026-W48:m004321"})
    assert mine is not None
    ahead, tied = rank_filters("b1", "2026-W48", score=mine["score"],
                               reached_at=mine["reached_at"])
    top = list(scores.find(top_filter("b1", "2026-W48"), sort=list(TOP_SORT), limit=10))

    def count(query: dict[str, Any]) -> int:  # as Store.count does: the count command
        found: int = client.kizuna.command({"count": "leaderboard_scores", "query": query})["n"]
        return found

    # The engine's questions about the collection's fields, asked once and remembered.
    count(ahead)
    count(tied)
    engine.statements.clear()

    top = list(scores.find(top_filter("b1", "2026-W48"), sort=list(TOP_SORT), limit=10))
    rank = 1 + count(ahead) + count(tied)

    everyone = sorted(_scores(SCORES)[:SCORES],
                      key=lambda d: (-d["score"], d["reached_at"], d["member"]))
    assert [d["member"] for d in top] == [d["member"] for d in everyone[:10]]
    mine_at = mine["reached_at"].replace(tzinfo=UTC)  # the sync client reads naive UTC
    assert rank == 1 + sum(1 for d in everyone if (-d["score"], d["reached_at"]) < (
        -mine["score"], mine_at))
    statements = [sql for sql in engine.statements if "FROM documents" in sql]
    assert len(statements) == 3, statements
    plans = _plans(tmp_path / "scores.db", statements)
    for plan in plans:
        assert "USING INDEX idx_" in plan and "SCAN" not in plan, plans
        assert "TEMP B-TREE" not in plan, plans  # the top N is read in index order
    # Each query seeks on the slot and a range of minus_score: a range of the index.
    assert all("<expr>=? AND <expr><?" in plan for plan in plans[:2]), plans
    assert "<expr>>? AND <expr><?" in plans[2] or "<expr>>=? AND <expr><=?" in plans[2], plans

    explained = scores.find(top_filter("b1", "2026-W48"), sort=list(TOP_SORT),
                            limit=10).explain()
    details = " ".join(explained["details"]["engine_details"])
    assert "USING INDEX" in details and "SCAN" not in details, explained
    client.close()
