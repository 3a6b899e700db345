"""The start-up banner of `kizuna serve`: where GraphiQL, the scanner page and the health
check are, and on an empty programme, how to load the demo."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette

from api.demo.emptiness import has_members
from api.settings import Settings
from store import Store

log = logging.getLogger("uvicorn.error")  # beside uvicorn's own "running on" line

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - names only
_LISTEN_TIMEOUT_SECONDS = 15.0


def base_url(host: str, port: int) -> str:
    """The address to open in a browser on this machine (a wildcard host means localhost)."""
    reachable = _WILDCARDS.get(host, host)
    return f"http://[{reachable}]:{port}" if ":" in reachable else f"http://{reachable}:{port}"


def banner_lines(settings: Settings, *, empty: bool) -> list[str]:
    url = base_url(settings.host, settings.port)
    lines = ["Kizuna is ready:"]
    if settings.production:
        lines.append(f"  GraphQL   {url}/graphql")
    else:
        lines.append(f"  GraphiQL  {url}/graphql")
    lines += [f"  Scanner   {url}/scanner", f"  Health    {url}/healthz"]
    if empty and not settings.production:
        lines.append("  The programme has no members yet: `kizuna demo` loads stores, rewards "
                     "and members with a year of history to try (docs/demo.md).")
    return lines


async def _listening(host: str, port: int) -> bool:
    """Whether the port accepts connections within the time-out (the server binds it
    just after the lifespan has started)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _LISTEN_TIMEOUT_SECONDS
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection(_WILDCARDS.get(host, host), port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def _announce(settings: Settings, store: Store) -> None:
    if not await _listening(settings.host, settings.port):
        return
    try:
        empty = not await has_members(store)
    except Exception:  # a database down at start-up: the banner says what it can
        empty = False
    for line in banner_lines(settings, empty=empty):
        log.info("%s", line)


def with_banner(app: Starlette, settings: Settings) -> Starlette:
    """`app` whose lifespan also prints the banner once the server listens (for `kizuna
    serve`, whose address is in the settings; apps built by tests print nothing)."""
    started: Callable[[Starlette], contextlib.AbstractAsyncContextManager[Any]] = (
        app.router.lifespan_context)

    @contextlib.asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[Any]:
        async with started(application) as state:
            task = asyncio.create_task(
                _announce(settings, application.state.kizuna.services.store),
                name="start-up-banner")
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
    return app
