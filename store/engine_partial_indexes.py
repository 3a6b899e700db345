"""Engine override 10: each MongoDB index's SQLite index on `documents` covers only the
documents of its own collection.

mongoeco keeps every collection's documents in one table, `documents` (db_name, coll_name,
storage_key, document), and builds each MongoDB index as a SQLite expression index over
that whole table: `(db_name, coll_name, <type and value of each field>)`. So every document
of every collection gets an entry in all of them: with Kizuna's 50 ordered indexes each
inserted document computed about 150 `json_extract`s and wrote 50 index entries, 45 of them
for indexes of other collections, and at 62k members those entries were 5.8 GB of the file.

Why a partial index answers exactly as the whole-table one did: its entries are those of the
documents it can match, because every query mongoeco builds on `documents` names its
namespace (`db_name = ? AND coll_name = ?`), and SQLite uses a partial index only where it
can prove that the query's WHERE implies the index's: it does so with the bound values
(re-preparing a statement whose namespace parameter changes), and otherwise does not use the
index. An index is a way to find rows, never a filter, so the rows a query returns are the
same either way. The one statement that could not be planned without the whole-table index
is a hint (`documents INDEXED BY idx_…`), which SQLite must plan before the values are bound;
hints are dropped (`unhinted`): a hint chooses a plan, not which documents match, and
SQLite's planner picks one of the collection's own indexes anyway. (What a plan does decide
is the order of results a query does not sort; MongoDB promises none, and Kizuna sorts
every query whose order it uses.)

An index is made partial right after mongoeco creates it (built twice, on the collection it
covers; Kizuna creates its indexes at start-up), and a database with whole-table indexes
adopts partial ones when the engine opens it (`adopt_partial_indexes`).
"""

import re
import sqlite3

_HINT = re.compile(r'\bdocuments INDEXED BY "(?:[^"]|"")+"')


def unhinted(sql: str) -> str:
    """`sql` without a forced choice of a `documents` index."""
    if "documents INDEXED BY" not in sql:
        return sql
    return _HINT.sub("documents", sql)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def make_partial(
    connection: sqlite3.Connection, *, db_name: str, coll_name: str
) -> list[str]:
    """Rebuild the whole-table SQLite indexes of the collection `db_name.coll_name`'s
    MongoDB indexes as indexes of its own documents; returns the names rebuilt."""
    return _rebuild(connection, connection.execute(
        "SELECT physical_name, db_name, coll_name FROM indexes "
        "WHERE db_name = ? AND coll_name = ? AND physical_name IS NOT NULL",
        (db_name, coll_name),
    ).fetchall())


def adopt_partial_indexes(connection: sqlite3.Connection) -> list[str]:
    """`make_partial` for every collection (a database opened for the first time since this
    override); returns the names rebuilt. Runs inside the caller's transaction."""
    return _rebuild(connection, connection.execute(
        "SELECT physical_name, db_name, coll_name FROM indexes WHERE physical_name IS NOT NULL"
    ).fetchall())


def _rebuild(connection: sqlite3.Connection, rows: list[tuple[str, str, str]]) -> list[str]:
    rebuilt = []
    for physical_name, db_name, coll_name in rows:
        found = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (physical_name,)
        ).fetchone()
        if found is None or found[0] is None or " WHERE " in found[0]:
            continue
        where = f" WHERE db_name = {_literal(db_name)} AND coll_name = {_literal(coll_name)}"
        connection.execute(f'DROP INDEX "{physical_name}"')
        connection.execute(found[0] + where)
        rebuilt.append(str(physical_name))
    return rebuilt
