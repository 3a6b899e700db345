"""The embedded database dying under a running server: it is started again on the same
files and port, requests in the gap get a retryable 503 rather than a fault, and nothing
acknowledged is lost. Also: commands beside a running server say they attached to it.

Each test runs its own embedded server in its own data directory; the session's shared
database is never killed.
"""

import asyncio
import contextlib
import dataclasses
import fcntl
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pymongo
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Environment, Settings
from store import Store, connect, embedded
from store.embedded import OPENING, URI_FILE, EmbeddedServer
from store.embedded_server import LOCK_FILE
from tests.ledger_support import POINTS_ADJUST, Shop, open_shop
from tests.support import (
    TEST_CLIENT_ADDRESS,
    GraphQLClient,
    SignedIn,
    manual_clock_ahead_of_wall_clock,
)

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_ONLY = pytest.mark.skipif(
    bool(os.environ.get("KIZUNA_TEST_MONGODB_URI")),
    reason="a real MongoDB has no embedded child to kill",
)
# How long a request in the gap waits for the database, as a client's deadline would. Left
# alone, PyMongo waits for the server up to its selection timeout (5 s) and then fails the
# same way; the gap is held open here, so no request can succeed in it either way.
GAP_DEADLINE_SECONDS = 0.5
UNAVAILABLE = {"message": "The database is restarting or unreachable; try again in a few "
               "seconds.", "extensions": {"code": "DATABASE_UNAVAILABLE"}}


class HeldRestart:
    """An `EmbeddedServer.before_restart` hook that keeps a dead child dead until released,
    so a test sees the gap for as long as it needs."""

    def __init__(self) -> None:
        self.died = asyncio.Event()
        self.released = asyncio.Event()

    async def __call__(self) -> None:
        self.died.set()
        await self.released.wait()


def own_settings(data_dir: Path) -> Settings:
    return Settings(
        env=Environment.TEST, mongodb_uri=None, data_dir=data_dir,
        password_time_cost=1, password_memory_kib=8 * 1024,
        expiry_interval_seconds=0, session_sync_seconds=0,
    )


@pytest.fixture
async def own_app(tmp_path: Path) -> AsyncIterator[Starlette]:
    """An app on its own embedded database, started (and supervised) by its lifespan."""
    application = create_app(own_settings(tmp_path / "data"),
                             clock=manual_clock_ahead_of_wall_clock())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def own_gql(own_app: Starlette) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=own_app, client=(TEST_CLIENT_ADDRESS, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as http:
        yield GraphQLClient(http, own_app.state.kizuna)


async def until_healthy(http: httpx.AsyncClient) -> float:
    """Seconds until /healthz answers 200 (a restart takes a few; fails after 30)."""
    started = time.monotonic()
    while (await http.get("/healthz")).status_code != 200:
        assert time.monotonic() - started < 30, "the database did not come back"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def until_answering(store: Store) -> None:
    """Until the server answers a ping (a restart takes a few seconds; fails after 30)."""
    started = time.monotonic()
    while True:
        try:
            await store.ping()
            return
        except pymongo.errors.ConnectionFailure:
            assert time.monotonic() - started < 30, "the database did not come back"
            await asyncio.sleep(0.05)


def lock_is_held(data_dir: Path) -> bool:
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def assert_unavailable(response: httpx.Response, body: dict[str, Any]) -> None:
    """`body`, where a GraphQL error also carries the request id (as every error does)."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "3"
    assert response.json() == with_request_id(response, body)


def with_request_id(response: httpx.Response, body: dict[str, Any]) -> dict[str, Any]:
    request_id = response.headers["x-request-id"]
    if "errors" not in body:
        return body
    return {**body, "errors": [
        {**error, "extensions": {**error.get("extensions", {}), "requestId": request_id}}
        for error in body["errors"]]}


@EMBEDDED_ONLY
async def test_a_killed_embedded_database_comes_back_with_everything_acknowledged(
    own_app: Starlette, own_gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    gql = own_gql
    shop = await open_shop(gql)
    member = await shop.member("ann@example.com")
    for points in (100, 250, -50):
        assert (await shop.adjust("ann@example.com", points))["errors"] == []
    embedded: EmbeddedServer = own_app.state.embedded_database
    held = HeldRestart()
    embedded.before_restart = held
    killed = embedded.pid
    assert killed is not None

    os.kill(killed, signal.SIGKILL)
    await asyncio.wait_for(held.died.wait(), 10)
    with pymongo.timeout(GAP_DEADLINE_SECONDS):
        in_resolver = await gql.post(
            POINTS_ADJUST, {"input": {"member": {"email": "ann@example.com"}, "points": 5,
                                      "reason": "Goodwill gesture"}},
            token=shop.admin.access_token,
        )
        api_key_lookup = await gql.post("{ __typename }", token=shop.api_key)
        qr_image = await gql.http.get(
            "/vouchers/some-voucher/qr.png",
            headers={"authorization": f"Bearer {member.access_token}"},
        )
    assert_unavailable(in_resolver, {"errors": [UNAVAILABLE]})
    assert_unavailable(api_key_lookup, {"errors": [UNAVAILABLE]})
    assert_unavailable(qr_image, {"error": UNAVAILABLE["message"],
                                  "code": "DATABASE_UNAVAILABLE"})
    assert (await gql.http.get("/metrics")).status_code == 200  # needs no database
    assert not [r for r in caplog.records if r.exc_info], "an outage is not a fault"
    assert [r.levelname for r in caplog.records if "DATABASE_UNAVAILABLE" in r.getMessage()] == [
        "WARNING"] * 3

    held.released.set()
    await until_healthy(gql.http)
    assert embedded.pid not in (None, killed)
    assert embedded.data_dir is not None
    data_dir = embedded.data_dir
    assert (data_dir / URI_FILE).read_text().strip() == embedded.uri
    assert lock_is_held(data_dir)
    assert (await shop.points(member))["balance"] == 300
    assert await shop.violations() == []
    assert (await shop.adjust("ann@example.com", 20))["errors"] == []
    assert (await shop.points(member))["balance"] == 320
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "kizuna.embedded"]
    assert lines[0][0] == "ERROR" and f"(pid {killed}) died (killed by SIGKILL)" in lines[0][1]
    assert [level for level, line in lines if "is back" in line] == ["WARNING"]


@EMBEDDED_ONLY
async def test_a_restart_that_finds_its_port_taken_tries_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = await EmbeddedServer.start(tmp_path / "db")
    store = connect(server.uri, "kizuna")
    port = urlsplit(server.uri).port
    taken: list[socket.socket] = []

    async def take_the_port_once() -> None:
        if not taken:
            taken.append(socket.create_server(("127.0.0.1", port or 0)))
        else:
            taken[0].close()  # free again for the second attempt

    try:
        await store.collection("things").insert_one({"_id": "kept"})
        server.before_restart = take_the_port_once
        killed = server.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        await until_answering(store)
        assert await store.collection("things").find_one({"_id": "kept"}) == {"_id": "kept"}
        assert server.pid != killed
        assert any("is taken" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    finally:
        await store.close()
        await server.stop()
    # Stopped for good: nothing restarted it, and the data directory is free.
    assert not (tmp_path / "db" / URI_FILE).exists()
    assert not lock_is_held(tmp_path / "db")


async def test_a_database_that_takes_long_to_open_is_waited_for_and_said_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # After the child says OPENING (its data directory is locked, the engine opens the
    # file), only its death ends the wait: a large database, or a one-time index upgrade,
    # takes minutes. The log says meanwhile that it is still opening.
    monkeypatch.setattr(embedded, "OPENING_NOTICE_SECONDS", 0.05)
    child = asyncio.StreamReader()

    async def open_slowly() -> None:
        await asyncio.sleep(0.3)
        child.feed_data(b"READY mongodb://127.0.0.1:1/\n")

    opening = asyncio.create_task(open_slowly())
    line = await embedded._opened(child, Path("/data/db"))
    await opening
    assert line == b"READY mongodb://127.0.0.1:1/\n"
    notices = [r.getMessage() for r in caplog.records if "still opening" in r.getMessage()]
    assert len(notices) >= 3 and "/data/db" in notices[0]


async def run(*args: str, env: dict[str, str], stdin: int | None = None) -> (
    tuple[int, str, str]
):
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=env, stdin=stdin,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_command_beside_a_running_server_says_it_uses_that_servers_database(
    tmp_path: Path,
) -> None:
    db_dir = tmp_path / "data" / "db"
    server = await EmbeddedServer.start(db_dir)
    env = {key: value for key, value in os.environ.items() if key != "KIZUNA_MONGODB_URI"}
    try:
        # Both at once: each is mostly a Python process starting.
        (code, out, err), (by_hand, _, by_hand_err) = await asyncio.gather(
            run("-m", "api.cli", "verify", env={**env, "KIZUNA_DATA_DIR": str(tmp_path / "data")}),
            # Run by hand (standard input not a parent's pipe), the server still says why not.
            run("-m", "store.embedded_server", "--data-dir", str(db_dir), env=env,
                stdin=asyncio.subprocess.DEVNULL),
        )
    finally:
        await server.stop()
    assert (code, out) == (0, "ok: no violation\n"), err
    assert err == f"kizuna: using the embedded database already running for {db_dir}\n"
    assert (by_hand, by_hand_err) == (3, f"kizuna: the embedded database in {db_dir} is in use\n")


# Run in the child before the server: while FLAG exists, SQLite refuses the statements that
# start with one of PREFIXES with MESSAGE, whatever engine sits on top of it: every write
# the way it does when the disk is full (SQLITE_FULL), or every read of the documents the
# way it does when their pages are damaged (SQLITE_CORRUPT).
FAULTY_SERVER = """
import pathlib, sqlite3, sys
flag = pathlib.Path(sys.argv.pop(1))
message = sys.argv.pop(1)
prefixes = tuple(sys.argv.pop(1).split(","))
real_connect = sqlite3.connect

def fail(sql):
    if flag.exists() and " ".join(sql.split()).upper().startswith(prefixes):
        raise sqlite3.OperationalError(message)

def connect(*args, factory=sqlite3.Connection, **kwargs):
    class Faulty(factory):
        def execute(self, sql, *rest):
            fail(sql)
            return super().execute(sql, *rest)

        def executemany(self, sql, *rest):
            fail(sql)
            return super().executemany(sql, *rest)

    return real_connect(*args, factory=Faulty, **kwargs)

sqlite3.connect = connect
from store.embedded_server import main
main()
"""
FULL_DISK = ("database or disk is full", "INSERT,UPDATE,DELETE,REPLACE")
CORRUPT_FILE = ("database disk image is malformed", "SELECT DOCUMENT FROM DOCUMENTS")


async def faulty_server(tmp_path: Path, fault: tuple[str, str]) -> AsyncIterator[tuple[str, Path]]:
    """A URI of an embedded server with `fault` while the returned file exists."""
    flag = tmp_path / "fault"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FAULTY_SERVER, str(flag), *fault,
        "--data-dir", str(tmp_path / "db"),
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        opening = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert opening.strip() == OPENING, opening
        ready = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert ready.startswith("READY "), ready
        yield ready.removeprefix("READY ").strip(), flag
    finally:
        process.terminate()
        await process.wait()


@pytest.fixture
async def full_disk_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A URI of an embedded server whose disk is full while the returned file exists."""
    async for server in faulty_server(tmp_path, FULL_DISK):
        yield server


@pytest.fixture
async def damaged_file_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A URI of an embedded server whose documents' pages are damaged while the returned
    file exists."""
    async for server in faulty_server(tmp_path, CORRUPT_FILE):
        yield server



@contextlib.asynccontextmanager
async def shop_on(
    tmp_path: Path, uri: str
) -> AsyncIterator[tuple[GraphQLClient, Shop, SignedIn]]:
    """An app on the database at `uri`, with a shop and Ann holding 100 points."""
    settings = dataclasses.replace(own_settings(tmp_path / "data"), mongodb_uri=uri)
    application = create_app(settings, clock=manual_clock_ahead_of_wall_clock())
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=(TEST_CLIENT_ADDRESS, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as h:
            gql = GraphQLClient(h, application.state.kizuna)
            shop = await open_shop(gql)
            member = await shop.member("ann@example.com")
            assert (await shop.adjust("ann@example.com", 100))["errors"] == []
            yield gql, shop, member

@EMBEDDED_ONLY
async def test_a_full_disk_refuses_writes_clearly_and_loses_nothing(
    tmp_path: Path, full_disk_server: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    uri, flag = full_disk_server
    async with shop_on(tmp_path, uri) as (gql, shop, member):
        flag.touch()
        refused = await gql.post(
            POINTS_ADJUST, {"input": {"member": {"email": "ann@example.com"},
                                      "points": 50, "reason": "Goodwill gesture"}},
            token=shop.admin.access_token,
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "60"
        assert refused.json() == with_request_id(refused, {"errors": [{
            "message": "The database's disk is full, so it cannot store changes; try "
            "again later.", "extensions": {"code": "DATABASE_FULL"}}]})
        assert (await shop.points(member))["balance"] == 100  # reads go on
        assert not [r for r in caplog.records if r.exc_info], "a full disk is no fault"
        assert [r.levelname for r in caplog.records
                if r.getMessage().startswith("DATABASE_FULL")] == ["ERROR"]
        # In the media type the client asked for (docs/http.md).
        modern = await gql.http.post("/graphql", json={"query": POINTS_ADJUST, "variables": {
            "input": {"member": {"email": "ann@example.com"}, "points": 50,
                      "reason": "Goodwill gesture"}}}, headers={
            "authorization": f"Bearer {shop.admin.access_token}",
            "accept": "application/graphql-response+json"})
        assert modern.status_code == 503, modern.text
        assert modern.headers["content-type"] == "application/graphql-response+json"
        assert modern.json()["errors"][0]["extensions"]["code"] == "DATABASE_FULL"

        flag.unlink()
        assert (await shop.adjust("ann@example.com", 50))["errors"] == []
        assert (await shop.points(member))["balance"] == 150
        assert await shop.violations() == []


@EMBEDDED_ONLY
async def test_a_damaged_database_file_is_reported_as_such_never_as_a_fault(
    tmp_path: Path, damaged_file_server: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    uri, flag = damaged_file_server
    async with shop_on(tmp_path, uri) as (gql, shop, member):
        flag.touch()
        refused = await gql.post("{ me { points { balance } history(first: 5) { edges "
                                 "{ node { points } } } } }", token=member.access_token)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "300"
        assert refused.json()["errors"] == with_request_id(refused, {"errors": [{
            "message": "The database's file is damaged; an operator must recover it "
            "before it can answer.", "extensions": {"code": "DATABASE_CORRUPT"}}]})["errors"]
        assert not [r for r in caplog.records if r.exc_info], "damage is no code fault"
        assert [r.levelname for r in caplog.records
                if r.getMessage().startswith("DATABASE_CORRUPT")] == ["CRITICAL"]

        flag.unlink()  # the operator recovered the file
        assert (await shop.points(member))["balance"] == 100
        assert await shop.violations() == []
