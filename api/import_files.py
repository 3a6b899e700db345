"""Reading an import file (`kizuna import`) one row at a time: CSV or JSON lines, UTF-8.

A row is read, checked and forgotten: memory does not grow with the file. Each row comes
with the line it starts on (the header is line 1 of a CSV file) and either its fields, as
strings, or the problem that makes it unreadable: bytes that are not UTF-8 (the row alone
is rejected, BAD_ENCODING), a CSV row with more fields than the header, a JSON line that is
not an object of plain values, a field the kind does not know or a required one missing.
Problems of the whole file (a header that is not UTF-8, unknown or missing columns, an
empty file) raise BadFile before any row is read, so nothing is written.
"""

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from store import KizunaError

FORMATS = ("csv", "jsonl")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_UNDECODABLE = range(0xDC80, 0xDD00)
"""Where `surrogateescape` puts each byte that is not UTF-8."""


class BadFile(KizunaError):
    """The file as a whole cannot be imported."""

    code = "BAD_FILE"


class BadEncoding(KizunaError):
    code = "BAD_ENCODING"


class BadRow(KizunaError):
    code = "BAD_ROW"


class UnknownField(KizunaError):
    code = "UNKNOWN_FIELD"


class MissingField(KizunaError):
    code = "MISSING_FIELD"


@dataclass(frozen=True, slots=True)
class Columns:
    """The columns of a kind of file."""

    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def known(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    fields: dict[str, str]
    problem: KizunaError | None = None


def file_format(path: Path, given: str | None) -> str:
    """`given`, or the format its extension says; raises BadFile."""
    if given is not None:
        return given
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise BadFile(f"Cannot tell the format of {path.name} from its extension: name it "
                      ".csv or .jsonl, or give --format.")
    return found


def file_digest(path: Path) -> str:
    """The SHA-256 of the file's bytes, read a block at a time: what the import's journal
    knows the file by."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class RowReader:
    """The rows of an open file, with how much of it was read (for a progress bar)."""

    def __init__(self, stream: IO[str], fmt: str, columns: Columns) -> None:
        self._stream, self._columns = stream, columns
        self.chars_read = 0
        self._header: list[str] = []
        self._rows: Iterator[RawRow]
        if fmt == "csv":
            self._reader = csv.reader(self._lines())
            self._header = self._read_header()
            self._rows = self._csv()
        else:
            self._rows = self._jsonl()

    def __iter__(self) -> Iterator[RawRow]:
        return self._rows

    def _lines(self) -> Iterator[str]:
        for line in self._stream:
            self.chars_read += len(line)
            yield line

    def _read_header(self) -> list[str]:
        try:
            header = [name.strip().lower() for name in next(self._reader)]
        except StopIteration:
            raise BadFile("The file is empty: it needs a header row.") from None
        if _undecodable(*header):
            raise BadFile("The header row is not UTF-8: save the file as UTF-8.")
        unknown = [name for name in header if name not in self._columns.known]
        missing = [name for name in self._columns.required if name not in header]
        if unknown or missing:
            raise BadFile(_columns_problem(unknown, missing, self._columns))
        if len(set(header)) != len(header):
            raise BadFile("A column appears twice in the header row.")
        return header

    def _csv(self) -> Iterator[RawRow]:
        reader = self._reader
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield RawRow(line, {}, BadRow(f"Not a CSV row: {error}."))
                continue
            if not any(value.strip() for value in values):
                continue  # a blank line
            yield self._csv_row(line, values)

    def _csv_row(self, line: int, values: list[str]) -> RawRow:
        if len(values) > len(self._header):
            return RawRow(line, {}, BadRow(f"The row has {len(values)} fields; the header "
                                           f"has {len(self._header)}."))
        fields = dict(zip(self._header, values, strict=False))
        return RawRow(line, fields, _checked(fields, self._columns))

    def _jsonl(self) -> Iterator[RawRow]:
        for line, text in enumerate(self._lines(), start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError as error:
                yield RawRow(line, {}, BadRow(f"Not a JSON line: {error}."))
                continue
            if not isinstance(value, dict):
                yield RawRow(line, {}, BadRow("Each line must be a JSON object."))
                continue
            yield _json_row(line, value, self._columns)


def _json_row(line: int, value: dict[str, object], columns: Columns) -> RawRow:
    fields: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, bool):
            fields[name] = "true" if item else "false"
        elif item is None:
            fields[name] = ""
        elif isinstance(item, str | int | float):
            fields[name] = str(item)
        else:
            return RawRow(line, {}, BadRow(f"{name} must be a string, a number or a "
                                           "boolean.", field=(name,)))
    unknown = [name for name in fields if name not in columns.known]
    if unknown:
        return RawRow(line, fields, UnknownField(
            f"Unknown field {unknown[0]!r}: the fields are {', '.join(columns.known)}.",
            field=(unknown[0],)))
    missing = [name for name in columns.required if name not in fields]
    if missing:
        return RawRow(line, fields, MissingField(f"The row has no {missing[0]}.",
                                                 field=(missing[0],)))
    return RawRow(line, fields, _checked(fields, columns))


def _checked(fields: dict[str, str], columns: Columns) -> KizunaError | None:
    for name, value in fields.items():
        if _undecodable(value):
            return BadEncoding(f"{name} holds bytes that are not UTF-8: save the file as "
                               "UTF-8.", field=(name,))
    return None


def _undecodable(*values: str) -> bool:
    return any(ord(char) in _UNDECODABLE for value in values for char in value)


def _columns_problem(unknown: list[str], missing: list[str], columns: Columns) -> str:
    parts = []
    if missing:
        parts.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        parts.append(f"unknown column(s): {', '.join(unknown)}")
    return (f"The header row has {'; '.join(parts)}. Required: {', '.join(columns.required)}; "
            f"optional: {', '.join(columns.optional)}.")


def open_text(path: Path) -> IO[str]:
    """The file as UTF-8 text (a byte-order mark skipped); bytes that are not UTF-8 are kept
    as stand-ins that the reader reports, rather than failing the whole file."""
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
