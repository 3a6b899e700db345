"""Engine override 18: a count whose filter our index conditions say exactly is answered from
the index alone, with the same answer mongoeco gives (store/engine.py)."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mongoeco import MongoClient
from mongoeco.engines.sqlite import SQLiteEngine

from store.engine import KizunaEngine

START = datetime(2026, 1, 1, tzinfo=UTC)


class _TracedEngine(KizunaEngine):
    statements: list[str]

    def _create_sqlite_connection(self) -> sqlite3.Connection:
        connection = super()._create_sqlite_connection()
        connection.set_trace_callback(lambda sql: self.statements.append(sql))
        return connection


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for n in range(80):
        doc: dict[str, Any] = {"_id": f"s{n:03d}", "slot": f"b{n % 3}", "minus": -(n * 7 % 31),
                               "at": START + timedelta(minutes=n * 11 % 47)}
        if n % 9 == 0:
            doc["minus"] = -(n % 31) - 0.5  # a double among integers
        if n % 17 == 0:
            del doc["minus"]  # missing
        if n % 19 == 0:
            doc["at"] = None
        docs.append(doc)
    return docs


QUERIES: list[dict[str, Any]] = [
    {"slot": "b1"},
    {"slot": "b1", "minus": {"$lt": -12}},
    {"slot": "b2", "minus": {"$lte": -12}},
    {"slot": "b0", "minus": {"$gt": -12}},
    {"slot": "b0", "minus": {"$gte": -12, "$lte": -3}},
    {"slot": "b1", "minus": {"$gte": -12, "$lte": -12},
     "at": {"$lt": START + timedelta(minutes=20)}},
    {"slot": "b2", "at": None},
    {"slot": {"$in": ["b0", "b2"]}, "minus": {"$gt": -20}},
    {"_id": {"$in": ["s001", "s004", "s009", "s077"]}},
    {"minus": {"$gt": -5}},
    {"slot": "b1", "minus": {"$ne": -7}},  # not said exactly: mongoeco's own count
]


def _collection(engine: Any) -> tuple[Any, Any]:
    client = MongoClient(engine=engine)
    scores = client.kizuna.scores
    scores.create_index([("slot", 1), ("minus", 1), ("at", 1), ("_id", 1)], name="rank")
    scores.create_index([("minus", 1)], name="minus")
    scores.insert_many(_documents())
    return client, scores


def _counts(client: Any) -> list[int]:
    return [int(client.kizuna.command({"count": "scores", "query": query})["n"])
            for query in QUERIES]


def test_counts_answer_as_mongoeco_does_with_and_without_unorderable_values(
    tmp_path: Path,
) -> None:
    answers = []
    for engine_class in (SQLiteEngine, KizunaEngine):
        client, scores = _collection(engine_class(str(tmp_path / f"{engine_class.__name__}.db")))
        answers.append(_counts(client))
        # Values a number range must not count (a string sorts above numbers in SQLite) and
        # one the index order cannot say (a boolean): the override steps aside or stays exact.
        scores.update_one({"_id": "s005"}, {"$set": {"minus": "many"}})
        scores.update_one({"_id": "s006"}, {"$set": {"slot": ["b0", "b1"]}})
        answers.append(_counts(client))
        scores.update_one({"_id": "s007"}, {"$set": {"minus": True}})
        answers.append(_counts(client))
        client.close()
    assert answers[3:] == answers[:3]
    assert answers[1] != answers[0]  # the changed values moved, so the test can tell


@pytest.mark.parametrize("query", [
    {"slot": "b1", "minus": {"$lt": -12}},
    {"slot": "b0", "minus": {"$gte": -12, "$lte": -12}, "at": {"$lt": START}},
])
def test_an_exact_count_reads_the_index_and_no_document(tmp_path: Path, query: dict[str, Any]) -> (
    None
):
    engine = _TracedEngine(str(tmp_path / "traced.db"))
    engine.statements = []
    client, _scores = _collection(engine)
    client.kizuna.command({"count": "scores", "query": query})  # the features, asked once
    engine.statements.clear()
    client.kizuna.command({"count": "scores", "query": query})
    (count,) = [sql for sql in engine.statements if sql.lstrip().startswith("SELECT COUNT(*)")]
    assert "json_type(" not in count, count  # no clause re-read on the stored document
    with sqlite3.connect(tmp_path / "traced.db") as connection:
        plan = " | ".join(str(row[3]) for row in connection.execute("EXPLAIN QUERY PLAN " + count))
    assert "USING INDEX" in plan and "SCAN" not in plan, plan
    client.close()
