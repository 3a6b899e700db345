"""Starting and stopping the embedded database server as a child process.

The server runs in its own process so the database work uses the machine's second core
instead of competing with the web server for one event loop.
"""

import asyncio
import contextlib
import sys
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 30.0


class EmbeddedServerError(RuntimeError):
    """The embedded database server could not be started."""


class EmbeddedServer:
    """A running `store.embedded_server` child; `uri` is where PyMongo reaches it."""

    def __init__(self, process: asyncio.subprocess.Process, uri: str) -> None:
        self._process = process
        self.uri = uri

    @classmethod
    async def start(cls, data_dir: Path, *, host: str = "127.0.0.1") -> "EmbeddedServer":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "store.embedded_server",
            "--data-dir", str(data_dir), "--host", host,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
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
            raise EmbeddedServerError(
                f"the embedded database exited with code {process.returncode}"
            )
        return cls(process, text.removeprefix("READY "))

    async def stop(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
