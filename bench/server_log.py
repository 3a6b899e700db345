"""What a server the bench started wrote to its log about faults, read before it stops (the
log goes with its temporary directory): the lines that say what went wrong, for a report.

The server logs through api.logs (console lines `<time> [<level>] <message>`, tracebacks in
full) once the app is imported, and with uvicorn's own `ERROR:` / `WARNING:` lines before;
an outage of the database is one line with its code (`DATABASE_UNAVAILABLE:
OperationFailure: …`, schema.error_reporting).
"""

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from bench.graphql import BenchError
from bench.servers import Target

# Python's and uvicorn's defaults (`ERROR: …`), an outage's line (`DATABASE_…: …`) and our
# console lines (`2026-…Z [warning  ] …`, api.logs).
_LOGGED = re.compile(r"^(ERROR|WARNING|CRITICAL):|^[A-Z][A-Z_]{3,}: [\w.]+"
                     r"|^\S+ \[(warning|error|critical) *\]")
_STAMP = re.compile(r"^\S+ (?=\[)")
_TRACEBACK = "Traceback (most recent call last)"
SHOWN = 5
WIDTH = 160


def faults(text: str) -> Counter[str]:
    """Each traceback's exception line, and the log lines that report a fault, counted."""
    found: Counter[str] = Counter()
    in_traceback = False
    for line in text.splitlines():
        if line.startswith(_TRACEBACK):
            in_traceback = True
        elif in_traceback:
            if line.strip() and not line[0].isspace():
                found[line.strip()[:WIDTH]] += 1  # the exception: the traceback's last line
                in_traceback = False
        elif _LOGGED.match(line):
            # Without its time stamp, so that the same fault's lines count together.
            found[_STAMP.sub("", line.strip())[:WIDTH]] += 1
    return found


async def fault_lines(target: Target) -> list[str]:
    """Lines for the notes, the most frequent first; none for a server the bench did not
    start."""
    if target.log is None:
        return []
    found = faults(await asyncio.to_thread(_read, target.log))
    if not found:
        return ["server log: no error, warning or traceback"]
    return [f"server log: {sum(found.values())} error, warning or exception line(s); the most "
            "frequent:", *(f"  {count}× {line}" for line, count in found.most_common(SHOWN))]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


@contextlib.asynccontextmanager
async def faults_on_failure(target: Target) -> AsyncIterator[None]:
    """A BenchError raised in the block (a set-up request the server failed) carries the
    server log's fault lines, read while the log is still there."""
    try:
        yield
    except BenchError as error:
        raise BenchError("\n".join([str(error), *await fault_lines(target)])) from error
