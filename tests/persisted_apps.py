"""An app of its own for a test that needs other persisted-operation settings."""

import contextlib
from collections.abc import AsyncIterator

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
    application = create_app(settings, clock=clock)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, client=(TEST_CLIENT_ADDRESS, 40000))
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://kizuna.test") as http:
                yield http, application.state.kizuna
    finally:
        store = connect(settings.mongodb_uri or "", settings.database)
        try:
            await store.client.drop_database(settings.database)
        finally:
            await store.close()
