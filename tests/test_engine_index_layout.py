"""Conformance of engine overrides 9 and 10, the layout of the SQLite indexes behind
MongoDB's: every index's entries live in one shared SQLite index
(store/engine_shared_indexes.py), and each index on `documents` covers only its own
collection (store/engine_partial_indexes.py). Lookups through each index, sorts and hints
answer as mongoeco does, unique indexes still refuse duplicates, dropping one index or
collection leaves the others working, queries still go through an index, and a database
mongoeco made adopts both when our engine opens it."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mongoeco import MongoClient
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.errors import DuplicateKeyError

from store.engine import KizunaEngine
from store.engine_shared_indexes import MULTIKEY_INDEX, SCALAR_INDEX

type Collection = Any

ORDERS = [{"_id": f"o{n}", "member_id": f"m{n % 3}", "store_id": f"s{n % 2}",
           "code": f"C{n}", "tags": [f"t{n % 2}", "all"]} for n in range(12)]
LOTS = [{"_id": f"l{n}", "member_id": f"m{n % 4}", "order_id": f"o{n}"} for n in range(8)]


def _documents_indexes(path: Path) -> dict[str, str]:
    """Each SQLite index on `documents` (but its primary key) and its definition."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'documents' AND sql IS NOT NULL").fetchall()
    return {name: sql for name, sql in rows}


def _physical_indexes(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND (name GLOB 'scidx_*' OR name GLOB 'mkidx_*') ORDER BY name").fetchall()
    return [name for (name,) in rows]


def _shop(client: MongoClient) -> tuple[Collection, Collection]:
    db = client.kizuna
    orders, lots = db.orders, db.lots
    orders.create_index([("member_id", 1)], name="member")
    orders.create_index([("store_id", 1)], name="store")
    orders.create_index([("code", 1)], name="code_unique", unique=True)
    orders.create_index([("tags", 1), ("member_id", 1)], name="tags_member")
    lots.create_index([("member_id", 1)], name="member")
    lots.create_index([("order_id", 1)], name="order")
    orders.insert_many([dict(d) for d in ORDERS])
    lots.insert_many([dict(d) for d in LOTS])
    return orders, lots


def _answers(orders: Collection, lots: Collection) -> list[Any]:
    queries: list[tuple[Collection, dict[str, Any]]] = [
        (orders, {"member_id": "m1"}), (orders, {"store_id": "s0"}), (orders, {"code": "C7"}),
        (orders, {"tags": "t1", "member_id": "m2"}), (orders, {"member_id": {"$in": ["m0", "m2"]}}),
        (lots, {"member_id": "m1"}), (lots, {"order_id": "o3"}), (lots, {"member_id": "m9"}),
    ]
    out: list[Any] = []
    for collection, query in queries:
        out.append(sorted(d["_id"] for d in collection.find(query)))
        out.append([d["_id"] for d in collection.find(query, sort=[("member_id", 1), ("_id", 1)])])
        out.append([d["_id"] for d in collection.find(query, hint="member", sort=[("_id", 1)])])
    out.append([d["_id"] for d in orders.find({}, sort=[("code", -1)], limit=3)])
    # Sorted: without a sort the order is the plan's, which a hint (dropped) no longer picks.
    out.append([d["_id"] for d in orders.find({"store_id": "s1"}, hint="store", sort=[("_id", 1)])])
    return out


def test_every_index_shares_one_sqlite_index_and_answers_as_mongoeco_does(
    tmp_path: Path,
) -> None:
    answers, layouts = [], []
    for engine_class in (SQLiteEngine, KizunaEngine):
        path = tmp_path / f"{engine_class.__name__}.db"
        client = MongoClient(engine=engine_class(str(path)))
        orders, lots = _shop(client)
        answers.append(_answers(orders, lots))
        client.close()
        layouts.append(_physical_indexes(path))
    assert answers[1] == answers[0]
    assert len(layouts[0]) > 2  # mongoeco: a copy per index
    assert layouts[1] == [MULTIKEY_INDEX, SCALAR_INDEX]


def test_a_unique_index_on_the_shared_index_still_refuses_duplicates(tmp_path: Path) -> None:
    client = MongoClient(engine=KizunaEngine(str(tmp_path / "k.db")))
    orders, _ = _shop(client)
    with pytest.raises(DuplicateKeyError):
        orders.insert_one({"_id": "o99", "code": "C3"})
    with pytest.raises(DuplicateKeyError):
        orders.update_one({"_id": "o1"}, {"$set": {"code": "C2"}})
    assert orders.count_documents({"code": {"$in": ["C2", "C3"]}}) == 2
    client.close()


def test_dropping_an_index_or_a_collection_leaves_the_other_indexes_working(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k.db"
    client = MongoClient(engine=KizunaEngine(str(path)))
    orders, lots = _shop(client)
    orders.drop_index("store")
    lots.drop()
    client.kizuna.drop_collection("nothing_here")
    assert sorted(d["_id"] for d in orders.find({"member_id": "m1"})) == [
        "o1", "o10", "o4", "o7"]
    assert [d["_id"] for d in orders.find({"code": "C5"})] == ["o5"]
    with pytest.raises(DuplicateKeyError):
        orders.insert_one({"_id": "o99", "code": "C5"})
    client.close()
    assert _physical_indexes(path) == [MULTIKEY_INDEX, SCALAR_INDEX]
    # A database dropped whole leaves the engine able to index the next one.
    client = MongoClient(engine=KizunaEngine(str(path)))
    client.drop_database("kizuna")
    orders, lots = _shop(client)
    assert [d["_id"] for d in lots.find({"order_id": "o2"})] == ["l2"]
    client.close()


def _mongoeco_made_shop(path: Path) -> list[Any]:
    """The shop written by plain mongoeco at `path`, and its answers there."""
    client = MongoClient(engine=SQLiteEngine(str(path)))
    before = _answers(*_shop(client))
    client.close()
    return before


def test_a_database_mongoeco_made_adopts_the_shared_index_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    before = _mongoeco_made_shop(path)
    assert len(_physical_indexes(path)) > 2

    client = MongoClient(engine=KizunaEngine(str(path)))
    orders, lots = client.kizuna.orders, client.kizuna.lots
    assert _answers(orders, lots) == before
    with pytest.raises(DuplicateKeyError):
        orders.insert_one({"_id": "o99", "code": "C3"})
    orders.insert_one({"_id": "o100", "member_id": "m1", "code": "C100", "tags": ["t9"]})
    assert [d["_id"] for d in orders.find({"tags": "t9", "member_id": "m1"})] == ["o100"]
    client.close()
    assert _physical_indexes(path) == [MULTIKEY_INDEX, SCALAR_INDEX]


def test_each_documents_index_covers_its_own_collection_only(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    client = MongoClient(engine=KizunaEngine(str(path)))
    _shop(client)
    client.close()
    indexes = _documents_indexes(path)
    assert len(indexes) == 6  # orders: member, store, code_unique, tags_member; lots: 2
    namespaces = sorted(sql.split(" WHERE ", 1)[1] for sql in indexes.values())
    assert namespaces == (["db_name = 'kizuna' AND coll_name = 'lots'"] * 2
                          + ["db_name = 'kizuna' AND coll_name = 'orders'"] * 4)


@pytest.mark.parametrize(("collection", "query"), [
    ("orders", {"member_id": "m1"}), ("orders", {"tags": "t1", "member_id": "m2"}),
    ("lots", {"order_id": "o3"}), ("lots", {"member_id": {"$in": ["m1", "m2"]}}),
])
def test_a_query_still_reads_through_its_collections_index(
    tmp_path: Path, collection: str, query: dict[str, Any]
) -> None:
    path = tmp_path / "k.db"
    engine = KizunaEngine(str(path))
    client = MongoClient(engine=engine)
    _shop(client)
    connection = engine._connection
    assert connection is not None
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    client.kizuna[collection].find_one_and_update(query, {"$set": {"seen": True}})
    connection.set_trace_callback(None)
    plans = [
        " | ".join(str(row[3]) for row in connection.execute("EXPLAIN QUERY PLAN " + sql))
        for sql in statements if sql.lstrip().startswith("SELECT") and "documents" in sql
    ]
    # Through one of the collection's partial indexes, its scalar entries or an id: never
    # a read of every document of the collection (the primary key's namespace prefix).
    names = set(_documents_indexes(path)) | {SCALAR_INDEX, MULTIKEY_INDEX}
    assert plans and all(
        any(name in plan for name in names) or "storage_key=?" in plan for plan in plans
    ), plans
    client.close()


def test_a_database_mongoeco_made_adopts_partial_indexes_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    before = _mongoeco_made_shop(path)
    assert not any(" WHERE " in sql for sql in _documents_indexes(path).values())

    client = MongoClient(engine=KizunaEngine(str(path)))
    assert _answers(client.kizuna.orders, client.kizuna.lots) == before
    client.close()
    indexes = _documents_indexes(path)
    assert len(indexes) == 6 and all(" WHERE db_name = 'kizuna'" in sql
                                     for sql in indexes.values())
