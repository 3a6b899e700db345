"""The embedded database engine: mongoeco's SQLite engine with the paths Kizuna uses made
flat in the size of a collection, and with reads served beside the writer.

mongoeco is pinned to one exact version (pyproject.toml): every override here replaces or
wraps a private method of that version, so an upgrade must re-run the conformance tests
(tests/test_engine.py) and re-read each override. Each one says why it is safe.
"""

import contextlib
import contextvars
import dataclasses
import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import suppress
from typing import Any

from mongoeco.core.query_plan import AndCondition, EqualsCondition, InCondition, QueryNode
from mongoeco.engines._sqlite_plan_heuristics import sort_requires_python
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.engines.sqlite_planner import SQLiteReadExecutionPlan
from mongoeco.engines.sqlite_query import (
    index_expressions_sql,
    json_path_for_field,
    translate_query_plan,
    type_expression_sql,
)

from store.engine_features import (
    FeatureBook,
    FeatureKey,
    SnapshotFeatures,
    TrackedConnection,
    WriterFeatures,
)

READS_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("reads_only", default=False)
"""Set for a command that only reads and belongs to no transaction: the engine serves it on
a reader connection (override 5), beside the writer and any open transaction."""

_UNKNOWN = object()

# Documents an aggregation stage holds in memory before it spills to a temporary file.
AGGREGATION_SPILL_THRESHOLD = 10_000

# The collection features mongoeco caches (one SQL question over a whole collection each)
# that say "some document has X": their method, and whether the key carries a second
# argument after the field ("comparison_mismatch:<field>:<expected type>").
_EXISTENCE_FEATURES = {
    "top_level_array": ("_field_is_top_level_array_in_collection", False),
    "contains_real_numeric": ("_field_contains_real_numeric_in_collection", False),
    "contains_non_ascii_text": ("_field_contains_non_ascii_text_in_collection", False),
    "traverses_array": ("_field_traverses_array_in_collection", False),
    "traverses_dbref": ("_field_traverses_dbref_in_collection", False),
    "comparison_mismatch": ("_field_has_comparison_type_mismatch_in_collection", True),
    "scalar_or_array_comparison_mismatch": (
        "_field_has_scalar_or_array_element_type_mismatch_in_collection", True,
    ),
    "tagged_type": ("_field_contains_tagged_value_type_in_collection", True),
}
# "Every document's value has one scalar type": a claim about all documents.
_UNIFORM_FEATURE = "uniform_scalar_sort_type"

# The documents written since their collection's features were last brought up to date.
_TOUCH_LOG = (
    "CREATE TEMP TABLE IF NOT EXISTS kizuna_touched (db_name TEXT NOT NULL, coll_name TEXT "
    "NOT NULL, storage_key TEXT NOT NULL, PRIMARY KEY (db_name, coll_name, storage_key)) "
    "WITHOUT ROWID",
    "CREATE TEMP TRIGGER IF NOT EXISTS kizuna_touched_insert AFTER INSERT ON main.documents "
    "BEGIN INSERT OR IGNORE INTO kizuna_touched VALUES "
    "(NEW.db_name, NEW.coll_name, NEW.storage_key); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS kizuna_touched_update AFTER UPDATE ON main.documents "
    "BEGIN INSERT OR IGNORE INTO kizuna_touched VALUES "
    "(NEW.db_name, NEW.coll_name, NEW.storage_key); END",
    # CROSS JOIN makes SQLite loop over the few logged keys and look each document up,
    # rather than scan the collection and look each one up in the log.
    "CREATE TEMP VIEW IF NOT EXISTS kizuna_probe AS SELECT d.* FROM kizuna_touched AS t "
    "CROSS JOIN main.documents AS d ON d.db_name = t.db_name AND d.coll_name = t.coll_name "
    "AND d.storage_key = t.storage_key",
)


class _ProbeConnection:
    """The writer's connection, with a feature's questions asked of the documents written
    since the last refresh instead of the whole collection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        probing = sql.replace("FROM documents", "FROM temp.kizuna_probe")
        if probing == sql:
            raise sqlite3.OperationalError("a feature question that does not read documents")
        return self._connection.execute(probing, parameters)


class KizunaEngine(SQLiteEngine):
    """SQLiteEngine without the whole-collection scans of Kizuna's hot paths."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before super().__init__, which assigns the features cache through the property.
        self._probing = threading.local()
        self._scanning = threading.local()
        self._book = FeatureBook()
        self._readers: list[TrackedConnection] = []
        self._readers_lock = threading.Lock()
        # Without a spill threshold mongoeco refuses any aggregation that holds more than
        # 50,000 documents ("allowDiskUse or spill-to-disk is required"), even with
        # allowDiskUse: `kizuna verify` would fail on a shop of a few thousand members.
        kwargs.setdefault("aggregation_spill_threshold", AGGREGATION_SPILL_THRESHOLD)
        super().__init__(*args, **kwargs)

    # --- Override 1: string ids need no payload scan on insert ------------------------------

    def _validate_document_against_unique_indexes(
        self,
        db_name: str,
        coll_name: str,
        document: dict[str, Any],
        *,
        exclude_storage_key: str | None = None,
        skip_id_check: bool = False,
        scan_payload_id: bool = False,
    ) -> None:
        # Every insert asks for `scan_payload_id`, which decodes every document of the
        # collection to compare `_id`s by BSON equality. That scan is for ids whose BSON
        # equality is wider than their storage key (1, 1.0 and Int64(1) are one id). A
        # string equals only itself and its storage key is its exact repr, so the
        # storage-key lookup the method makes first is already exact. Kizuna's ids are
        # strings.
        if scan_payload_id and type(document.get("_id")) is str:
            scan_payload_id = False
        with self._scanning_for(None):  # a duplicate may be any document (override 4)
            super()._validate_document_against_unique_indexes(
                db_name, coll_name, document, exclude_storage_key=exclude_storage_key,
                skip_id_check=skip_id_check, scan_payload_id=scan_payload_id,
            )

    # --- Override 2: collection features kept up to date instead of recomputed --------------
    #
    # mongoeco's planner asks questions of a whole collection ("does any document hold an
    # array, a decimal, a non-ASCII string at this field?") and caches the answers, but
    # drops every answer for a collection on each write to it, so the next query of that
    # collection scans all of it again: every conditional update cost O(collection). We
    # keep the answers and bring them up to date with just the documents written, which a
    # trigger logs (a per-connection TEMP table: nothing is added to the database file):
    # - "some document has X": a False answer turns True if a written document has X; a
    #   True answer stays True. A stale True (its document since changed or deleted) only
    #   sends a query down mongoeco's general path, which is always right.
    # - "every document has one type T": it turns False if a written document does not.
    # Deletions cannot make a "some document has X = False" or an "every document is T"
    # answer wrong, so they change nothing. A rollback still clears everything (mongoeco
    # calls the global invalidation), as does a reconnect. Which answers a reader may use
    # beside the writer is store/engine_features.py's business.

    @property  # type: ignore[override]
    def _collection_features_cache(self) -> MutableMapping[FeatureKey, Any]:
        probe_cache: dict[FeatureKey, Any] | None = getattr(self._probing, "cache", None)
        if probe_cache is not None:
            return probe_cache
        thread_local = getattr(self, "_thread_local", None)
        bound = getattr(thread_local, "connection", None)
        if isinstance(bound, TrackedConnection) and not bound.is_writer:
            return SnapshotFeatures(self._book, bound)
        return WriterFeatures(self._book)

    @_collection_features_cache.setter
    def _collection_features_cache(self, value: object) -> None:
        self._book.forget()

    def _require_connection(self, context: Any = None) -> Any:
        probe = getattr(self._probing, "connection", None)
        if probe is not None:
            return probe
        return super()._require_connection(context)

    def _connect_sync(self) -> None:
        super()._connect_sync()
        connection = self._connection
        if isinstance(connection, TrackedConnection):
            connection.is_writer = True
            connection.on_end = self._transaction_ended
            for statement in _TOUCH_LOG:
                connection.execute(statement)

    def _invalidate_collection_features_cache(
        self, db_name: str | None = None, coll_name: str | None = None
    ) -> None:
        thread_local = getattr(self, "_thread_local", None)
        connection = (getattr(thread_local, "connection", None)
                      or getattr(self, "_connection", None))
        if db_name is None or coll_name is None or connection is None:
            # Everything is recomputed; logged keys left behind can only make a later
            # refresh more cautious, so the log is not touched outside a write.
            self._book.forget()
            return
        self._book.writing((db_name, coll_name), in_transaction=connection.in_transaction)
        try:
            touched = connection.execute(
                "SELECT 1 FROM temp.kizuna_touched WHERE db_name = ? AND coll_name = ? LIMIT 1",
                (db_name, coll_name),
            ).fetchone()
        except sqlite3.Error:  # no touch log on this connection: mongoeco's way
            self._book.forget((db_name, coll_name))
            return
        if touched is not None:
            self._refresh_features(connection, db_name, coll_name)
            self._forget_touched(connection, db_name, coll_name)

    def _forget_touched(self, connection: sqlite3.Connection, db_name: str, coll_name: str) -> None:
        # Within mongoeco's write the delete joins its transaction; anywhere else it must
        # not leave one open (sqlite3 opens one before a DELETE), or the next BEGIN fails.
        opened = not connection.in_transaction
        try:
            connection.execute(
                "DELETE FROM temp.kizuna_touched WHERE db_name = ? AND coll_name = ?",
                (db_name, coll_name),
            )
            if opened and connection.in_transaction:
                connection.commit()
        except sqlite3.Error:
            self._book.forget((db_name, coll_name))

    def _refresh_features(
        self, connection: sqlite3.Connection, db_name: str, coll_name: str
    ) -> None:
        book = self._book
        for key in set(book.keys_of((db_name, coll_name))):
            shared, own = book.answers.get(key), book.scratch.get(key, _UNKNOWN)
            try:
                if shared is not None:
                    shared = dataclasses.replace(
                        shared, value=self._refreshed(connection, key, shared.value))
                if own is not _UNKNOWN:
                    own = self._refreshed(connection, key, own)
            except sqlite3.Error:
                shared, own = None, _UNKNOWN
            with book.lock:
                if shared is None or shared.value is _UNKNOWN:
                    book.answers.pop(key, None)
                elif key in book.answers:
                    book.answers[key] = shared
                if own is _UNKNOWN:
                    book.scratch.pop(key, None)
                elif key in book.scratch:
                    book.scratch[key] = own

    def _refreshed(self, connection: sqlite3.Connection, key: FeatureKey, answer: Any) -> Any:
        """`answer` brought up to date with the logged documents, or _UNKNOWN."""
        question = self._question(key)
        if question is None:
            return _UNKNOWN  # recomputed whole, as mongoeco does
        if key[2].startswith(_UNIFORM_FEATURE + ":"):
            # "Every document is T" fails if a logged document is not.
            if answer and self._probe(connection, key, question, logged_only=True) != answer:
                return False
            return answer
        # "Some document has X" turns true if a logged document has X.
        if answer is False and self._probe(connection, key, question, logged_only=True):
            return True
        return answer

    def _question(self, key: FeatureKey) -> Callable[[], Any] | None:
        """The mongoeco method that answers `key`, ready to call; None for a kind we do not
        know."""
        db_name, coll_name, name = key
        kind, _, argument = name.partition(":")
        if kind == _UNIFORM_FEATURE:
            return functools.partial(
                self._field_has_uniform_scalar_sort_type_in_collection,
                db_name, coll_name, argument)
        if kind in _EXISTENCE_FEATURES:
            method, two_arguments = _EXISTENCE_FEATURES[kind]
            arguments = argument.rpartition(":")[::2] if two_arguments else (argument,)
            return functools.partial(getattr(self, method), db_name, coll_name, *arguments)
        return None

    def _probe(
        self, connection: sqlite3.Connection, key: FeatureKey, question: Callable[[], Any],
        *, logged_only: bool,
    ) -> Any:
        """The answer `question()` leaves for `key`, asked of the logged documents only or
        of the whole collection, with a scratch cache, so no other thread ever sees a
        partial answer."""
        self._probing.connection = _ProbeConnection(connection) if logged_only else connection
        self._probing.cache = {}
        try:
            returned = question()
            return self._probing.cache.get(key, returned)
        finally:
            self._probing.connection = None
            self._probing.cache = None

    def _transaction_ended(self, committed: bool) -> None:
        """The writer's transaction (or plain write) ended: the book moves on and, after a
        commit, the answers readers asked for are computed once over the committed data."""
        if not committed:
            self._book.rolled_back()
            return
        self._book.committed()
        connection = self._connection
        if connection is None or connection.in_transaction:
            return
        with self._lock:
            for key in self._book.take_wanted():
                question = self._question(key)
                if question is None:
                    continue
                try:
                    answer = self._probe(connection, key, question, logged_only=False)
                except sqlite3.Error:
                    continue
                if answer is not None:
                    self._book.share(key, answer)

    # --- Override 3: filters that say which index to use ------------------------------------
    #
    # mongoeco's SQL for a filter is a WHERE clause over JSON expressions that SQLite cannot
    # match to an index, except for a filter that is one equality on a single-field index.
    # Any other filter — {code, status, …} for a redemption, {_id: {$in: […]}}, {member_id}
    # with a sort — scans the whole collection. We add conditions to the WHERE clause that
    # the filter implies and SQLite can answer from an index: `storage_key = ?` or
    # `storage_key IN (…)` for string `_id`s (the primary key), and for an equality on a
    # field that starts an index, the two expressions mongoeco's own expression indexes are
    # built on (sqlite_query.index_expressions_sql). A condition the filter implies removes
    # only documents the filter rejects: results cannot change, only the work.

    _MAX_IN_IDS = 1000
    _WHERE = re.compile(r"FROM documents\s+WHERE db_name = \? AND coll_name = \?")

    def _compile_read_execution_plan(
        self, db_name: str, coll_name: str, semantics: Any, *,
        select_clause: str = "document", hint: Any = None,
    ) -> SQLiteReadExecutionPlan:
        plan = super()._compile_read_execution_plan(
            db_name, coll_name, semantics, select_clause=select_clause, hint=hint)
        if not plan.use_sql or not plan.sql:
            return plan
        sql, params = self._narrowed(db_name, coll_name, semantics.query_plan, plan.sql,
                                     plan.params)
        return plan if sql is plan.sql else dataclasses.replace(plan, sql=sql, params=params)

    def _sort_requires_python(
        self, db_name: str, coll_name: str, plan: QueryNode, sort: Any
    ) -> bool:
        # The same question mongoeco asks ("does a matching document hold an array or a
        # tagged number at the sort field?"), with the filter narrowed the same way.
        def fetchone(sql: str, params: tuple[object, ...]) -> Any:
            sql, params = self._narrowed(db_name, coll_name, plan, sql, params)
            return self._require_connection().execute(sql, params).fetchone()

        return bool(sort_requires_python(
            db_name=db_name, coll_name=coll_name, plan=plan, sort=sort,
            plan_has_array_traversing_paths=self._plan_has_array_traversing_paths,
            translate_query_plan=translate_query_plan,
            field_traverses_array_in_collection=self._field_traverses_array_in_collection,
            field_contains_tagged_bytes_in_collection=(
                self._field_contains_tagged_bytes_in_collection),
            field_contains_tagged_undefined_in_collection=(
                self._field_contains_tagged_undefined_in_collection),
            fetchone=fetchone, type_expression_sql=type_expression_sql,
            json_path_for_field=json_path_for_field,
        ))

    def _narrowed(
        self, db_name: str, coll_name: str, query: QueryNode, sql: str,
        params: tuple[object, ...],
    ) -> tuple[str, tuple[object, ...]]:
        """`sql` (a query of one collection's documents for `query`) with the implied
        conditions added after its `WHERE db_name = ? AND coll_name = ?`; `sql` itself when
        there are none or its shape is not that."""
        where = self._WHERE.search(sql)
        if where is None or sql.count("?", 0, where.start()) or (
            tuple(params[:2]) != (db_name, coll_name)
        ):
            return sql, params
        conditions, parameters = self._implied_conditions(db_name, coll_name, query)
        if not conditions:
            return sql, params
        added = "".join(f" AND {condition}" for condition in conditions)
        return (sql[:where.end()] + added + sql[where.end():],
                (*params[:2], *parameters, *params[2:]))

    def _implied_conditions(
        self, db_name: str, coll_name: str, query: QueryNode
    ) -> tuple[list[str], list[object]]:
        """Index-friendly conditions every document matching `query` meets."""
        conditions: list[str] = []
        parameters: list[object] = []
        indexed = {index["fields"][0] for index in self._load_indexes(db_name, coll_name)
                   if index.get("fields")}
        for clause in query.clauses if isinstance(query, AndCondition) else (query,):
            if isinstance(clause, EqualsCondition) and type(clause.value) is str:
                if clause.field == "_id":
                    conditions.append("storage_key = ?")
                    parameters.append(self._storage_key(clause.value))
                elif clause.field in indexed and self._plain_scalar_field(
                    db_name, coll_name, clause.field
                ):
                    type_sql, value_sql = index_expressions_sql(clause.field)
                    conditions.append(f"{type_sql} = '' AND {value_sql} = ?")
                    parameters.append(clause.value)
            elif isinstance(clause, InCondition) and (
                0 < len(clause.values) <= self._MAX_IN_IDS
                and all(type(value) is str for value in clause.values)
            ):
                marks = ", ".join("?" for _ in clause.values)
                if clause.field == "_id":
                    conditions.append(f"storage_key IN ({marks})")
                    parameters.extend(self._storage_key(value) for value in clause.values)
                elif clause.field in indexed and self._plain_scalar_field(
                    db_name, coll_name, clause.field
                ):
                    # As for an equality: on a field no document holds as an array, a
                    # string in the list matches only a document whose value is that
                    # very string (the snapshot's {member_id: {$in: [...]}} of lots).
                    type_sql, value_sql = index_expressions_sql(clause.field)
                    conditions.append(f"{type_sql} = '' AND {value_sql} IN ({marks})")
                    parameters.extend(clause.values)
        return conditions, parameters

    def _plain_scalar_field(self, db_name: str, coll_name: str, field: str) -> bool:
        """Whether an equality with a string at `field` can only match a document whose
        value there is that very string: a top-level field (no path through arrays) that
        no document holds as an array. A string stored plainly has an empty tagged type
        and itself as the value expression; BSON values mongoeco stores tagged (Code,
        regex, dates …) never equal a string."""
        return "." not in field and not self._field_is_top_level_array_in_collection(
            db_name, coll_name, field
        )

    # --- Override 4: the Python path reads only the documents the filter can match ----------
    #
    # A filter mongoeco cannot put in SQL (a path through an array, such as the redemption's
    # "channels" and "voided_redemptions.idempotency_key" conditions) is matched in Python
    # against every document of the collection (`_load_documents`). While an update or a
    # find runs, the documents it loads are narrowed by the same implied conditions as
    # override 3; Python still matches each one against the whole filter. Everything else
    # that loads documents in the meantime (the unique-index check, the TTL purge) sees the
    # whole collection.

    @contextlib.contextmanager
    def _scanning_for(self, query: QueryNode | None) -> Iterator[None]:
        previous = getattr(self._scanning, "query", None)
        self._scanning.query = query
        try:
            yield
        finally:
            self._scanning.query = previous

    def _update_with_operation_sync(
        self, db_name: str, coll_name: str, operation: Any, *args: Any, **kwargs: Any
    ) -> Any:
        with self._scanning_for(getattr(operation, "plan", None)):
            return super()._update_with_operation_sync(db_name, coll_name, operation, *args,
                                                       **kwargs)

    def _open_scan_documents_sync(self, reader: Any) -> Any:
        with self._scanning_for(getattr(reader.semantics, "query_plan", None)):
            return super()._open_scan_documents_sync(reader)

    def _purge_expired_documents_sync(
        self, conn: sqlite3.Connection, *args: Any, **kwargs: Any
    ) -> Any:
        if isinstance(conn, TrackedConnection) and not conn.is_writer:
            # A reader cannot delete (override 5). Expired documents wait for the next write
            # to their collection, as MongoDB's TTL monitor leaves them for up to a minute;
            # Kizuna's queries compare expiry times themselves.
            return 0
        with self._scanning_for(None):
            return super()._purge_expired_documents_sync(conn, *args, **kwargs)

    def _load_documents(self, db_name: str, coll_name: str) -> Any:
        query = getattr(self._scanning, "query", None)
        if query is not None:
            conditions, parameters = self._implied_conditions(db_name, coll_name, query)
            if conditions:
                return self._load_narrowed(db_name, coll_name, conditions, parameters)
        return super()._load_documents(db_name, coll_name)

    def _load_narrowed(
        self, db_name: str, coll_name: str, conditions: list[str], parameters: list[object]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """`_load_documents` of only the documents meeting `conditions`."""
        connection = self._require_connection()
        added = "".join(f" AND {condition}" for condition in conditions)
        # The conditions are our own SQL fragments; every value in them is a bound parameter.
        sql = "SELECT storage_key, document FROM documents WHERE db_name = ? AND coll_name = ?"
        cursor = connection.execute(sql + added, (db_name, coll_name, *parameters))
        try:
            for storage_key, document in cursor:
                yield storage_key, self._deserialize_document(document)
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):
                cursor.close()

    # --- Override 5: reads beside the writer --------------------------------------------------
    #
    # mongoeco runs every command on its one connection and, while a transaction is open,
    # refuses every other session's command, so the wire server had to queue a member's home
    # screen behind every open transaction. SQLite in WAL mode lets readers on their own
    # connections see the last committed state while one connection writes. A command the
    # wire server marks READS_ONLY runs each engine job on a reader connection from a pool,
    # inside one read transaction (one snapshot for the job), which mongoeco then uses for
    # everything it reads: a bound connection comes before its own. Readers are opened
    # `query_only`, so a write that reached one would fail loudly instead of contending for
    # the writer's lock. What the planner knows about a collection is shared with care
    # (store/engine_features.py).

    def _create_sqlite_connection(self) -> sqlite3.Connection:
        return self._tracked_connection()

    def _tracked_connection(self) -> TrackedConnection:
        # mongoeco's own (sqlite.py, _create_sqlite_connection), with the tracked class.
        connection = sqlite3.connect(
            self._path, check_same_thread=False, factory=TrackedConnection)
        try:
            if self._path != ":memory:":
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            with suppress(sqlite3.Error):
                connection.close()
            raise
        connection.book = self._book
        return connection

    async def _run_blocking(self, func: Any, /, *args: Any, **kwargs: Any) -> Any:
        if READS_ONLY.get() and self._path != ":memory:":
            return await super()._run_blocking(  # type: ignore[no-untyped-call]
                self._on_reader, func, *args, **kwargs)
        return await super()._run_blocking(func, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _on_reader(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        reader = self._take_reader()
        try:
            reader.execute("BEGIN")
            with self._bind_connection(reader):
                return func(*args, **kwargs)
        finally:
            self._give_back(reader)

    def _take_reader(self) -> TrackedConnection:
        with self._readers_lock:
            if self._readers:
                return self._readers.pop()
        reader = self._tracked_connection()
        reader.execute("PRAGMA query_only = ON")
        return reader

    def _give_back(self, reader: TrackedConnection) -> None:
        try:
            reader.rollback()
        except sqlite3.Error:
            with suppress(sqlite3.Error):
                reader.close()
            return
        with self._readers_lock:
            self._readers.append(reader)

    def _disconnect_sync(self) -> None:
        super()._disconnect_sync()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            with suppress(sqlite3.Error):
                reader.close()
