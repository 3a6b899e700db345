"""Conformance of engine override 17 (store/engine_sorted_pages.py): sorted pages read in
index order answer exactly as mongoeco does — with missing and null values, numbers of both
kinds, dates, keyset filters, equality prefixes — and fall back when a field holds values the
index order would sort differently; and such a page reads through the index, not a sort."""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mongoeco import MongoClient
from mongoeco.engines.sqlite import SQLiteEngine

from store.engine import KizunaEngine

START = datetime(2026, 1, 1, tzinfo=UTC)


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for n in range(60):
        doc: dict[str, Any] = {"_id": f"m{n:03d}", "points": (n * 7) % 23,
                               "joined_at": START + timedelta(hours=(n * 5) % 17),
                               "tier": {"id": f"t{n % 3}"}}
        if n % 4:
            doc["last_activity_at"] = START + timedelta(days=n % 9, milliseconds=n)
        if n % 10 == 0:
            doc["points"] = 2.5 + n  # a double among integers
        if n % 13 == 0:
            doc["last_activity_at"] = None
        docs.append(doc)
    return docs


def _collection(engine: Any) -> tuple[Any, Any]:
    client = MongoClient(engine=engine)
    members = client.kizuna.members
    members.create_index([("points", 1), ("_id", 1)], name="points")
    members.create_index([("last_activity_at", 1), ("_id", 1)], name="activity")
    members.create_index([("tier.id", 1), ("joined_at", 1), ("_id", 1)], name="tier_joined")
    members.insert_many(_documents())
    return client, members


QUERIES: list[tuple[dict[str, Any], list[tuple[str, int]]]] = [
    ({}, [("points", -1), ("_id", -1)]),
    ({}, [("points", 1), ("_id", 1)]),
    ({"points": {"$lte": 9}, "$or": [{"points": {"$lt": 9}}, {"_id": {"$lt": "m030"}}]},
     [("points", -1), ("_id", -1)]),
    ({}, [("last_activity_at", -1), ("_id", -1)]),
    ({}, [("last_activity_at", 1), ("_id", 1)]),
    ({"last_activity_at": None, "_id": {"$lt": "m040"}}, [("last_activity_at", -1), ("_id", -1)]),
    ({"last_activity_at": {"$gte": START + timedelta(days=3)}},
     [("last_activity_at", 1), ("_id", 1)]),
    ({"last_activity_at": {"$lt": START + timedelta(days=5)}},
     [("last_activity_at", -1), ("_id", -1)]),
    ({"tier.id": "t1"}, [("joined_at", 1), ("_id", 1)]),
    ({"tier.id": "t2", "joined_at": {"$gt": START + timedelta(hours=4)}},
     [("joined_at", -1), ("_id", -1)]),
    ({"_id": {"$in": ["m001", "m017", "m020", "m033", "m052"]}}, [("points", -1), ("_id", -1)]),
]


def _answers(members: Any) -> list[list[str]]:
    return [[d["_id"] for d in members.find(query, sort=sort, limit=limit)]
            for query, sort in QUERIES for limit in (5, 0)]


def test_sorted_pages_answer_as_mongoeco_does(tmp_path: Path) -> None:
    answers = []
    for engine_class in (SQLiteEngine, KizunaEngine):
        client, members = _collection(
            engine_class(str(tmp_path / f"{engine_class.__name__}.db")))
        answers.append(_answers(members))
        # A value the index order would misplace: a boolean sorts after dates in BSON.
        members.update_one({"_id": "m005"}, {"$set": {"last_activity_at": True}})
        members.update_one({"_id": "m006"}, {"$set": {"points": "many"}})
        answers.append(_answers(members))
        client.close()
    assert answers[2] == answers[0]
    assert answers[3] == answers[1]
    assert answers[1] != answers[0]  # the changed values moved, so the test can tell


class _TracedEngine(KizunaEngine):
    """Notes every statement of every connection, the readers' included."""

    statements: list[str]

    def _create_sqlite_connection(self) -> sqlite3.Connection:
        connection = super()._create_sqlite_connection()
        connection.set_trace_callback(lambda sql: self.statements.append(sql))
        return connection


@pytest.mark.parametrize(("query", "sort"), [
    ({}, [("points", -1), ("_id", -1)]),
    ({"points": {"$lte": 9}, "$or": [{"points": {"$lt": 9}}, {"_id": {"$lt": "m030"}}]},
     [("points", -1), ("_id", -1)]),
    ({"last_activity_at": {"$gte": START}}, [("last_activity_at", 1), ("_id", 1)]),
    ({"tier.id": "t1", "joined_at": {"$lt": START + timedelta(hours=9)}},
     [("joined_at", -1), ("_id", -1)]),
])
def test_a_sorted_page_walks_an_index_and_sorts_nothing(
    tmp_path: Path, query: dict[str, Any], sort: list[tuple[str, int]],
) -> None:
    engine = _TracedEngine(str(tmp_path / "k.db"))
    engine.statements = []
    client, members = _collection(engine)
    list(members.find(query, sort=sort, limit=3))  # the collection's features, asked once
    engine.statements.clear()

    found = list(members.find(query, sort=sort, limit=3))

    assert len(found) == 3
    statements = [sql for sql in engine.statements
                  if "FROM documents" in sql and "ORDER BY" in sql]
    with sqlite3.connect(tmp_path / "k.db") as connection:
        plans = [" | ".join(str(row[3]) for row in
                            connection.execute("EXPLAIN QUERY PLAN " + sql))
                 for sql in statements]
    assert plans, statements
    assert all("USING INDEX idx_" in plan and "TEMP B-TREE" not in plan for plan in plans), plans
    client.close()
