"""Servers under test: ours (Kizuna) and the bare strawberry app, each started by uvicorn in
its own subprocess with the same options, or an already running server given by URL."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.graphql import BenchError
from bench.options import BenchOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Identical for both apps so only the app differs: one worker, no access log, quiet.
UVICORN_OPTIONS = ("--workers", "1", "--no-access-log", "--log-level", "warning")
# Our server logs as KIZUNA_LOG_LEVEL says (api.asgi sets its logging up over uvicorn's):
# its access log, one line per request, is part of what is measured. `--no-telemetry`:
TELEMETRY_OFF = ("KIZUNA_REQUEST_TELEMETRY", "false")


@dataclass(frozen=True, slots=True)
class Target:
    """A server to load. `pid` is set when the bench started it (for CPU figures).

    `settings` are the KIZUNA_* variables the server runs with: for a server the bench
    started, exactly its own; for one given by URL, those of the bench's environment,
    which must then match the server's (they locate its database, see bench.database).
    """

    name: str
    base_url: str
    pid: int | None = None
    has_metrics: bool = True
    started_by_bench: bool = False
    settings: Mapping[str, str] = field(default_factory=dict)
    log: Path | None = None
    """Where a server the bench started writes its output (gone when it stops)."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def check_loopback(url: str) -> str:
    """`url` without a trailing slash; raises BenchError unless it points at this machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not (
        host in LOOPBACK_HOSTS or host.startswith("127.")
    ):
        raise BenchError(f"--url must be an http(s) loopback address, not {url!r}")
    return url.rstrip("/")


def kizuna_env(data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of our server: the caller's, minus any KIZUNA_* (a developer's shell
    must not change what is measured), on a fresh embedded database in `data_dir`."""
    env = without_kizuna_settings()
    env.update({"KIZUNA_ENV": "development", "KIZUNA_DATA_DIR": str(data_dir)})
    env.update(extra)
    return env


def without_kizuna_settings() -> dict[str, str]:
    """This process's environment minus every KIZUNA_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KIZUNA_")}


def kizuna_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The KIZUNA_* variables of `env`."""
    return {k: v for k, v in env.items() if k.startswith("KIZUNA_")}


@contextlib.asynccontextmanager
async def uvicorn_server(
    name: str,
    app: str,
    *,
    env: Mapping[str, str],
    ready_path: str,
    log: Path,
    has_metrics: bool,
) -> AsyncIterator[Target]:
    """Run `uvicorn <app>` on a free loopback port until the block ends, then stop it.
    The target's `settings` are the KIZUNA_* variables of `env`."""
    port = free_port()
    with log.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *UVICORN_OPTIONS,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    target = Target(
        name=name,
        base_url=f"http://127.0.0.1:{port}",
        pid=process.pid,
        has_metrics=has_metrics,
        started_by_bench=True,
        settings=kizuna_settings(env),
        log=log,
    )
    try:
        await _wait_ready(process, target.base_url + ready_path, log)
        yield target
    finally:
        await _stop(process)


async def _wait_ready(process: asyncio.subprocess.Process, url: str, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while loop.time() < deadline:
            if process.returncode is not None:
                tail = await asyncio.to_thread(_tail, log)
                raise BenchError(f"the server exited with code {process.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise BenchError(f"the server was not ready within {STARTUP_TIMEOUT_SECONDS:.0f} s")


def _tail(log: Path, size: int = 3000) -> str:
    return log.read_text(errors="replace")[-size:]


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (uvicorn shuts down gracefully, our lifespan stops the embedded DB), then
    SIGKILL if it lingers."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def kizuna_server(
    options: BenchOptions,
    *,
    extra_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Target]:
    """Our server: the one at `options.url` if given, else a fresh one (own data dir,
    embedded DB) started with `uvicorn api.asgi:app` and `extra_env` added to its
    environment."""
    if options.url is not None:
        yield Target(
            name="ours",
            base_url=check_loopback(options.url),
            pid=options.server_pid,
            settings=kizuna_settings(os.environ),
        )
        return
    with tempfile.TemporaryDirectory(prefix="kizuna-bench-") as tmp:
        root = Path(tmp)
        extra = dict(extra_env or {})
        if not options.telemetry:
            extra[TELEMETRY_OFF[0]] = TELEMETRY_OFF[1]
        env = kizuna_env(root / "data", extra)
        async with uvicorn_server(
            "ours",
            "api.asgi:app",
            env=env,
            ready_path="/healthz",
            log=root / "server.log",
            has_metrics=True,
        ) as target:
            yield target


@contextlib.asynccontextmanager
async def bare_server() -> AsyncIterator[Target]:
    """The bare strawberry app of the same schema shape (bench.bare_app), always started
    by the bench; it has no /metrics."""
    env = without_kizuna_settings()
    with tempfile.TemporaryDirectory(prefix="kizuna-bench-bare-") as tmp:
        async with uvicorn_server(
            "bare",
            "bench.bare_app:app",
            env=env,
            ready_path="/graphql?query=%7B__typename%7D",
            log=Path(tmp) / "server.log",
            has_metrics=False,
        ) as target:
            yield target
