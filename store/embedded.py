"""Starting and stopping the embedded database server as a child process.

The server runs in its own process so the database work uses the machine's second core
instead of competing with the web server for one event loop.
"""

import asyncio
import contextlib
import os
import sys
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 30.0
URI_FILE = "embedded.uri"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXIT_IN_USE = 3


class EmbeddedServerError(RuntimeError):
    """The embedded database server could not be started."""


class EmbeddedServerInUse(EmbeddedServerError):
    """Another process already serves this data directory."""


class EmbeddedServer:
    """A running `store.embedded_server` child; `uri` is where PyMongo reaches it."""

    def __init__(self, process: asyncio.subprocess.Process | None, uri: str) -> None:
        self._process = process
        self.uri = uri

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
            return cls(None, uri_file.read_text().strip())

    @classmethod
    async def start(cls, data_dir: Path, *, host: str = "127.0.0.1") -> "EmbeddedServer":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "store.embedded_server",
            # Absolute: the child runs from the project root, not our working directory.
            "--data-dir", os.path.abspath(data_dir),  # noqa: ASYNC240 - no I/O but getcwd
            "--host", host,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_PROJECT_ROOT,
        )
        assert process.stdout is not None  # noqa: S101 - PIPE was requested
        try:
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise EmbeddedServerError("the embedded database did not start in time") from None
        text = line.decode().strip()
        if not text.startswith("READY "):
            await process.wait()
            if process.returncode == EXIT_IN_USE:
                raise EmbeddedServerInUse(f"{data_dir} is served by another process")
            raise EmbeddedServerError(
                f"the embedded database exited with code {process.returncode}"
            )
        return cls(process, text.removeprefix("READY "))

    async def stop(self) -> None:
        """Stop the server if this object started it (an attached one keeps running)."""
        if self._process is None:
            return
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
