"""Live updates over graphql-transport-ws, with real clients against a live server: `gql`
with its WebSockets transport for subscriptions, the `websockets` library for the protocol's
closes."""

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from gql import Client
from gql import gql as parse
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from events import EventType
from schema.subscriptions import EventTypeType
from store import connect
from tests.browser_support import live_server
from tests.ledger_support import PER_EURO, Shop, _new_api_key
from tests.scanner_support import ScannerShop
from tests.support import GraphQLClient, ManualClock, SignedIn

MEMBER_EVENTS = """
subscription($after: ID) { memberEvents(after: $after) {
  id type occurredAt points { points balance debt reason }
  voucher { id status title } tier { id name } } }"""

STORE_EVENTS = """
subscription { storeEvents { id type voucher { id status title } staffId orderReference
  orderTotal } }"""

WITHIN = 5.0  # seconds a pushed event may take in a test (the target is far lower)


@dataclasses.dataclass
class Live:
    ws_url: str
    gql: GraphQLClient
    shop: Shop
    till: ScannerShop
    clock: ManualClock


@pytest.fixture
async def live(settings: Settings, clock: ManualClock) -> AsyncIterator[Live]:
    settings = dataclasses.replace(settings, subscription_auth_check_seconds=1,
                                   max_connections_per_account=3)
    app: Starlette = create_app(settings, clock=clock)
    try:
        async with live_server(app) as server, httpx.AsyncClient(
            base_url=server.url, timeout=30
        ) as http:
            gql = GraphQLClient(http, app.state.kizuna)
            admin = await gql.admin()
            shop = Shop(gql=gql, admin=admin, api_key=await _new_api_key(gql, admin))
            await shop.rule(PER_EURO)
            till = ScannerShop(gql=gql, admin=admin)
            await till.store("PARIS-01", "Paris Opéra")
            yield Live(server.url.replace("http://", "ws://") + "/graphql", gql, shop, till,
                       clock)
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        try:
            await database.client.drop_database(settings.database)
        finally:
            await database.close()


def _transport(live: Live, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(url=live.ws_url, init_payload={"authorization": f"Bearer {token}"},
                               subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])


@contextlib.asynccontextmanager
async def _subscribed(
    live: Live, token: str, query: str = MEMBER_EVENTS, after: str | None = None,
) -> AsyncIterator["asyncio.Queue[dict[str, Any]]"]:
    """A running subscription whose messages arrive on the queue."""
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with Client(transport=_transport(live, token)) as session:
        async def read() -> None:
            request = parse(query)
            request.variable_values = {"after": after} if after is not None else {}
            async for result in session.subscribe(request):
                await received.put(result)

        task = asyncio.create_task(read())
        await asyncio.sleep(0.3)  # the subscription is registered with the feed
        try:
            yield received
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _next(received: "asyncio.Queue[dict[str, Any]]") -> dict[str, Any]:
    async with asyncio.timeout(WITHIN):
        message = await received.get()
    event: dict[str, Any] = next(iter(message.values()))
    return event


async def _next_of(received: "asyncio.Queue[dict[str, Any]]", kind: str) -> dict[str, Any]:
    """The next event of type `kind` (the member's other events pass by)."""
    while True:
        event = await _next(received)
        if event["type"] == kind:
            return event


async def test_a_member_sees_points_earned_and_a_till_redemption_as_they_happen(
    live: Live,
) -> None:
    ann = await live.shop.member("ann@example.com")
    cashier = await live.till.staff("cashier@example.com", "PARIS-01")
    async with _subscribed(live, ann.access_token) as received:
        recorded = await live.shop.record(live.shop.order("ann@example.com", 4200))
        assert recorded["errors"] == []
        earned = await _next(received)
        assert earned["type"] == "POINTS_EARNED"
        assert earned["points"] == {"points": 42, "balance": 42, "debt": 0,
                                    "reason": earned["points"]["reason"]}

        voucher = await live.till.issue("ann@example.com")
        issued = await _next_of(received, "VOUCHER_ISSUED")
        redeemed = await live.till.redeem(cashier.access_token, code=voucher["code"])
        assert redeemed["errors"] == []
        used = await _next(received)

    assert issued["voucher"] == {"id": voucher["id"], "status": "ACTIVE", "title": "€5 off"}
    assert used["type"] == "VOUCHER_REDEEMED"
    assert used["voucher"] == {"id": voucher["id"], "status": "REDEEMED", "title": "€5 off"}


async def test_a_member_sees_only_their_own_events(live: Live) -> None:
    ann = await live.shop.member("ann@example.com")
    await live.shop.member("bob@example.com")
    async with _subscribed(live, ann.access_token) as received:
        await live.shop.record(live.shop.order("bob@example.com", 5000))
        await live.shop.record(live.shop.order("ann@example.com", 1000))
        earned, recorded = await _next(received), await _next(received)
        await asyncio.sleep(0.5)
    assert earned["points"]["balance"] == 10
    assert recorded["type"] == "ORDER_RECORDED"
    assert received.empty()


async def test_staff_see_redemptions_and_voids_at_their_store(live: Live) -> None:
    await live.shop.member("ann@example.com")
    cashier = await live.till.staff("cashier@example.com", "PARIS-01")
    await live.till.store("LYON-01", "Lyon")
    elsewhere = await live.till.staff("lyon@example.com", "LYON-01")
    voucher = await live.till.issue("ann@example.com")
    async with _subscribed(live, cashier.access_token, STORE_EVENTS) as here, _subscribed(
        live, elsewhere.access_token, STORE_EVENTS
    ) as there:
        redeemed = await live.till.redeem(cashier.access_token, code=voucher["code"],
                                          order_reference="TILL-1")
        assert redeemed["errors"] == []
        seen = await _next(here)
        await asyncio.sleep(0.5)
    assert seen["type"] == "VOUCHER_REDEEMED"
    assert seen["voucher"]["status"] == "REDEEMED"
    assert seen["orderReference"] == "TILL-1" and seen["orderTotal"] == 4200
    assert there.empty()


async def test_a_resumed_subscription_gets_what_it_missed_without_gaps_or_duplicates(
    live: Live,
) -> None:
    ann = await live.shop.member("ann@example.com")
    async with _subscribed(live, ann.access_token) as received:
        await live.shop.record(live.shop.order("ann@example.com", 1000))
        await _next_of(received, "POINTS_EARNED")
        last_seen = (await _next_of(received, "ORDER_RECORDED"))["id"]
    for total in (2000, 3000):  # while the app is offline
        await live.shop.record(live.shop.order("ann@example.com", total))

    async with _subscribed(live, ann.access_token, after=last_seen) as received:
        missed = [await _next(received) for _ in range(4)]
        await live.shop.record(live.shop.order("ann@example.com", 4000))
        live_ones = [await _next(received) for _ in range(2)]
        await asyncio.sleep(0.5)

    got = [*missed, *live_ones]
    assert [e["type"] for e in got] == ["POINTS_EARNED", "ORDER_RECORDED"] * 3
    assert [e["points"]["balance"] for e in got if e["points"]] == [30, 60, 100]
    assert len({e["id"] for e in got}) == 6
    assert received.empty()


async def _closed_with(url: str, messages: list[dict[str, Any]]) -> int | None:
    """Send `messages` on a fresh graphql-transport-ws connection; the close code."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        for message in messages:
            await ws.send(json.dumps(message))
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(WITHIN):
                while True:
                    await ws.recv()
        return ws.close_code


async def test_a_connection_without_a_valid_token_is_closed_with_4403(live: Live) -> None:
    assert await _closed_with(live.ws_url, [{"type": "connection_init"}]) == 4403
    assert await _closed_with(live.ws_url, [
        {"type": "connection_init", "payload": {"authorization": "Bearer nonsense"}}]) == 4403


async def test_a_malformed_message_closes_with_4400(live: Live) -> None:
    ann = await live.shop.member("ann@example.com")
    assert await _closed_with(live.ws_url, [
        {"type": "connection_init", "payload": {"authorization": f"Bearer {ann.access_token}"}},
        {"type": "subscribe", "id": "1"}]) == 4400


async def test_an_oversized_message_closes_the_connection(live: Live) -> None:
    huge = {"type": "connection_init", "payload": {"authorization": "x" * 100_000}}
    assert await _closed_with(live.ws_url, [huge]) == 1009  # message too big


async def test_a_subscription_before_connection_init_closes_with_4401(live: Live) -> None:
    assert await _closed_with(live.ws_url, [
        {"type": "subscribe", "id": "1", "payload": {"query": MEMBER_EVENTS}}]) == 4401


async def test_an_expired_token_closes_the_connection_with_4403(live: Live) -> None:
    ann: SignedIn = await live.shop.member("ann@example.com")
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {ann.access_token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        live.clock.advance(hours=1)
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(WITHIN):
                while True:
                    await ws.recv()
    assert ws.close_code == 4403


async def test_an_account_holds_only_so_many_connections(live: Live) -> None:
    ann = await live.shop.member("ann@example.com")
    init = {"type": "connection_init",
            "payload": {"authorization": f"Bearer {ann.access_token}"}}
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):  # the fixture's limit
            ws = await stack.enter_async_context(
                websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"]))  # type: ignore[list-item]
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        assert await _closed_with(live.ws_url, [init]) == 4403
    # Closing one frees its place.
    await asyncio.sleep(0.2)
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"


async def test_staff_cannot_subscribe_to_member_events(live: Live) -> None:
    cashier = await live.till.staff("cashier@example.com", "PARIS-01")
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {
            "authorization": f"Bearer {cashier.access_token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "subscribe", "id": "1",
                                  "payload": {"query": MEMBER_EVENTS}}))
        async with asyncio.timeout(WITHIN):
            answer = json.loads(await ws.recv())
    assert answer["type"] in {"next", "error"}
    errors = answer["payload"]["errors"] if answer["type"] == "next" else answer["payload"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_ping_is_answered_and_an_unknown_field_is_an_error_not_a_close(live: Live) -> None:
    ann = await live.shop.member("ann@example.com")
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {
            "authorization": f"Bearer {ann.access_token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
        await ws.send(json.dumps({"type": "subscribe", "id": "1",
                                  "payload": {"query": "subscription { everything }"}}))
        async with asyncio.timeout(WITHIN):
            answer = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"  # still open
    assert answer["type"] == "error" and answer["id"] == "1"
    assert "everything" in answer["payload"][0]["message"]


async def test_subscribers_on_one_instance_see_events_written_through_another(
    live: Live, settings: Settings, clock: ManualClock,
) -> None:
    """Two server instances on one database: each follows the outbox itself."""
    other: Starlette = create_app(settings, clock=clock)
    ann = await live.shop.member("ann@example.com")
    async with live_server(other) as server, httpx.AsyncClient(
        base_url=server.url, timeout=30
    ) as http, _subscribed(live, ann.access_token) as received:
        through_other = Shop(gql=GraphQLClient(http, other.state.kizuna),
                             admin=live.shop.admin, api_key=live.shop.api_key)
        recorded = await through_other.record(through_other.order("ann@example.com", 2500))
        assert recorded["errors"] == []
        earned = await _next_of(received, "POINTS_EARNED")
    assert earned["points"]["balance"] == 25


async def test_members_cannot_subscribe_to_store_events(live: Live) -> None:
    ann = await live.shop.member("ann@example.com")
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {
            "authorization": f"Bearer {ann.access_token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "subscribe", "id": "1",
                                  "payload": {"query": STORE_EVENTS}}))
        async with asyncio.timeout(WITHIN):
            answer = json.loads(await ws.recv())
    errors = answer["payload"]["errors"] if answer["type"] == "next" else answer["payload"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


def test_every_recorded_event_type_has_a_graphql_name() -> None:
    """The live feeds map each stored event to the GraphQL enum: a type missing there would
    end a member's subscription with an internal error the first time it happens."""
    assert {kind.value for kind in EventType} == {value.value for value in EventTypeType}
