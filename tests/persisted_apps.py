"""An app of its own for a test that needs other persisted-operation settings."""

import contextlib
from collections.abc import AsyncIterator, Sequence

import httpx

from api.app import create_app
from api.settings import Settings
from api.state import AppState
from store import connect
from store.clock import Clock
from tests.support import TEST_CLIENT_ADDRESS


@contextlib.asynccontextmanager
async def started_app(
    settings: Settings, clock: Clock,
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    """The app for `settings`, started, with an HTTP client; its database dropped after."""
    async with started_app_for(settings, clock, (TEST_CLIENT_ADDRESS,)) as ([http], state):
        yield http, state


@contextlib.asynccontextmanager
async def started_app_for(
    settings: Settings, clock: Clock, addresses: Sequence[str],
) -> AsyncIterator[tuple[list[httpx.AsyncClient], AppState]]:
    """The app for `settings`, started, with an HTTP client from each of `addresses`."""
    application = create_app(settings, clock=clock)
    try:
        async with application.router.lifespan_context(application), \
                contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application, client=(address, 40000)),
                base_url="http://kizuna.test")) for address in addresses]
            yield clients, application.state.kizuna
    finally:
        store = connect(settings.mongodb_uri or "", settings.database)
        try:
            await store.client.drop_database(settings.database)
        finally:
            await store.close()
