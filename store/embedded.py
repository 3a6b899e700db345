"""Starting, supervising and stopping the embedded database server as a child process.

The server runs in its own process so the database work uses the machine's second core
instead of competing with the web server for one event loop. If that process dies, it is
started again on the same files and the same port, so the URI PyMongo holds stays valid and
PyMongo reconnects by itself; requests meanwhile fail as the database being unavailable.
"""

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

STARTUP_TIMEOUT_SECONDS = 30.0
"""How long a child may take to lock its data directory and begin opening the database."""
OPENING_NOTICE_SECONDS = 30.0
"""How often the log says a database is still opening: that has no limit, since a large
database, or one whose indexes the engine upgrades once (store/engine_shared_indexes.py),
takes minutes, and the child is alive and working."""
OPENING = "OPENING"
URI_FILE = "embedded.uri"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXIT_IN_USE = 3
EXIT_CANNOT_LISTEN = 4
# Waits between failed restarts: short at first (a port taken for a moment, another process
# briefly holding the data directory), then capped so a lasting fault is retried every few
# seconds without flooding the log.
RESTART_DELAYS = (0.25, 0.5, 1.0, 2.0, 5.0)

_log = logging.getLogger("kizuna.embedded")
type Process = asyncio.subprocess.Process


class EmbeddedServerError(RuntimeError):
    """The embedded database server could not be started."""


class EmbeddedServerInUse(EmbeddedServerError):
    """Another process already serves this data directory."""


class EmbeddedServer:
    """A `store.embedded_server` for a data directory; `uri` is where PyMongo reaches it.

    A child this object started is supervised until `stop()`: when it dies it is started
    again on the same port. A server attached to (started by another process) is neither
    supervised nor stopped here.
    """

    def __init__(self, process: Process | None, uri: str, *, data_dir: Path | None = None,
                 host: str = "127.0.0.1") -> None:
        self._process = process
        self.uri = uri
        self.data_dir = data_dir
        self._host = host
        self.before_restart: Callable[[], Awaitable[None]] | None = None
        """Awaited before each attempt to start a dead child again. Tests hold the restart
        here to see the gap; nothing else sets it."""
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def attached(self) -> bool:
        """Whether another process started this server (and keeps it running)."""
        return self._process is None

    @property
    def pid(self) -> int | None:
        """The child's process id (None when attached)."""
        return None if self._process is None else self._process.pid

    @classmethod
    async def start_or_attach(cls, data_dir: Path) -> "EmbeddedServer":
        """Start a server for `data_dir`, or use the one already running for it."""
        try:
            return await cls.start(data_dir)
        except EmbeddedServerInUse:
            uri_file = data_dir / URI_FILE
            if not uri_file.exists():
                raise EmbeddedServerError(
                    f"the embedded database in {data_dir} is locked by a process that is "
                    "still starting or stopping; try again"
                ) from None
            return cls(None, uri_file.read_text().strip(), data_dir=data_dir)

    @classmethod
    async def start(cls, data_dir: Path, *, host: str = "127.0.0.1") -> "EmbeddedServer":
        """Start a server on a free port, supervised until `stop()`. Raises
        EmbeddedServerInUse when another process serves `data_dir`, EmbeddedServerError
        when it does not start."""
        # Absolute: restarts must find the same files whatever our working directory is then.
        absolute = Path(os.path.abspath(data_dir))  # noqa: ASYNC240 - no I/O but getcwd
        process, uri = await _spawn(absolute, host, port=0)
        server = cls(process, uri, data_dir=absolute, host=host)
        server._supervisor = asyncio.create_task(
            server._supervise(), name="embedded-database-supervisor"
        )
        return server

    async def stop(self) -> None:
        """Stop the server if this object started it (an attached one keeps running). It is
        not started again, whatever state its supervisor was in."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._process is None:
            return
        if self._process.returncode is not None:
            self._forget_uri()  # it died and was not started again
            return
        with contextlib.suppress(ProcessLookupError):
            self._process.terminate()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except TimeoutError:
            await _kill(self._process)

    async def _supervise(self) -> None:
        """Start the child again each time it dies; runs until `stop()` cancels it."""
        while True:
            assert self._process is not None  # noqa: S101 - only supervised when started
            died = self._process
            code = await died.wait()
            _log.error("the embedded database (pid %d) died (%s); restarting it at %s",
                       died.pid, _exit_reason(code), self.uri)
            # Readers of the URI file (CLI, bench) take it as "a server answers here".
            self._forget_uri()
            since = time.monotonic()
            self._process = await self._restart()
            _log.warning("the embedded database is back (pid %d) at %s, %.1f s after it died",
                         self._process.pid, self.uri, time.monotonic() - since)

    async def _restart(self) -> Process:
        """A new child on the same files and port, retried with a capped backoff."""
        assert self.data_dir is not None  # noqa: S101 - only supervised with a data dir
        port = urlsplit(self.uri).port or 0
        attempt = 0
        while True:
            if self.before_restart is not None:
                await self.before_restart()
            try:
                _check_port_free(self._host, port)
                process, _ = await _spawn(self.data_dir, self._host, port=port)
            except (EmbeddedServerError, OSError) as error:
                delay = RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)]
                _log.warning("restarting the embedded database failed (%s); trying again in "
                             "%.2g s", error, delay)
                await asyncio.sleep(delay)
                attempt += 1
                continue
            return process

    def _forget_uri(self) -> None:
        """Remove the URI file a dead child left behind, unless it names another server."""
        if self.data_dir is None:
            return
        uri_file = self.data_dir / URI_FILE
        with contextlib.suppress(OSError):
            if uri_file.read_text().strip() == self.uri:
                uri_file.unlink()


async def _spawn(data_dir: Path, host: str, *, port: int) -> tuple[Process, str]:
    """A child serving `data_dir` on `port` (0: any free one), and its URI once it is ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "store.embedded_server",
        # Absolute: the child runs from the project root, not our working directory.
        "--data-dir", os.path.abspath(data_dir),  # noqa: ASYNC240 - no I/O but getcwd
        "--host", host, "--port", str(port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=_PROJECT_ROOT,
    )
    assert process.stdout is not None  # noqa: S101 - PIPE was requested
    try:
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT_SECONDS)
        if line.decode().strip() == OPENING:
            line = await _opened(process.stdout, data_dir)
    except BaseException as error:
        # Timed out, or cancelled by stop() during a restart: leave no child behind.
        await _kill(process)
        if isinstance(error, TimeoutError):
            raise EmbeddedServerError("the embedded database did not start in time") from None
        raise
    text = line.decode().strip()
    if not text.startswith("READY "):
        code = await process.wait()
        if code == EXIT_IN_USE:
            raise EmbeddedServerInUse(f"{data_dir} is served by another process")
        if code == EXIT_CANNOT_LISTEN:
            raise EmbeddedServerError(f"{host}:{port} is taken by another process")
        raise EmbeddedServerError(f"the embedded database exited with code {code}")
    return process, text.removeprefix("READY ")


async def _opened(stdout: asyncio.StreamReader, data_dir: Path) -> bytes:
    """The child's next line, once it has opened its database, saying meanwhile that it is
    still at it."""
    started = time.monotonic()
    while True:
        try:
            return await asyncio.wait_for(stdout.readline(), OPENING_NOTICE_SECONDS)
        except TimeoutError:
            _log.warning("the embedded database in %s is still opening its files (%.0f s): a "
                         "large database, or a one-time upgrade of its indexes, takes a while",
                         data_dir, time.monotonic() - started)


def _check_port_free(host: str, port: int) -> None:
    """Raise EmbeddedServerError if `port` is taken: found in a moment, where starting a
    child to find it would cost seconds of CPU on every attempt. (The child checks again.)"""
    try:
        # Binding as the server will (reuse_address): the dead child's closing connections
        # do not count, a listener does.
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise EmbeddedServerError(
            f"{host}:{port} is taken by another process ({error.strerror})"
        ) from None


async def _kill(process: Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


def _exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"
