"""`kizuna export`: the rows of loyalty.insights.exports written as CSV or JSON lines, to a
file that appears under its name only once complete, with a progress line on a terminal.

Formats: CSV is RFC 4180 (a header row, fields quoted when needed, CRLF line ends), UTF-8;
JSON lines hold one object per row with the same field names. Times are ISO 8601 UTC
(`2026-12-05T09:30:00.000Z`), days `2026-12-05`, points integers, booleans `true`/`false`,
and a missing value is an empty CSV field or `null`.
"""

import contextlib
import csv
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from loyalty.insights.exports import Export, Period, Row, open_export
from store import Store

FORMATS = ("csv", "jsonl")
STDOUT = Path("-")


@dataclass(frozen=True, slots=True)
class ExportResult:
    rows: int
    seconds: float
    output: Path
    """The file written, or `-` for standard output."""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self, kind: str) -> str:
        where = "standard output" if self.output == STDOUT else str(self.output)
        return (f"exported {self.rows:,} {kind} rows in {self.seconds:.1f} s "
                f"({self.rate:,.0f} rows/s) to {where}")


def _text(value: Any) -> Any:
    """A value as JSON has it: times and days in ISO 8601, UTC times ending in Z."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _csv_field(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


type RowWriter = Callable[[Row], None]


def row_writer(stream: IO[str], fmt: str, columns: tuple[str, ...]) -> RowWriter:
    """A function writing one row to `stream` in `fmt`; for CSV the header is written now."""
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(columns)
        return lambda row: writer.writerow([_csv_field(value) for value in row])
    if fmt == "jsonl":
        def write_line(row: Row) -> None:
            record = {name: _text(value) for name, value in zip(columns, row, strict=True)}
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        return write_line
    raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[IO[str]]:
    """A UTF-8 text stream for `output` (`-`: standard output). A file is written under a
    temporary name in the same directory and renamed to `output` only when the block ends
    normally; on any error, cancellation or interrupt it is removed and `output` is left
    as it was."""
    if output == STDOUT:
        stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
        try:
            yield stream
        finally:
            stream.flush()
            stream.detach()
        return
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed and renamed below
        "w", encoding="utf-8", newline="", dir=output.parent or Path("."),
        prefix=f".{output.name}.", suffix=".part", delete=False,
    )
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise


class Progress:
    """Rows written and rows per second on one line of `stream`, redrawn at most every
    `every` seconds; does nothing unless `enabled` (the CLI: stderr is a terminal)."""

    def __init__(self, stream: IO[str], *, enabled: bool, label: str,
                 every: float = 0.2) -> None:
        self._stream, self._enabled, self._label, self._every = stream, enabled, label, every
        self._started = time.monotonic()
        self._drawn = 0.0

    def update(self, rows: int, *, fraction: float | None = None) -> None:
        """Redraw with `rows` done and, when known, the `fraction` (0–1) of the work done:
        a bar and the time left."""
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._drawn >= self._every:
            self._drawn = now
            elapsed = max(now - self._started, 1e-9)
            rate = rows / elapsed
            line = f"\r{self._label}: {rows:,} rows, {rate:,.0f} rows/s "
            if fraction is not None:
                done = min(max(fraction, 0.0), 1.0)
                bar = "#" * int(done * 30)
                left = elapsed * (1 - done) / done if done > 0 else 0.0
                line = (f"\r{self._label} [{bar:<30}] {done:4.0%} {rows:,} rows, "
                        f"{rate:,.0f} rows/s, {left:,.0f} s left ")
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        if self._enabled and self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()


async def write_export(export: Export, fmt: str, output: Path, *,
                       progress: Progress | None = None) -> ExportResult:
    """Write every row of `export` to `output` in `fmt` (see atomic_output); returns how
    many rows and how long it took. Raises what reading raises (KizunaError for expected
    failures), after removing the unfinished file."""
    started = time.monotonic()
    rows = 0
    try:
        with atomic_output(output) as stream:
            write = row_writer(stream, fmt, export.columns)
            async for row in export.rows:
                write(row)
                rows += 1
                if progress is not None:
                    progress.update(rows)
    finally:
        if progress is not None:
            progress.close()
    return ExportResult(rows=rows, seconds=time.monotonic() - started, output=output)


async def measure_export(store: Store, kind: str, fmt: str = "csv", *,
                         period: Period | None = None, directory: Path | None = None) -> (
    tuple[int, float]
):
    """Export `kind` of `store` to a temporary file and delete it: (rows, seconds), for
    benchmarks (throughput = rows / seconds)."""
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        result = await write_export(open_export(store, kind, period), fmt,
                                    Path(scratch) / f"{kind}.{fmt}")
    return result.rows, result.seconds
