"""Conformance of the embedded engine's overrides (store/engine.py): the same operations on
mongoeco's own SQLiteEngine and on KizunaEngine give the same answers and the same errors,
and the overridden paths use an index instead of scanning the collection.

These drive the engines in-process (mongoeco's synchronous client): what is under test is
the engine itself, below the wire server the rest of the suite talks to.
"""

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Decimal128, Int64
from mongoeco import MongoClient
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.errors import BulkWriteError, DuplicateKeyError

from store.engine import KizunaEngine

type Collection = Any
type Statements = list[str]

# Documents of every shape an equality, a sort or a feature question may meet.
SHAPES: list[dict[str, Any]] = [
    {"_id": "a", "code": "C1", "status": "ACTIVE", "points": 5, "member_id": "m1"},
    {"_id": "b", "code": "C2", "status": "USED", "points": 2.5, "member_id": "m1"},
    {"_id": "c", "code": ["C3", "C1"], "status": "ACTIVE", "points": 7, "member_id": "m2"},
    {"_id": "d", "status": "ACTIVE", "points": Decimal128("1.5"), "member_id": "m2"},
    {"_id": "e", "code": "Ç1", "status": None, "points": Int64(3), "member_id": "m3"},
    {"_id": "f", "code": {"nested": "C1"}, "status": "ACTIVE", "member_id": ["m1", "m9"]},
    {"_id": "g", "code": "C1", "status": "ACTIVE", "points": [1, 9], "member_id": "m1",
     "at": datetime(2026, 12, 5, tzinfo=UTC)},
    {"_id": 1, "code": "N1", "status": "ACTIVE", "points": 1, "member_id": "m4"},
]

FILTERS: list[dict[str, Any]] = [
    {"_id": "a"}, {"_id": "zz"}, {"_id": 1}, {"_id": 1.0},
    {"_id": {"$in": ["a", "c", "zz"]}}, {"_id": {"$in": ["g", 1]}},
    {"code": "C1"}, {"code": "C1", "status": "ACTIVE"}, {"code": "Ç1"},
    {"code": "C1", "points": {"$gte": 5}}, {"member_id": "m1"}, {"member_id": "m9"},
    {"member_id": "m1", "status": "ACTIVE", "_id": {"$in": ["a", "g", "f"]}},
    {"status": "ACTIVE", "points": {"$gt": 1}}, {"points": 3}, {"points": Decimal128("1.5")},
    {"code.nested": "C1"}, {"status": None}, {"code": {"$exists": False}},
    # Paths through arrays: matched in Python, over the documents the equalities narrow to.
    {"_id": {"$in": ["c", "g"]}, "points": 9}, {"member_id": "m1", "points.1": 9},
    {"code": "C1", "member_id": {"$in": ["m9", "m1"]}, "points": {"$elemMatch": {"$gt": 8}}},
    # $in of strings on an indexed field: narrowed like an equality while no array is there.
    {"member_id": {"$in": ["m1", "m3"]}}, {"member_id": {"$in": ["m9"]}, "status": "ACTIVE"},
    {"member_id": {"$in": ["m2", 1]}}, {"code": {"$in": ["C1", "Ç1"]}, "points": {"$gt": 1}},
]


@pytest.fixture(params=["plain", "kizuna"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _open(tmp_path: Path, engine_class: type[SQLiteEngine]) -> tuple[MongoClient, Collection]:
    client = MongoClient(engine=engine_class(str(tmp_path / f"{engine_class.__name__}.db")))
    things = client.kizuna.things
    things.create_index([("code", 1)], name="code")
    things.create_index([("member_id", 1), ("_id", -1)], name="member")
    things.create_index([("key", 1)], name="key_unique", unique=True, sparse=True)
    return client, things


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Collection, Collection]]:
    """mongoeco's engine and ours, holding the same documents."""
    plain_client, plain = _open(tmp_path, SQLiteEngine)
    kizuna_client, kizuna = _open(tmp_path, KizunaEngine)
    yield plain, kizuna
    plain_client.close()
    kizuna_client.close()


def _answers(things: Collection) -> list[Any]:
    out: list[Any] = []
    for query in FILTERS:
        out.append(sorted(map(repr, things.find(query))))
        out.append([d["_id"] for d in things.find(query, sort=[("member_id", 1), ("_id", -1)])])
        out.append(things.count_documents(query))
    return out


def _both(pair: tuple[Collection, Collection], action: Callable[[Collection], Any]) -> None:
    for things in pair:
        action(things)


def test_queries_answer_as_mongoeco_does_while_documents_change(
    pair: tuple[Collection, Collection],
) -> None:
    plain, kizuna = pair
    # Plain documents first, so every feature is cached as "absent" before odd shapes come.
    for shape in SHAPES:
        _both(pair, lambda things, shape=shape: things.insert_one(dict(shape)))
        assert _answers(kizuna) == _answers(plain), shape
    changes: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"_id": "a"}, {"$set": {"code": ["C1", "C9"]}}),   # a field turns into an array
        ({"_id": "b"}, {"$set": {"points": Decimal128("2")}}),
        ({"_id": "e"}, {"$set": {"status": "ACTIVE", "code": "C1"}}),
        ({"_id": "c"}, {"$unset": {"code": ""}}),
        ({"_id": "g"}, {"$set": {"member_id": "m9"}}),
    ]
    for selector, update in changes:
        _both(pair, lambda things, s=selector, u=update: things.update_one(s, u))
        assert _answers(kizuna) == _answers(plain), update
    _both(pair, lambda things: things.delete_many({"status": "USED"}))
    assert _answers(kizuna) == _answers(plain)


def test_conditional_updates_match_the_same_documents(
    pair: tuple[Collection, Collection],
) -> None:
    plain, kizuna = pair
    for shape in SHAPES:
        _both(pair, lambda things, shape=shape: things.insert_one(dict(shape)))
    for query in FILTERS:
        found = [things.find_one_and_update(query, {"$inc": {"hits": 1}}, sort=[("_id", 1)])
                 for things in pair]
        assert repr(found[1]) == repr(found[0]), query
    assert _answers(kizuna) == _answers(plain)


def test_a_duplicate_string_id_is_still_refused(tmp_path: Path) -> None:
    client, things = _open(tmp_path, KizunaEngine)
    things.insert_one({"_id": "v1", "key": "k1"})
    with pytest.raises(DuplicateKeyError):
        things.insert_one({"_id": "v1", "key": "k2"})
    with pytest.raises(BulkWriteError) as batch:
        things.insert_many([{"_id": "v2"}, {"_id": "v2"}])
    assert [e["code"] for e in batch.value.details["writeErrors"]] == [11000]
    with pytest.raises(DuplicateKeyError):
        things.replace_one({"_id": "v3"}, {"_id": "v3", "key": "k1"}, upsert=True)
    assert sorted(d["_id"] for d in things.find()) == ["v1", "v2"]
    client.close()


def test_ids_equal_in_bson_but_not_in_python_still_collide(tmp_path: Path) -> None:
    # 1, 1.0 and Int64(1) are one id, and so are b"x" and Binary(b"x", 0): the payload
    # scan the override skips for strings still runs for every other type.
    client, things = _open(tmp_path, KizunaEngine)
    things.insert_one({"_id": 1})
    things.insert_one({"_id": b"x"})
    for same in (1.0, Int64(1), Decimal128(Decimal("1")), Binary(b"x", 0)):
        with pytest.raises(DuplicateKeyError):
            things.insert_one({"_id": same})
    assert things.count_documents({}) == 2
    client.close()


def test_a_unique_index_still_refuses_a_duplicate_after_arrays_appear(tmp_path: Path) -> None:
    client, things = _open(tmp_path, KizunaEngine)
    things.insert_one({"_id": "a", "key": "k1"})
    things.insert_one({"_id": "b", "key": ["k2", "k3"]})  # the unique field turns multikey
    with pytest.raises(DuplicateKeyError):
        things.insert_one({"_id": "c", "key": "k3"})
    with pytest.raises(DuplicateKeyError):
        things.insert_one({"_id": "d", "key": "k1"})
    things.insert_one({"_id": "e", "key": "k4"})
    assert things.count_documents({}) == 3
    client.close()


def _traced(engine: KizunaEngine) -> Statements:
    """Every SQL statement the engine's connections run from now on."""
    statements: Statements = []
    connection = engine._connection
    assert connection is not None
    connection.set_trace_callback(statements.append)
    return statements


def _plans(engine: KizunaEngine, statements: Statements) -> list[str]:
    """SQLite's plan for each query of the documents the statements made."""
    connection = engine._connection
    assert connection is not None
    plans = []
    for sql in statements:
        if sql.lstrip().startswith("SELECT") and "FROM documents" in sql:
            rows = connection.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            plans.append(" | ".join(str(row[3]) for row in rows))
    return plans


@pytest.mark.parametrize("query", [
    {"_id": "k-7"},
    {"_id": {"$in": ["k-7", "k-9"]}},
    {"code": "C7", "status": "ACTIVE", "points": {"$gte": 0}},
    {"member_id": "m7", "status": "ACTIVE"},
    {"member_id": {"$in": ["m7", "m8"]}, "status": "ACTIVE"},
    # The redemption's shape: paths through arrays send mongoeco down its Python path.
    {"_id": "k-7", "status": "ACTIVE", "channels": "STORE", "voided.key": {"$ne": "x"}},
])
def test_a_conditional_update_reads_through_an_index(tmp_path: Path, query: dict[str, Any]) -> None:
    engine = KizunaEngine(str(tmp_path / "k.db"))
    client = MongoClient(engine=engine)
    things = client.kizuna.things
    things.create_index([("code", 1)], name="code")
    things.create_index([("member_id", 1), ("_id", -1)], name="member")
    things.insert_many([{"_id": f"k-{n}", "code": f"C{n}", "member_id": f"m{n % 10}",
                         "status": "ACTIVE", "points": n, "channels": ["ONLINE", "STORE"],
                         "voided": []} for n in range(200)])
    statements = _traced(engine)

    updated = things.find_one_and_update(query, {"$inc": {"points": 1}})

    assert updated is not None
    plans = _plans(engine, statements)
    assert plans, statements
    # The query of the documents goes through the primary key or an expression index;
    # a plan on (db_name, coll_name) alone would read every document of the collection.
    assert any("storage_key=?" in plan or "<expr>=?" in plan for plan in plans), plans
    client.close()


def test_the_touch_log_stays_out_of_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    client = MongoClient(engine=KizunaEngine(str(path)))
    client.kizuna.things.insert_one({"_id": "a"})
    client.close()
    with sqlite3.connect(path) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema")}
    assert not any(name.startswith("kizuna") for name in names), names


def test_an_aggregation_larger_than_the_memory_budget_spills_instead_of_failing(
    tmp_path: Path,
) -> None:
    # The budget is 50,000 documents by default; a small one shows the same refusal.
    engine = KizunaEngine(str(tmp_path / "k.db"), aggregation_materialization_limit=100)
    client = MongoClient(engine=engine)
    entries = client.kizuna.ledger
    entries.insert_many([{"_id": f"e{n}", "member_id": f"m{n % 7}", "points": n}
                         for n in range(300)])

    totals = {d["_id"]: d["total"] for d in entries.aggregate(
        [{"$group": {"_id": "$member_id", "total": {"$sum": "$points"}}}], allowDiskUse=True)}

    assert totals == {f"m{m}": sum(n for n in range(300) if n % 7 == m) for m in range(7)}
    client.close()
