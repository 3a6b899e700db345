"""Fixtures: one database server for the session, a fresh database and app per test.

The embedded mongoeco server is started once; set KIZUNA_TEST_MONGODB_URI to run the
whole suite against a real MongoDB (replica set) instead.
"""

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Environment, Settings
from api.state import AppState
from store import Store, connect
from store.embedded import EmbeddedServer
from tests.support import (
    TEST_CLIENT_ADDRESS,
    GraphQLClient,
    ManualClock,
    manual_clock_ahead_of_wall_clock,
)

BASE_URL = "http://kizuna.test"


@pytest.fixture(scope="session")
async def database_uri(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    real = os.environ.get("KIZUNA_TEST_MONGODB_URI")
    if real:
        yield real
        return
    server = await EmbeddedServer.start(tmp_path_factory.mktemp("embedded-db"))
    try:
        yield server.uri
    finally:
        await server.stop()


@pytest.fixture
async def store(database_uri: str) -> AsyncIterator[Store]:
    """A bare `Store` on a fresh database, for tests of the database layer itself."""
    name = f"test_store_{uuid.uuid4().hex[:12]}"
    connected = connect(database_uri, name)
    try:
        yield connected
    finally:
        await connected.client.drop_database(name)
        await connected.close()


@pytest.fixture
def settings(tmp_path: Path, database_uri: str) -> Settings:
    return Settings(
        env=Environment.TEST,
        mongodb_uri=database_uri,
        database=f"test_{uuid.uuid4().hex[:16]}",
        data_dir=tmp_path / "data",
        # Cheapest argon2 the settings accept: tests hash many passwords.
        password_time_cost=1,
        password_memory_kib=8 * 1024,
        # Tests run the expiry job themselves, at the moments they choose.
        expiry_interval_seconds=0,
        # Tests read other instances' sign-outs themselves (`revocations.sync()`): a
        # background read could land inside a test that counts round trips.
        session_sync_seconds=0,
        # Tests register many members at once from one address; the tests of these limits
        # set them back (test_sign_in_limits.py, test_password_capacity.py).
        registrations_per_client=1_000_000,
        password_queue=10_000,
        password_queue_per_client=10_000,
        # Tests flush the scan audit themselves where they check it: batched inserts from a
        # background task beside request writes make the embedded engine (mongoeco 4.11)
        # intermittently report "database is locked", answer reads empty or stall.
        scan_audit_flush_ms=24 * 3600 * 1000,
    )


@pytest.fixture
def clock() -> ManualClock:
    # Ahead of the wall clock: the database deletes TTL-indexed documents by real time.
    return manual_clock_ahead_of_wall_clock()


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application
    store = connect(settings.mongodb_uri or "", settings.database)
    try:
        await store.client.drop_database(settings.database)
    finally:
        await store.close()


@pytest.fixture
def state(app: Starlette) -> AppState:
    kizuna_state: AppState = app.state.kizuna
    return kizuna_state


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(TEST_CLIENT_ADDRESS, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient, state: AppState) -> GraphQLClient:
    return GraphQLClient(http, state)


@pytest.fixture(scope="session")
def database_uri_sync(database_uri: str) -> str:
    """The database URI for synchronous tests that run their own event loop."""
    return database_uri


def _ed25519_pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The app as deployed: production settings with a signing key from settings."""
    production_settings = dataclasses.replace(
        settings, env=Environment.PRODUCTION, jwt_signing_key_pem=_ed25519_pem(),
        database=f"test_{uuid.uuid4().hex[:16]}",
    )
    application = create_app(production_settings)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, client=(TEST_CLIENT_ADDRESS, 40000))
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                yield GraphQLClient(http, application.state.kizuna)
    finally:
        store = connect(production_settings.mongodb_uri or "", production_settings.database)
        try:
            await store.client.drop_database(production_settings.database)
        finally:
            await store.close()
