"""A WebSocket connection in the access log and the metrics (a live server: subscriptions
need a real WebSocket)."""

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from gql import Client
from gql import gql as parse
from gql.transport.websockets import WebsocketsTransport

from api.app import create_app
from api.logs import LogFormat, log_handler
from api.settings import Settings
from store import connect
from tests.browser_support import live_server
from tests.ledger_support import POINTS_ADJUST
from tests.support import GraphQLClient, ManualClock

MEMBER_EVENTS = "subscription Watch { memberEvents { id type points { points } } }"


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = log_handler(LogFormat.JSON, stream)
    logger = logging.getLogger("kizuna.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


@pytest.fixture
async def served(settings: Settings, clock: ManualClock) -> AsyncIterator[GraphQLClient]:
    app = create_app(settings, clock=clock)
    try:
        async with live_server(app) as server, httpx.AsyncClient(
            base_url=server.url, timeout=30
        ) as http:
            yield GraphQLClient(http, app.state.kizuna)
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        try:
            await database.client.drop_database(settings.database)
        finally:
            await database.close()


async def gauges(gql: GraphQLClient) -> dict[str, float]:
    text = (await gql.http.get("/metrics")).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("kizuna_subscriptions_open ", "kizuna_websocket_connections_open ",
                            "kizuna_events_delivered_total ")):
            name, value = line.split()
            found[name] = float(value)
    return found


async def test_a_websocket_connection_is_logged_at_open_and_close_with_one_id(
    served: GraphQLClient, access_log: io.StringIO
) -> None:
    gql = served
    admin = await gql.admin()
    member = await gql.member()
    url = str(gql.http.base_url).replace("http://", "ws://") + "/graphql"
    transport = WebsocketsTransport(
        url=url, init_payload={"authorization": f"Bearer {member.access_token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        headers={"x-request-id": "socket-7"})
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with Client(transport=transport) as session:
        async def read() -> None:
            async for result in session.subscribe(parse(MEMBER_EVENTS)):
                await received.put(result)

        task = asyncio.create_task(read())
        await asyncio.sleep(0.3)  # registered with the feed
        while_open = await gauges(gql)
        adjusted = await gql.data(POINTS_ADJUST, {"input": {
            "member": {"email": "ann@example.com"}, "points": 5, "reason": "Welcome"}},
            token=admin.access_token)
        assert adjusted["pointsAdjust"]["errors"] == []
        async with asyncio.timeout(5):
            event = (await received.get())["memberEvents"]
        assert event["points"]["points"] == 5
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    async with asyncio.timeout(5):
        while "websocket close" not in access_log.getvalue():  # noqa: ASYNC110 - a log
            await asyncio.sleep(0.05)
    after = await gauges(gql)

    assert while_open["kizuna_subscriptions_open"] == 1
    assert while_open["kizuna_websocket_connections_open"] == 1
    assert after["kizuna_subscriptions_open"] == 0
    assert after["kizuna_websocket_connections_open"] == 0
    assert after["kizuna_events_delivered_total"] >= 1
    lines = [json.loads(line) for line in access_log.getvalue().splitlines()]
    socket = [line for line in lines if line["message"].startswith("websocket")]
    assert [line["message"] for line in socket] == ["websocket open", "websocket close"]
    assert {line["request_id"] for line in socket} == {"socket-7"}
    closed = socket[1]
    assert closed["path"] == "/graphql" and closed["principal"] == "member"
    assert closed["operations"] == 1 and closed["code"] is not None
    assert member.access_token not in access_log.getvalue()
