"""`kizuna import members|balances FILE`: a file read row by row, its rows checked and
written a batch at a time, each batch one transaction with the import's journal
(docs/import.md).

- Streaming: a row is read, checked and kept only until its batch is written. What must
  be remembered across the whole file (external ids and emails seen, to reject a second
  row with the same one) goes to a scratch SQLite file, not memory.
- Idempotent: a row already applied (by this file or an earlier run) is found by its
  external id and left as it is (`unchanged`); nothing is applied twice.
- Resumable: the journal (collection `imports`, one document per kind and file digest)
  holds the last line of the last committed batch, written in that batch's transaction.
  A run of the same file starts after it; the rows before are still read (to know their
  ids) but not written again.
- Dry run: the same reading and checks, against the database as it is, and nothing written.
"""

import asyncio
import csv
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from api.exports import Progress
from api.import_files import RawRow, RowReader, file_digest, open_text
from api.import_kinds import Balances, Kind, Members, Outcome, Parsed, Result
from loyalty.programme.settings import Programme, load_programme
from store import KizunaError, Session, Store, only_duplicate_keys
from store.clock import Clock

JOURNAL = "imports"
"""{_id: "<kind>:<file sha256>", kind, file (its name), digest, last_line (of the last
committed batch), applied, unchanged (rows, over every run), started_at, updated_at,
finished_at}."""
BATCH_SIZE = 200
MAX_BATCH_SIZE = 250
"""An `$in` of a batch's ids must stay within what the embedded engine serves."""
REPORT_COLUMNS = ("line", "external_id", "code", "field", "message")


class DuplicateExternalId(KizunaError):
    code = "DUPLICATE_EXTERNAL_ID"


class DuplicateEmailInFile(KizunaError):
    code = "DUPLICATE_EMAIL"


class WrittenMeanwhile(KizunaError):
    code = "CONFLICT"


@dataclass(slots=True)
class Summary:
    """What a run did, row by row counted (`skipped`: committed by an earlier run)."""

    kind: str
    dry_run: bool
    rows: int = 0
    applied: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0
    resumed_after: int = 0
    """The last line an earlier run committed (0: a first run)."""
    last_line: int = 0
    """The last line committed (or checked, in a dry run) by this run."""
    seconds: float = 0.0
    rejected_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def text(self, report: Path | None) -> str:
        verb = "would apply" if self.dry_run else "applied"
        lines = [f"{'dry run: ' if self.dry_run else ''}{self.rows:,} {self.kind} rows in "
                 f"{self.seconds:.1f} s ({self.rate:,.0f} rows/s): {verb} {self.applied:,}, "
                 f"unchanged {self.unchanged:,}, rejected {self.rejected:,}"]
        if self.resumed_after:
            lines.append(f"resumed after line {self.resumed_after:,} ({self.skipped:,} rows "
                         "committed by an earlier run, not written again)")
        if self.rejected:
            codes = ", ".join(f"{code} {n:,}" for code, n in sorted(self.rejected_by_code.items()))
            lines.append(f"rejected rows ({codes}) are listed in {report}")
        return "\n".join(lines)


class Seen:
    """Values seen in the file so far (external ids, emails) with the line of each, in a
    scratch SQLite file: constant memory whatever the file's size."""

    def __init__(self, directory: Path) -> None:
        self._db = sqlite3.connect(directory / "seen.sqlite3", isolation_level=None)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
            "CREATE TABLE seen (name TEXT, value TEXT, line INTEGER, "
            "PRIMARY KEY (name, value)) WITHOUT ROWID; BEGIN;")

    def earlier(self, name: str, value: str, line: int) -> int | None:
        """The line `value` of `name` was first seen on; None (and remembered) if new."""
        cursor = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                                  (name, value, line))
        if cursor.rowcount:
            return None
        found = self._db.execute("SELECT line FROM seen WHERE name = ? AND value = ?",
                                 (name, value)).fetchone()
        return int(found[0])

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True, slots=True)
class Journal:
    store: Store
    key: str

    async def resume_after(self) -> int:
        doc = await self.store.collection(JOURNAL).find_one({"_id": self.key})
        return int(doc["last_line"]) if doc else 0

    async def advance(self, session: Session | None, *, kind: str, file: str, digest: str,
                      last_line: int, counts: dict[str, int], now: datetime) -> None:
        await self.store.collection(JOURNAL).update_one(
            {"_id": self.key},
            {"$max": {"last_line": last_line}, "$inc": counts, "$set": {"updated_at": now},
             "$setOnInsert": {"kind": kind, "file": file, "digest": digest,
                              "started_at": now, "finished_at": None}},
            upsert=True, session=session)

    async def finish(self, *, last_line: int, now: datetime) -> None:
        await self.store.collection(JOURNAL).update_one(
            {"_id": self.key}, {"$max": {"last_line": last_line},
                                "$set": {"updated_at": now, "finished_at": now}})


@contextmanager
def report_writer(path: Path) -> Iterator[Callable[[int, str, KizunaError], None]]:
    """A function writing one rejected row to the CSV report at `path` (header first)."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(REPORT_COLUMNS)

        def write(line: int, external_id: str, error: KizunaError) -> None:
            writer.writerow([line, external_id, error.code, ".".join(error.field or ()),
                             error.message])
        yield write


type AfterBatch = Callable[[int], Awaitable[None]]


@dataclass
class Import:
    """One run of an import; `summary` tells how far it got, also when it is interrupted."""

    store: Store
    kind: Kind
    path: Path
    fmt: str
    report: Path
    clock: Clock
    dry_run: bool = False
    batch_size: int = BATCH_SIZE
    progress: Progress | None = None
    after_batch: AfterBatch | None = None
    """Called with the last line of each committed batch (tests inject faults here)."""
    summary: Summary = field(init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch size must be 1 to {MAX_BATCH_SIZE}")
        self.summary = Summary(self.kind.name, self.dry_run)

    async def run(self) -> Summary:
        """Import the file; raises BadFile (before anything is written) for a file that
        cannot be imported, and what the database raises."""
        started = time.monotonic()
        digest = await asyncio.to_thread(file_digest, self.path)
        self._digest = digest
        self._journal = Journal(self.store, f"{self.kind.name}:{digest}")
        size = max(self.path.stat().st_size, 1)
        with open_text(self.path) as stream, tempfile.TemporaryDirectory() as scratch, \
                report_writer(self.report) as reject:
            reader = RowReader(stream, self.fmt, self.kind.columns)
            resume = 0 if self.dry_run else await self._journal.resume_after()
            self.summary.resumed_after = resume
            self._reject = reject
            seen = Seen(Path(scratch))
            try:
                await self._rows(reader, seen, resume, size)
            finally:
                seen.close()
                self.summary.seconds = time.monotonic() - started
                if self.progress is not None:
                    self.progress.close()
        if not self.dry_run:
            await self._journal.finish(last_line=self.summary.last_line, now=self.clock())
        return self.summary

    async def _rows(self, reader: RowReader, seen: Seen, resume: int, size: int) -> None:
        batch: list[Parsed] = []
        for row in reader:
            self.summary.rows += 1
            parsed = self._parse(row, seen, resume)
            if parsed is not None:
                batch.append(parsed)
            if len(batch) >= self.batch_size:
                await self._flush(batch)
                batch = []
            if self.progress is not None:
                self.progress.update(self.summary.rows, fraction=reader.chars_read / size)
        if batch:
            await self._flush(batch)

    def _parse(self, row: RawRow, seen: Seen, resume: int) -> Parsed | None:
        """The row's record if it is to be written; a rejected row is reported (unless an
        earlier run committed past it) and a row before `resume` counted as skipped."""
        committed = row.line <= resume
        try:
            if row.problem is not None:
                raise row.problem
            parsed = self.kind.parse(row, now=self.clock())
            self._check_unique(parsed, seen)
        except KizunaError as error:
            if committed:
                self.summary.skipped += 1
            else:
                self._rejected(row.line, row.fields.get("external_id", "").strip(), error)
                self.summary.last_line = max(self.summary.last_line, row.line)
            return None
        if committed:
            self.summary.skipped += 1
            return None
        return parsed

    def _check_unique(self, parsed: Parsed, seen: Seen) -> None:
        first = seen.earlier("external_id", parsed.external_id, parsed.line)
        if first is not None:
            raise DuplicateExternalId(f"The external id is on line {first} already.",
                                      field=("external_id",))
        if parsed.email is not None:
            first = seen.earlier("email", parsed.email, parsed.line)
            if first is not None:
                raise DuplicateEmailInFile(f"The email is on line {first} already.",
                                           field=("email",))

    def _rejected(self, line: int, external_id: str, error: KizunaError) -> None:
        self.summary.rejected += 1
        codes = self.summary.rejected_by_code
        codes[error.code] = codes.get(error.code, 0) + 1
        self._reject(line, external_id, error)

    async def _flush(self, batch: list[Parsed]) -> None:
        now = self.clock()
        if self.dry_run:
            results = await self.kind.apply(self.store, None, batch, file=self._digest,
                                            now=now, write=False)
        else:
            try:
                results = await self.store.transaction(partial(self._write, batch, now))
            except Exception as error:
                if not only_duplicate_keys(error):
                    raise
                # Someone else wrote one of these members meanwhile: row by row, to tell
                # which.
                results = {}
                for parsed in batch:
                    results |= await self._one(parsed, now)
        for parsed in batch:
            self._count(parsed, results[parsed.line])
        self.summary.last_line = max(self.summary.last_line, batch[-1].line)
        if self.after_batch is not None and not self.dry_run:
            await self.after_batch(batch[-1].line)

    async def _one(self, parsed: Parsed, now: datetime) -> dict[int, Result]:
        try:
            return await self.store.transaction(partial(self._write, [parsed], now))
        except Exception as error:
            if not only_duplicate_keys(error):
                raise
        return {parsed.line: WrittenMeanwhile(
            "Another writer created this member or balance while the import ran; import "
            "the file again to check the row.", field=("external_id",))}

    async def _write(self, batch: list[Parsed], now: datetime, session: Session) -> (
        dict[int, Result]
    ):
        results = await self.kind.apply(self.store, session, batch, file=self._digest,
                                        now=now, write=True)
        counts: dict[str, Any] = {"applied": 0, "unchanged": 0}
        for result in results.values():
            if isinstance(result, Outcome):
                counts[result.value] += 1
        await self._journal.advance(session, kind=self.kind.name, file=self.path.name,
                                    digest=self._digest, last_line=batch[-1].line,
                                    counts=counts, now=now)
        return results

    def _count(self, parsed: Parsed, result: Result) -> None:
        if result is Outcome.APPLIED:
            self.summary.applied += 1
        elif result is Outcome.UNCHANGED:
            self.summary.unchanged += 1
        elif isinstance(result, KizunaError):
            self._rejected(parsed.line, parsed.external_id, result)


def default_report(path: Path) -> Path:
    """Where the rejected rows of `path` go unless told: beside it, `<name>.rejected.csv`."""
    return path.with_name(f"{path.stem}.rejected.csv")



def import_kind(name: str, programme: Programme) -> Kind:
    return Members() if name == "members" else Balances(programme)


async def run_import_command(
    store: Store, *, kind: str, path: Path, fmt: str, report: Path | None, dry_run: bool,
    batch_size: int, progress: Progress | None, clock: Clock, out: IO[str],
) -> int:
    """`kizuna import`: run it and write its summary to `out`. Exit code 0 when every row
    was applied or unchanged, 3 when rows were rejected, 143 when stopped (SIGTERM; what
    was committed stays, a run of the same command resumes). Raises BadFile."""
    report = report or default_report(path)
    run = Import(store, import_kind(kind, await load_programme(store)), path, fmt, report,
                 clock, dry_run=dry_run, batch_size=batch_size, progress=progress)
    try:
        summary = await run.run()
    except asyncio.CancelledError:
        done = run.summary
        print(f"kizuna: import stopped; rows up to line {done.last_line:,} are committed: "
              "run the same command again to resume", file=out)
        return 143
    print(summary.text(report), file=out)
    return 3 if summary.rejected else 0
