"""The embedded engine's collection features, shared by the writer and the readers.

mongoeco's planner asks questions of a whole collection ("does any document hold an array at
this field?", "is every value a number?") and caches the answers. With readers on their own
SQLite connections beside the writer, an answer is only of use to a reader whose snapshot it
describes. Two rules keep every answer true for whoever uses it:

- An answer is stamped with the commit generation from which it holds. Later commits keep it
  true: each write brings the answers about its collection up to date with the documents it
  wrote (store/engine.py, override 2) before anyone can see them. A reader whose snapshot
  is older than an answer does not use it.
- An answer is shared only when it describes committed data that no open write has touched:
  a reader stores what it computed only if no commit wrote to that collection since its
  snapshot began and the writer holds no uncommitted change to it; the writer keeps what it
  computes about a collection its open transaction wrote to itself (scratch) until it commits.

Everything else is computed again, which costs time, never a wrong answer.
"""

import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from mongoeco.engines._sqlite_connection import SQLiteConnection

from store.engine_partial_indexes import unhinted
from store.engine_shared_indexes import shared_statement

type FeatureKey = tuple[str, str, str]
type Namespace = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Answer:
    value: Any
    since: int
    """The generation from which it holds, for every state committed since."""


class TrackedConnection(SQLiteConnection):
    """A SQLite connection that notes the commit generation each of its snapshots began at,
    and tells its owner when its transaction ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.book: FeatureBook | None = None
        self.generation_seen = -1
        """The generation read before this connection's current snapshot began: a statement
        outside a transaction (autocommit, or a BEGIN whose snapshot starts with its first
        read) sees every commit up to at least this one."""
        self.scratch: dict[FeatureKey, Any] = {}
        self.is_writer = False
        self.on_end: Callable[[bool], None] | None = None
        """The writer's: told whether its transaction committed (True) or rolled back."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        book = self.book
        if book is not None and not self.in_transaction:
            generation = book.generation
            if generation != self.generation_seen:
                self.generation_seen = generation
                self.scratch = {}
        return super().execute(shared_statement(unhinted(sql)), parameters)

    def commit(self) -> None:
        super().commit()
        if self.on_end is not None:
            self.on_end(True)

    def rollback(self) -> None:
        super().rollback()
        if self.on_end is not None:
            self.on_end(False)


class FeatureBook:
    """The answers, the commit generation and the collections with uncommitted writes."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.answers: dict[FeatureKey, Answer] = {}
        self.scratch: dict[FeatureKey, Any] = {}
        """The writer's answers about collections its open transaction wrote to."""
        self.generation = 0
        self.pending: set[Namespace] = set()
        self._before: dict[Namespace, dict[FeatureKey, Answer]] = {}
        """The answers about each pending namespace as they stood before its first
        uncommitted write: what a rollback puts back."""
        self._written: dict[Namespace, int] = {}
        """The generation of the last commit that wrote to each namespace (or forgot it)."""
        self._forgotten = 0
        """The generation at which every answer was last forgotten."""
        self.wanted: set[FeatureKey] = set()
        """Answers readers computed but could not share (the writer was busy with their
        collection): the writer computes them after its next commit, for everyone."""
        self._last = threading.local()

    # --- the writer's side ----------------------------------------------------------------

    def writing(self, namespace: Namespace, *, in_transaction: bool) -> None:
        """A write to `namespace` ran; called before its answers are brought up to date, so
        no reader can store one in between."""
        with self.lock:
            if in_transaction:
                if namespace not in self.pending:
                    self._before[namespace] = {
                        key: answer for key, answer in self.answers.items()
                        if key[:2] == namespace}
                self.pending.add(namespace)
            else:
                self.generation += 1
                self._written[namespace] = self.generation

    def committed(self) -> None:
        with self.lock:
            self.generation += 1
            for namespace in self.pending:
                self._written[namespace] = self.generation
            # The writer's own answers describe what it just committed.
            for key, value in self.scratch.items():
                self.answers.setdefault(key, Answer(value, self.generation))
            self.scratch = {}
            self.pending.clear()
            self._before = {}

    def rolled_back(self) -> None:
        """The writer's transaction (or plain write) rolled back: the data is as it was
        before, and so are the answers. While a namespace is pending no answer about it is
        added (the writer's go to scratch, readers' to `wanted`); its answers only changed
        as its writes brought them up to date, so putting back the ones from before its
        first write makes them exact again."""
        with self.lock:
            self.generation += 1
            if self._before:
                restored = {key: answer for key, answer in self.answers.items()
                            if key[:2] not in self._before}
                for before in self._before.values():
                    restored.update(before)
                self.answers = restored
            self.scratch = {}
            self.pending.clear()
            self._before = {}

    def forget(self, namespace: Namespace | None = None) -> None:
        """Drop every answer (about `namespace`), to be computed again."""
        with self.lock:
            self.generation += 1
            if namespace is None:
                self.answers = {}
                self.scratch = {}
                self._before = {}
                self._forgotten = self.generation
                return
            self._before.pop(namespace, None)
            self._written[namespace] = self.generation
            self.answers = {k: a for k, a in self.answers.items() if k[:2] != namespace}
            self.scratch = {k: v for k, v in self.scratch.items() if k[:2] != namespace}

    def take_wanted(self) -> list[FeatureKey]:
        with self.lock:
            wanted = [key for key in self.wanted if key not in self.answers]
            self.wanted.clear()
            return wanted

    def share(self, key: FeatureKey, value: Any) -> None:
        """An answer the writer computed over the latest committed data, outside a
        transaction."""
        with self.lock:
            self.answers.setdefault(key, Answer(value, self.generation))

    def unchanged_since(self, namespace: Namespace, generation: int) -> bool:
        """Whether no commit wrote to `namespace` (nor was it forgotten) after `generation`:
        a snapshot that began there sees it as it is now."""
        return max(self._forgotten, self._written.get(namespace, 0)) <= generation

    def keys_of(self, namespace: Namespace) -> list[FeatureKey]:
        return [key for key in [*self.answers, *self.scratch] if key[:2] == namespace]

    # --- lookups through a view ----------------------------------------------------------

    def remember(self, key: FeatureKey, value: Any) -> None:
        """What a membership test found, for the lookup that follows it on this thread
        (another thread may change the answers in between)."""
        self._last.found = (key, value)

    def recalled(self, key: FeatureKey) -> Any:
        found = getattr(self._last, "found", None)
        if found is None or found[0] != key:
            raise KeyError(key)
        return found[1]


class _FeatureView(MutableMapping[FeatureKey, Any]):
    """The answers as one connection may use them (mongoeco reads and writes its features
    cache as a dict): membership and storing are the subclasses' rules."""

    def __init__(self, book: FeatureBook) -> None:
        self._book = book

    def __getitem__(self, key: FeatureKey) -> Any:
        if key in self:
            return self._book.recalled(key)
        raise KeyError(key)

    def __delitem__(self, key: FeatureKey) -> None:
        self._book.forget(key[:2])

    def __iter__(self) -> Iterator[FeatureKey]:
        return iter(list(self._book.answers))

    def __len__(self) -> int:
        return len(self._book.answers)


class WriterFeatures(_FeatureView):
    """The answers as the writer's connection sees them: its own uncommitted writes
    included (each write updated the answers about its collection)."""

    def __contains__(self, key: object) -> bool:
        book = self._book
        answer = book.answers.get(key)  # type: ignore[call-overload]
        if answer is not None:
            book.remember(key, answer.value)  # type: ignore[arg-type]
            return True
        if key in book.scratch:
            book.remember(key, book.scratch[key])
            return True
        return False

    def __setitem__(self, key: FeatureKey, value: Any) -> None:
        book = self._book
        with book.lock:
            if key[:2] in book.pending:
                book.scratch[key] = value
            else:
                book.answers[key] = Answer(value, book.generation)


class SnapshotFeatures(_FeatureView):
    """The answers as a reader's connection sees them: those that hold for its snapshot,
    and its own findings, shared when they describe the latest committed data."""

    def __init__(self, book: FeatureBook, connection: TrackedConnection) -> None:
        super().__init__(book)
        self._connection = connection

    def __contains__(self, key: object) -> bool:
        book, connection = self._book, self._connection
        if key in connection.scratch:
            book.remember(key, connection.scratch[key])
            return True
        answer = book.answers.get(key)  # type: ignore[call-overload]
        if answer is not None and answer.since <= connection.generation_seen:
            book.remember(key, answer.value)  # type: ignore[arg-type]
            return True
        return False

    def __setitem__(self, key: FeatureKey, value: Any) -> None:
        book, connection = self._book, self._connection
        seen = connection.generation_seen
        with book.lock:
            if book.unchanged_since(key[:2], seen) and key[:2] not in book.pending:
                book.answers[key] = Answer(value, seen)
                return
            book.wanted.add(key)
        connection.scratch[key] = value
