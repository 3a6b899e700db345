"""Conformance of the embedded engine's overrides (store/engine.py): the same operations on
mongoeco's own SQLiteEngine and on KizunaEngine give the same answers and the same errors,
and the overridden paths use an index instead of scanning the collection.

These drive the engines in-process (mongoeco's synchronous client): what is under test is
the engine itself, below the wire server the rest of the suite talks to.
"""

import copy
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Decimal128, Int64, ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mongoeco import MongoClient
from mongoeco.core.codec import DocumentCodec
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.errors import BulkWriteError, DuplicateKeyError

from store.engine import KizunaEngine, to_internal

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
    # What a string range must leave out whatever BSON order says: null, numbers, objects.
    {"_id": "h", "code": 5, "status": "ACTIVE", "member_id": None},
    {"_id": "i", "code": {"a": "C2"}, "status": "ACTIVE", "member_id": 7},
    {"_id": "j", "status": "USED", "member_id": {"m": "m2"}},
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
    # Ranges between two strings on an indexed field (kizuna verify's batches).
    {"member_id": {"$gt": "m1", "$lte": "m3"}}, {"member_id": {"$gte": "", "$lte": "m2"}},
    {"member_id": {"$gt": "m2"}}, {"member_id": {"$lte": "m2"}},
    {"code": {"$gt": "C1", "$lt": "Ç"}, "status": "ACTIVE"}, {"code": {"$gte": "A", "$lt": "{"}},
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


def _answers(things: Collection, session: Any = None) -> list[Any]:
    out: list[Any] = []
    for query in FILTERS:
        out.append(sorted(map(repr, things.find(query, session=session))))
        out.append([d["_id"] for d in things.find(
            query, sort=[("member_id", 1), ("_id", -1)], session=session)])
        out.append(things.count_documents(query, session=session))
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


ROLLED_BACK: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"_id": "a"}, {"$set": {"code": ["C1", "C9"]}}),   # a field turns into an array
    ({"_id": "c"}, {"$set": {"code": "C3"}}),           # the only array at `code` goes
    ({"_id": "b"}, {"$set": {"points": Decimal128("2")}}),
    ({"_id": "d"}, {"$set": {"points": 4}}),            # the only decimal at `points` goes
    ({"_id": "g"}, {"$unset": {"member_id": ""}}),
]


def test_queries_answer_as_mongoeco_does_after_rollbacks(tmp_path: Path) -> None:
    opened = [_open(tmp_path, engine_class) for engine_class in (SQLiteEngine, KizunaEngine)]
    pair = (opened[0][1], opened[1][1])
    plain, kizuna = pair
    client_of = {id(things): client for client, things in opened}
    for shape in SHAPES:
        _both(pair, lambda things, shape=shape: things.insert_one(dict(shape)))
    assert _answers(kizuna) == _answers(plain)

    def aborted(things: Collection, selector: dict[str, Any], update: dict[str, Any]) -> None:
        with client_of[id(things)].start_session() as session:
            session.start_transaction()
            things.update_one(selector, update, session=session)
            things.insert_one({"_id": "tx", "code": "T1", "points": 1}, session=session)
            # Asked inside the transaction, of its uncommitted documents.
            assert len(_answers(things, session)) == 3 * len(FILTERS)
            session.abort_transaction()

    for selector, update in ROLLED_BACK:
        _both(pair, lambda things, s=selector, u=update: aborted(things, s, u))
        assert _answers(kizuna) == _answers(plain), update
    # A question first asked inside a transaction describes its uncommitted documents; after
    # the rollback its answer is not kept.
    def asked_inside(things: Collection) -> list[Any]:
        things.insert_one({"_id": "x1", "extra": ["E", "F"]})
        with client_of[id(things)].start_session() as session:
            session.start_transaction()
            things.update_one({"_id": "x1"}, {"$set": {"extra": "E"}}, session=session)
            assert things.count_documents({"extra": "F"}, session=session) == 0
            session.abort_transaction()
        return [d["_id"] for d in things.find({"extra": "F"})]

    assert [asked_inside(things) for things in pair] == [["x1"], ["x1"]]
    # A write refused by a unique index rolls back too, inside a transaction and alone.
    _both(pair, lambda things: things.update_one({"_id": "a"}, {"$set": {"key": "K"}}))

    def refused(things: Collection) -> None:
        with pytest.raises(DuplicateKeyError):
            things.update_one({"_id": "c"}, {"$set": {"key": "K", "code": ["R"]}})
        with client_of[id(things)].start_session() as session:
            session.start_transaction()
            things.update_one({"_id": "b"}, {"$set": {"code": ["B1"]}}, session=session)
            with pytest.raises(DuplicateKeyError):
                things.insert_one({"_id": "dup", "key": "K"}, session=session)
            session.abort_transaction()

    _both(pair, refused)
    assert _answers(kizuna) == _answers(plain)
    # And the same changes, made for good.
    for selector, update in ROLLED_BACK:
        _both(pair, lambda things, s=selector, u=update: things.update_one(s, u))
        assert _answers(kizuna) == _answers(plain), update
    for client, _ in opened:
        client.close()


def _whole_collection_questions(statements: Statements) -> list[str]:
    """The feature questions asked of a whole collection (those asked of the documents a
    write logged join the touch log)."""
    return [sql for sql in statements
            if sql.lstrip().startswith("SELECT 1") and "FROM documents" in sql
            and "kizuna_touched" not in sql and "json_" in sql]


def test_an_aborted_transaction_asks_no_question_of_a_whole_collection_again(
    tmp_path: Path,
) -> None:
    engine = KizunaEngine(str(tmp_path / "k.db"))
    client = MongoClient(engine=engine)
    things = client.kizuna.things
    things.insert_many([{"_id": f"v{n}", "code": f"C{n}", "status": "ACTIVE",
                         "member_id": f"m{n % 7}"} for n in range(200)])

    def redeem(n: int) -> None:
        assert things.find_one_and_update(
            {"_id": f"v{n}", "code": f"C{n}", "status": "ACTIVE", "member_id": f"m{n % 7}"},
            {"$set": {"status": "REDEEMED"}}) is not None

    redeem(0)  # the questions are asked once, here
    statements = _traced(engine)
    redeem(1)
    assert _whole_collection_questions(statements) == []
    with client.start_session() as session:
        session.start_transaction()
        things.update_one({"_id": "v2"}, {"$set": {"status": "HELD"}}, session=session)
        session.abort_transaction()
    redeem(2)
    assert _whole_collection_questions(statements) == []
    client.close()


def test_a_cleanly_reopened_engine_asks_no_question_of_a_whole_collection_again(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "k.db")
    client = MongoClient(engine=KizunaEngine(path))
    things = client.kizuna.things
    things.insert_many([{"_id": f"v{n}", "code": f"C{n}", "status": "ACTIVE"}
                        for n in range(100)])
    things.insert_one({"_id": "arr", "code": ["A1", "A2"], "status": "ACTIVE"})

    def redeem(things: Collection, code: str) -> str:
        found = things.find_one_and_update({"code": code, "status": "ACTIVE"},
                                           {"$set": {"status": "USED"}})
        return str(found["_id"])

    assert redeem(things, "A2") == "arr"  # the questions are asked
    client.close()

    engine = KizunaEngine(path)
    client = MongoClient(engine=engine)
    things = client.kizuna.things
    things.find_one({"_id": "v0"})  # opens the engine
    statements = _traced(engine)
    assert redeem(things, "C7") == "v7"
    assert _whole_collection_questions(statements) == []
    client.close()


def test_answers_saved_at_close_are_dropped_once_any_engine_writes_a_document(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "k.db")
    client = MongoClient(engine=KizunaEngine(path))
    things = client.kizuna.things
    things.insert_many([{"_id": f"v{n}", "code": f"C{n}"} for n in range(20)])
    assert things.count_documents({"code": "X1"}) == 0  # "no array at code" is known
    client.close()
    # mongoeco itself, on the same file, writes the first array at `code`.
    plain = MongoClient(engine=SQLiteEngine(path))
    plain.kizuna.things.insert_one({"_id": "arr", "code": ["X1", "X2"]})
    plain.close()

    client = MongoClient(engine=KizunaEngine(path))
    assert [d["_id"] for d in client.kizuna.things.find({"code": "X1"})] == ["arr"]
    client.close()


def test_a_crash_after_a_write_leaves_no_saved_answers_to_trust(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    client = MongoClient(engine=KizunaEngine(str(path)))
    client.kizuna.things.insert_many([{"_id": f"v{n}", "code": f"C{n}"} for n in range(5)])
    assert client.kizuna.things.count_documents({"code": "C1"}) == 1
    client.close()

    def stamped() -> bool:
        with sqlite3.connect(path) as connection:
            return connection.execute(
                "SELECT count(*) FROM kizuna_closed_cleanly").fetchone()[0] == 1

    assert stamped()
    client = MongoClient(engine=KizunaEngine(str(path)))
    client.kizuna.things.update_one({"_id": "v1"}, {"$set": {"code": ["C1"]}})
    assert not stamped()  # a crash from here on reopens with every answer asked again
    client.close()


def _opened_counting_rebuilds(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[MongoClient, list[str]]:
    """A Kizuna engine opened on `path`, and the collections whose documents it decoded
    while opening (mongoeco's rebuild of the index entries)."""
    decoded: list[str] = []
    load = KizunaEngine._load_documents

    def counting(engine: KizunaEngine, db_name: str, coll_name: str, *args: Any,
                 **kwargs: Any) -> Any:
        decoded.append(coll_name)
        return load(engine, db_name, coll_name, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(KizunaEngine, "_load_documents", counting)
        client = MongoClient(engine=KizunaEngine(path))
        client.kizuna.list_collection_names()  # opens the engine
    return client, decoded


def test_a_cleanly_closed_file_opens_without_rebuilding_its_index_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "k.db")
    client = MongoClient(engine=KizunaEngine(path))
    things = client.kizuna.things
    things.create_index([("code", 1)], name="code")
    things.insert_many([{"_id": f"v{n}", "code": f"C{n % 5}"} for n in range(40)])
    client.close()

    client, decoded = _opened_counting_rebuilds(path, monkeypatch)
    assert decoded == []
    things = client.kizuna.things
    assert sorted(d["_id"] for d in things.find({"code": "C3"}, hint="code")) == sorted(
        f"v{n}" for n in range(3, 40, 5))
    things.insert_one({"_id": "w", "code": "C3"})
    client.close()
    # Written by mongoeco itself: the entries are rebuilt, and still answer.
    plain = MongoClient(engine=SQLiteEngine(path))
    plain.kizuna.things.insert_one({"_id": "p", "code": "C3"})
    plain.close()
    client, decoded = _opened_counting_rebuilds(path, monkeypatch)
    assert "things" in decoded
    assert client.kizuna.things.count_documents({"code": "C3"}) == 10
    client.close()


def test_a_file_left_by_a_crash_has_its_index_entries_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, crashed = tmp_path / "k.db", tmp_path / "crashed.db"
    client = MongoClient(engine=KizunaEngine(str(path)))
    client.kizuna.things.create_index([("code", 1)], name="code")
    client.kizuna.things.insert_many([{"_id": f"v{n}", "code": f"C{n}"} for n in range(5)])
    client.close()
    client = MongoClient(engine=KizunaEngine(str(path)))
    client.kizuna.things.insert_one({"_id": "late", "code": "C9"})
    # The files as a killed process leaves them: the database and its write-ahead log.
    for suffix in ("", "-wal"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            Path(f"{crashed}{suffix}").write_bytes(source.read_bytes())
    client.close()

    reopened, decoded = _opened_counting_rebuilds(str(crashed), monkeypatch)
    assert "things" in decoded
    assert reopened.kizuna.things.count_documents({"code": "C9"}) == 1
    reopened.close()


def _asked_on_a_reader(engine: KizunaEngine, write: Callable[[], Any], field: str) -> bool:
    """"Does any `shelves` document hold an array at `field`?", asked on a reader whose
    snapshot began before `write` committed."""
    reader = engine._take_reader()
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM documents").fetchone()  # the snapshot begins
        write()
        with engine._bind_connection(reader):
            return bool(engine._field_is_top_level_array_in_collection(
                "kizuna", "shelves", field))
    finally:
        engine._give_back(reader)


def test_a_readers_answer_is_shared_unless_its_collection_changed_after_its_snapshot(
    tmp_path: Path,
) -> None:
    engine = KizunaEngine(str(tmp_path / "k.db"))
    client = MongoClient(engine=engine)
    shelves, noise = client.kizuna.shelves, client.kizuna.noise
    shelves.insert_one({"_id": "plain", "f": "v", "g": "v"})

    # Commits to other collections only: what the reader learnt holds now, for everyone.
    assert not _asked_on_a_reader(engine, lambda: noise.insert_one({"_id": "n1"}), "g")
    assert ("kizuna", "shelves", "top_level_array:g") in engine._book.answers
    # The first array at `f` committed after the reader's snapshot began: its "no array"
    # is its own, and a later read finds the array.
    assert not _asked_on_a_reader(
        engine, lambda: shelves.insert_one({"_id": "arr", "f": ["w"]}), "f")
    assert [d["_id"] for d in shelves.find({"f": "w"})] == ["arr"]
    client.close()


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
    {"member_id": {"$gt": "m6", "$lte": "m7"}, "status": "ACTIVE"},
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
    assert not any(name.startswith("kizuna_touched") for name in names), names
    assert {name for name in names if name.startswith("kizuna")} == {  # override 13's
        "kizuna_saved_features", "kizuna_closed_cleanly",
        "kizuna_closed_cleanly_insert", "kizuna_closed_cleanly_update",
        "kizuna_closed_cleanly_delete", "kizuna_ttl_entries_by_document"}


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


# --- Bulk inserts (overrides 6–8 and the wire `insert` command) ------------------------------

BULK_AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _bulk_collection(client: MongoClient) -> Collection:
    things = client.kizuna.bulk
    things.create_index([("key", 1)], name="key_unique", unique=True)
    things.create_index([("member_id", 1), ("_id", -1)], name="member_history")
    things.create_index([("code", 1)], name="code_unique", unique=True,
                        partial_filter_expression={"code": {"$exists": True}})
    things.create_index([("order_id", 1)], name="order")
    things.create_index([("expires_at", 1)], name="expiry_ttl", expire_after_seconds=3600)
    things.insert_many([_bulk_doc(n) for n in range(5)])
    return things


def _bulk_doc(n: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": f"e{n}", "key": f"k{n}", "member_id": f"m{n % 3}", "points": n * 7,
        "source": {"type": "ORDER", "id": f"o{n}"}, "occurred_at": BULK_AT,
        "expires_at": datetime(2099, 1, 1, tzinfo=UTC), "order_id": f"o{n % 4}",
        "lots": [{"lot_id": f"l{n}", "points": n}], "details": {}, "ratio": n / 4,
        "flag": n % 2 == 0, "note": None,
    }
    if n % 2:
        doc["code"] = f"C{n}"
    doc.update(changes)
    return doc


# Batches inserted after _bulk_collection's e0…e4 (keys k0…k4, codes C1, C3).
BULK_BATCHES: dict[str, list[dict[str, Any]]] = {
    "clean": [_bulk_doc(n) for n in range(10, 40)],
    "duplicate _id in the batch": [_bulk_doc(10), _bulk_doc(11), _bulk_doc(12, _id="e10"),
                                   _bulk_doc(13)],
    "duplicate _id already stored": [_bulk_doc(10), _bulk_doc(11, _id="e2"), _bulk_doc(12)],
    "unique key repeated in the batch": [_bulk_doc(10), _bulk_doc(11, key="k10"),
                                         _bulk_doc(12)],
    "unique key already stored": [_bulk_doc(10), _bulk_doc(11, key="k3"), _bulk_doc(12),
                                  _bulk_doc(13, key="k4")],
    "partial unique index": [_bulk_doc(10, code="C3"), _bulk_doc(12), _bulk_doc(14, code="C14"),
                             _bulk_doc(16, code="C14")],
    "unique key missing twice": [_bulk_doc(10, key=None), _bulk_doc(12)] + [
        {k: v for k, v in _bulk_doc(n).items() if k != "key"} for n in (14, 16)],
    "array in a unique field": [_bulk_doc(10, key=["k20", "k21"]), _bulk_doc(11, key="k21"),
                                _bulk_doc(12)],
    "two arrays in a compound index": [_bulk_doc(10), _bulk_doc(11, member_id=["m1", "m2"]),
                                       _bulk_doc(12, member_id=["m1"], _id="x")],
    "numeric ids": [{"_id": 7, "key": "n7"}, {"_id": 7.0, "key": "n8"}, {"_id": 9, "key": "n9"}],
    "other BSON types": [_bulk_doc(10, ref=Int64(5), price=Decimal128("9.99"), raw=b"x"),
                         _bulk_doc(11, big=2**62), _bulk_doc(12, _id="e1")],
}


def _outcome(action: Callable[[], Any]) -> Any:
    """An insert's result or error, as a client sees it."""
    try:
        result = action()
    except BulkWriteError as error:
        return ("BulkWriteError", repr(error.details))
    except Exception as error:  # noqa: BLE001 - the error is the answer compared
        return (type(error).__name__, str(error), repr(getattr(error, "details", None)))
    return ("ok", repr(getattr(result, "inserted_ids", result)))


def _state(things: Collection) -> list[Any]:
    """Every document, and what the indexes answer."""
    return [
        [repr(d) for d in things.find(sort=[("_id", 1)])],
        [d["_id"] for d in things.find({"key": "k21"})],
        [d["_id"] for d in things.find({"code": "C14"})],
        [d["_id"] for d in things.find({"member_id": "m1"}, sort=[("member_id", 1), ("_id", -1)])],
        [d["_id"] for d in things.find({"order_id": "o2", "member_id": {"$in": ["m0", "m2"]}})],
        things.count_documents({"occurred_at": BULK_AT.replace(microsecond=123000, tzinfo=None)}),
        things.count_documents({}),
    ]


@pytest.fixture
def bulk_pair(tmp_path: Path) -> Iterator[tuple[MongoClient, MongoClient]]:
    clients = (MongoClient(engine=SQLiteEngine(str(tmp_path / "plain.db"))),
               MongoClient(engine=KizunaEngine(str(tmp_path / "kizuna.db"))))
    yield clients
    for client in clients:
        client.close()


def _bulk_insert(client: MongoClient, how: str, documents: list[dict[str, Any]],
                 ordered: bool) -> Any:
    things = client.kizuna.bulk
    if how == "insert_many":
        return _outcome(lambda: things.insert_many(documents, ordered=ordered))
    if how == "insert command":  # what a driver's insert_many sends over the wire
        return _outcome(lambda: client.kizuna.command(
            {"insert": "bulk", "documents": documents, "ordered": ordered}))
    session = client.start_session()
    session.start_transaction()
    outcome = _outcome(lambda: things.insert_many(documents, ordered=ordered, session=session))
    session.commit_transaction()
    return outcome


@pytest.mark.parametrize("batch", list(BULK_BATCHES))
@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("how", ["insert_many", "insert command", "in a transaction"])
def test_a_bulk_insert_answers_and_stores_as_mongoeco_does(
    bulk_pair: tuple[MongoClient, MongoClient], batch: str, ordered: bool, how: str,
) -> None:
    answers = []
    for client in bulk_pair:
        things = _bulk_collection(client)
        outcome = _bulk_insert(client, how, copy.deepcopy(BULK_BATCHES[batch]), ordered)
        answers.append((outcome, _state(things)))
    assert answers[1] == answers[0]


def _rows(path: Path) -> dict[str, list[Any]]:
    """What a batch left in the tables behind the documents (ids that differ per run, the
    operation ids, left out)."""
    with sqlite3.connect(path) as connection:
        return {
            "documents": connection.execute(
                "SELECT storage_key, document FROM documents ORDER BY 1").fetchall(),
            "scalar": connection.execute(
                "SELECT index_name, storage_key, element_type, type_score, element_key "
                "FROM scalar_index_entries ORDER BY 1, 2, 5").fetchall(),
            "multikey": connection.execute(
                "SELECT index_name, storage_key, element_key FROM multikey_entries "
                "ORDER BY 1, 2, 3").fetchall(),
            "ttl": connection.execute(
                "SELECT index_name, storage_key, expires_at_epoch_ms FROM ttl_index_entries "
                "ORDER BY 1, 2").fetchall(),
            "outbox": connection.execute(
                "SELECT sequence, event_index, kind, payload FROM change_outbox "
                "ORDER BY 1").fetchall(),
            "identities": connection.execute(
                "SELECT sequence, event_index, event_kind, effect_hash "
                "FROM change_outbox_identities ORDER BY 1").fetchall(),
        }


def test_a_clean_bulk_insert_is_written_a_table_at_a_time_with_the_same_rows(
    tmp_path: Path,
) -> None:
    paths = (tmp_path / "plain.db", tmp_path / "kizuna.db")
    traced = []
    for path, engine_class in zip(paths, (SQLiteEngine, KizunaEngine), strict=True):
        engine = engine_class(str(path))
        client = MongoClient(engine=engine)
        things = _bulk_collection(client)
        things.watch()  # a change stream consumer: the outbox keeps its rows
        statements = _traced(engine)  # type: ignore[arg-type]
        things.insert_many([_bulk_doc(n) for n in range(100, 300)])
        traced.append(statements)
        client.close()
    assert _rows(paths[1]) == _rows(paths[0])

    def per_document(statements: Statements, prefix: str) -> int:
        return sum(" ".join(sql.split()).startswith(prefix) for sql in statements)

    # mongoeco probes the unique index and compacts the outbox once a document; the batch
    # asks once for all of them.
    probe, compaction = "SELECT storage_key FROM scalar_index_entries", "SELECT MIN(checkpoint)"
    assert per_document(traced[0], probe) >= 200 and per_document(traced[0], compaction) >= 200
    assert per_document(traced[1], probe) == 0 and per_document(traced[1], compaction) == 1


def test_changes_of_a_bulk_insert_reach_a_change_stream(
    bulk_pair: tuple[MongoClient, MongoClient],
) -> None:
    seen = []
    for client in bulk_pair:
        things = _bulk_collection(client)
        stream = things.watch(max_await_time_ms=200)
        things.insert_many([_bulk_doc(n) for n in range(50, 60)])
        client.kizuna.command({"insert": "bulk", "documents": [_bulk_doc(n) for n in (60, 61)]})
        events = [event for event in iter(stream.try_next, None)]
        stream.close()
        seen.append([(e["operationType"], repr(e["fullDocument"])) for e in events])
    assert len(seen[0]) == 12
    assert seen[1] == seen[0]


def _ttl_entries(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT index_name, storage_key, expires_at_epoch_ms FROM ttl_index_entries "
            "ORDER BY 1, 2").fetchall()


def test_writes_keep_ttl_entries_as_mongoeco_does_and_find_them_by_document_key(
    tmp_path: Path,
) -> None:
    engine = KizunaEngine(str(tmp_path / "kizuna.db"))
    pair = (MongoClient(engine=SQLiteEngine(str(tmp_path / "plain.db"))),
            MongoClient(engine=engine))
    later = datetime(2100, 6, 1, tzinfo=UTC)
    for client in pair:
        things = _bulk_collection(client)
        things.update_one({"_id": "e1"}, {"$set": {"expires_at": later}})
        things.update_one({"_id": "e2"}, {"$unset": {"expires_at": ""}})
        things.replace_one({"_id": "e3"}, {"key": "k3", "expires_at": later})
        things.delete_one({"_id": "e4"})
        things.update_one({"_id": "e9"}, {"$set": {"key": "k9", "expires_at": later}},
                          upsert=True)
    assert _ttl_entries(tmp_path / "kizuna.db") == _ttl_entries(tmp_path / "plain.db")
    assert len(_ttl_entries(tmp_path / "kizuna.db")) == 4

    statements = _traced(engine)
    pair[1].kizuna.bulk.update_one({"_id": "e0"}, {"$set": {"points": 1}})
    deletes = [sql for sql in statements if sql.lstrip().startswith("DELETE FROM ttl_index")]
    assert deletes
    for sql in deletes:
        plan = engine._connection.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        assert "kizuna_ttl_entries_by_document" in str(plan), plan
    for client in pair:
        client.close()


def test_the_insert_command_counts_every_document_it_tried(
    bulk_pair: tuple[MongoClient, MongoClient],
) -> None:
    counted = []
    for client in bulk_pair:
        _bulk_collection(client)
        database = client.kizuna
        before = database.command("serverStatus")["opcounters"]["insert"]
        database.command({"insert": "bulk", "documents": [_bulk_doc(n) for n in range(70, 80)]})
        database.command({"insert": "bulk", "ordered": False,
                          "documents": [_bulk_doc(80), _bulk_doc(81, _id="e1"), _bulk_doc(82)]})
        counted.append(database.command("serverStatus")["opcounters"]["insert"] - before)
    assert counted[1] == counted[0] == 13


# Values of every kind a document may hold, plain and not: the fast codec must give the very
# text and values DocumentCodec gives, or leave the value to it (and its errors).
_SCALARS = st.one_of(
    st.text(max_size=5), st.booleans(), st.none(), st.floats(allow_nan=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-3))])),
    st.builds(ObjectId), st.builds(Int64, st.integers(-5, 5)),
    st.sampled_from([Decimal128("1.5"), b"xy", ("t", 1), {"$mongoeco": {"type": "int32",
                                                                         "value": 3}}]),
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=4), st.sampled_from(["$mongoeco", "a.b"])),
                    inner, max_size=4),
), max_leaves=20)


def _attempt(action: Callable[[], Any]) -> Any:
    try:
        return ("ok", action())
    except Exception as error:  # noqa: BLE001 - the error is the answer compared
        return (type(error).__name__, str(error))


def _shape(value: Any) -> Any:
    """A value with the type of every container and scalar in it."""
    if isinstance(value, dict):
        return (type(value), [(key, _shape(item)) for key, item in value.items()])
    if isinstance(value, list):
        return (type(value), [_shape(item) for item in value])
    return (type(value), repr(value))


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.text(max_size=4), _VALUES, max_size=6))
def test_the_codec_encodes_and_decodes_as_mongoeco_does(document: dict[str, Any]) -> None:
    plain, kizuna = SQLiteEngine(":memory:"), KizunaEngine(":memory:")
    text = _attempt(lambda: plain._serialize_document(copy.deepcopy(document)))
    assert _attempt(lambda: kizuna._serialize_document(copy.deepcopy(document))) == text
    internal = _attempt(lambda: _shape(DocumentCodec.to_internal(copy.deepcopy(document))))
    assert _attempt(lambda: _shape(to_internal(copy.deepcopy(document)))) == internal
    if text[0] == "ok":
        for preserve in (True, False):
            assert _shape(kizuna._deserialize_document(
                text[1], preserve_bson_wrappers=preserve)) == _shape(
                plain._deserialize_document(text[1], preserve_bson_wrappers=preserve))
