"""Engine override 9: one SQLite index over all scalar index entries, one over all multikey
entries, instead of one per MongoDB index.

mongoeco keeps the entries of every single-field index in one table, `scalar_index_entries`
(collection_id, index_name, type_score, element_key, storage_key), and those of multikey
indexes in `multikey_entries`, but gives each MongoDB index its own SQLite index over the
*whole* table, always on the same five columns. Every entry therefore lands in every one of
those SQLite indexes: with Kizuna's 27 single-field indexes an inserted document wrote each
of its entries 28 times, and at 100k members the copies were 10 GB of an 18 GB file, far
more than the page cache keeps, so the cost of a write grew with the database.

Why one index answers exactly as many identical ones did: every lookup mongoeco makes on
these tables names its collection and index first (`collection_id = ? AND index_name = ?`,
the index's leading columns), and `INDEXED BY` only needs an index with those columns,
whichever name it has. So all MongoDB indexes point at one shared SQLite index, created
once and never dropped while the tables exist: dropping a MongoDB index (or a collection, or
a database) still deletes that index's entries, which is what keeps lookups exact.

An existing database adopts it when the engine opens it (`adopt_shared_indexes`): the
catalogue is pointed at the shared names and the per-index copies are dropped.
"""

import sqlite3

SCALAR_INDEX = "scidx_kizuna_shared"
MULTIKEY_INDEX = "mkidx_kizuna_shared"
_COLUMNS = "(collection_id, index_name, type_score, element_key, storage_key)"
_CREATE = {
    SCALAR_INDEX: f'CREATE INDEX IF NOT EXISTS "{SCALAR_INDEX}" ON scalar_index_entries {_COLUMNS}',
    MULTIKEY_INDEX: f'CREATE INDEX IF NOT EXISTS "{MULTIKEY_INDEX}" ON multikey_entries {_COLUMNS}',
}
# mongoeco's statements that would create a shared index a second time or drop it for one
# MongoDB index (its index admin quotes the name exactly so).
_REWRITES = {
    **{f'CREATE INDEX "{name}" ': create for name, create in _CREATE.items()},
    **{f'DROP INDEX IF EXISTS "{name}"': "SELECT 1" for name in _CREATE},
}
_PREFIXES = tuple(_REWRITES)


def shared_statement(sql: str) -> str:
    """`sql`, unless it would create a shared index that exists already (it is created only
    if missing) or drop it (it stays: the MongoDB indexes of other collections use it)."""
    if sql.startswith(_PREFIXES):
        for prefix, replacement in _REWRITES.items():
            if sql.startswith(prefix):
                return replacement
    return sql


def adopt_shared_indexes(connection: sqlite3.Connection) -> list[str]:
    """Create the shared indexes if missing, point every MongoDB index at them and drop the
    per-index copies a database made before this override had; returns the dropped names.
    Runs inside the caller's transaction (the engine's connect)."""
    for create in _CREATE.values():
        connection.execute(create)
    connection.execute(
        "UPDATE indexes SET scalar_physical_name = ? "
        "WHERE scalar_physical_name IS NOT NULL AND scalar_physical_name != ?",
        (SCALAR_INDEX, SCALAR_INDEX),
    )
    connection.execute(
        "UPDATE indexes SET multikey_physical_name = ? "
        "WHERE multikey_physical_name IS NOT NULL AND multikey_physical_name != ?",
        (MULTIKEY_INDEX, MULTIKEY_INDEX),
    )
    copies = [
        str(name) for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND (name GLOB 'scidx_*' OR name GLOB 'mkidx_*') AND name NOT IN (?, ?)",
            (SCALAR_INDEX, MULTIKEY_INDEX),
        ).fetchall()
    ]
    for name in copies:
        connection.execute(f'DROP INDEX "{name}"')
    return copies
