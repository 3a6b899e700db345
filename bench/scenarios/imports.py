"""import: `kizuna import members` then `kizuna import balances` of generated files at each
size (`--sizes`, default 10k and 100k rows), each size into a fresh database on a fresh
embedded server, through the same code as the command (api.services.database,
api.imports.Import), in the bench's process.

Per kind and size it prints rows per second, and the bench process's resident memory at
the start of the import and at its peak during it (sampled every 20 ms): streaming means
the peak does not grow with the file. On a shared machine rows/s measures the other
processes too; the CPU seconds the import and the database used give rows per CPU second,
what the import reaches on an otherwise idle machine (the two take turns, so one run keeps
about one core busy). At the end of each size `kizuna verify` checks the database
(balances = Σ entries = Σ lots, the roll-ups).
"""

import asyncio
import csv
import json
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.imports import Import, Summary, default_report, import_kind
from api.services import database
from api.settings import Settings
from bench.cpu import client_seconds, own_seconds
from bench.options import BenchOptions
from bench.progress import say
from bench.report import Report
from loyalty.programme.ladder import create_tier
from loyalty.programme.settings import load_programme
from loyalty.programme.tier_rules import Tier
from scanner.books import verify
from store import Store
from store.clock import system_clock

DEFAULT_RATE = 1.0
"""Not used: an import runs as fast as it can."""
DEFAULT_SIZES = (10_000, 100_000)
SEED = 41
TIERS = (Tier("silver", "Silver", 1_000), Tier("gold", "Gold", 5_000))


@dataclass(frozen=True, slots=True)
class Measured:
    kind: str
    size: int
    summary: Summary
    rss_start_mb: float
    rss_peak_mb: float
    file_mb: float
    client_cpu: float
    """CPU seconds of the bench process (reading, checking, building the writes)."""
    database_cpu: float
    """CPU seconds of the embedded database server."""

    @property
    def rows_per_cpu_second(self) -> float:
        """Rows per CPU second of both processes: what the import reaches on an otherwise
        idle machine (client and database take turns), whatever else shared the cores."""
        cpu = self.client_cpu + self.database_cpu
        return self.summary.rows / cpu if cpu > 0 else 0.0


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def _peak_rss() -> Iterator[list[float]]:
    """Samples the resident memory every 20 ms while the block runs; yields a list whose
    one item is the peak so far (MB)."""
    peak = [_rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
        peak[0] = max(peak[0], _rss_mb())


def write_files(directory: Path, size: int) -> tuple[Path, Path]:
    """A members CSV and a balances JSON-lines file of `size` rows each (written a row at
    a time): every member has a birthday and consent, a balance; one in ten a tier and one
    in four an expiry date."""
    rng = random.Random(SEED + size)
    members, balances = directory / "members.csv", directory / "balances.jsonl"
    today = datetime.now(UTC).date()
    with members.open("w", newline="") as m_stream, balances.open("w") as b_stream:
        writer = csv.writer(m_stream)
        writer.writerow(["external_id", "email", "name", "birthday", "marketing_consent",
                         "sms_consent", "consent_at"])
        for i in range(size):
            born = today - timedelta(days=rng.randrange(18 * 365, 80 * 365))
            writer.writerow([f"C{i:07d}", f"member{i}@bench.example", f"Member {i} Person",
                             born.isoformat(), rng.choice(("yes", "no")),
                             rng.choice(("yes", "no", "")), "2024-03-01T09:00:00Z"])
            balance: dict[str, object] = {"external_id": f"C{i:07d}",
                                          "points": rng.randrange(0, 20_000)}
            if i % 10 == 0:
                balance["tier"] = rng.choice(("Silver", "Gold"))
            if i % 4 == 0:
                balance["expires_at"] = (today + timedelta(days=rng.randrange(30, 700))
                                         ).isoformat()
            b_stream.write(json.dumps(balance) + "\n")
    return members, balances


async def _import(store: Store, kind: str, path: Path, size: int,
                  database_pid: int | None) -> Measured:
    fmt = "csv" if path.suffix == ".csv" else "jsonl"
    run = Import(store, import_kind(kind, await load_programme(store)), path, fmt,
                 default_report(path), system_clock)
    file_mb = (await asyncio.to_thread(path.stat)).st_size / 1e6
    start = _rss_mb()
    client, server = client_seconds(), own_seconds(database_pid) if database_pid else 0.0
    with _peak_rss() as peak:
        summary = await run.run()
    client = client_seconds() - client
    server = (own_seconds(database_pid) - server) if database_pid else 0.0
    say(f"size {size}: {summary.text(default_report(path)).splitlines()[0]}")
    return Measured(kind, size, summary, start, peak[0], file_mb, client, server)


async def _size(size: int, scratch: Path) -> tuple[list[Measured], list[str]]:
    files = scratch / f"files-{size}"
    files.mkdir()
    say(f"size {size}: writing the files")
    members, balances = await asyncio.to_thread(write_files, files, size)
    settings = Settings(data_dir=scratch / f"data-{size}", database="bench_import")
    async with database(settings) as opened:
        store = opened.store
        for tier in TIERS:
            await create_tier(store, tier=tier, clock=system_clock, audit=None)
        pid = opened.embedded.pid if opened.embedded is not None else None
        measured = [await _import(store, "members", members, size, pid),
                    await _import(store, "balances", balances, size, pid)]
        say(f"size {size}: kizuna verify")
        started = time.monotonic()
        violations = await verify(store)
        verified = (f"verify at {size:,} rows: {len(violations)} violation(s) in "
                    f"{time.monotonic() - started:.1f} s")
    return measured, [verified, *(str(v) for v in violations[:5])]


async def run(options: BenchOptions) -> Report:
    report = Report(title="import")
    report.setup.append("kizuna import members (CSV) then balances (JSON lines) into a fresh "
                        "embedded database per size; batches of 200 rows, one transaction "
                        "each; memory is the bench process's resident set")
    results: list[Measured] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kizuna-bench-import-") as scratch:
        for size in options.sizes:
            measured, verified = await _size(size, Path(scratch))
            results += measured
            notes += verified
    for m in results:
        s = m.summary
        report.notes.append(
            f"{m.kind:<8} {m.size:>7,} rows ({m.file_mb:.1f} MB): {s.rate:,.0f} rows/s "
            f"({s.seconds:.1f} s; applied {s.applied:,}, rejected {s.rejected:,}); CPU "
            f"{m.client_cpu:.1f} s import + {m.database_cpu:.1f} s database = "
            f"{m.rows_per_cpu_second:,.0f} rows per CPU second; RSS {m.rss_start_mb:.0f} MB "
            f"at start, peak {m.rss_peak_mb:.0f} MB (+{m.rss_peak_mb - m.rss_start_mb:.0f} MB)")
    report.notes += notes
    return report
