"""Webhooks: events reach a real receiver that verifies them with the `standardwebhooks`
library; retries with backoff, disabling, safe targets, and one delivery however many
instances send."""

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api.app import create_app
from api.settings import Settings
from events.webhook_delivery import RETRY_AFTER
from store import connect
from tests.browser_support import live_server
from tests.ledger_support import ORDER_RECORD, PER_EURO, Shop, _new_api_key, open_shop
from tests.scanner_support import ScannerShop
from tests.support import DEFAULT_PASSWORD, GraphQLClient, ManualClock, SignedIn

ROOT = Path(__file__).resolve().parent.parent

CREATE = """
mutation($input: WebhookEndpointCreateInput!) { webhookEndpointCreate(input: $input) {
  endpoint { id url eventTypes enabled } secret errors { code message field } } }"""

UPDATE = """
mutation($input: WebhookEndpointUpdateInput!) { webhookEndpointUpdate(input: $input) {
  endpoint { id enabled disabledReason } errors { code message } } }"""

ENDPOINTS = """
{ webhookEndpoints { edges { node { id enabled disabledReason consecutiveFailures
  lastSuccessAt lastFailureAt } } } }"""

DELIVERIES = """
query($endpoint: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(endpoint: $endpoint, status: $status) { edges { node {
    id eventId eventType status nextAttemptAt
    attempts { statusCode latencyMs response error } } } } }"""

RETRY = """
mutation($input: WebhookDeliveryRetryInput!) { webhookDeliveryRetry(input: $input) {
  delivery { status } errors { code } } }"""

WITHIN = 10.0


@dataclasses.dataclass
class Receiver:
    """A shop system's endpoint: records what it is sent, answers as told."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = dataclasses.field(default_factory=list)
    answer: Callable[[], Awaitable[Response]] = dataclasses.field(
        default=lambda: _ok())
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WITHIN):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def _ok() -> Response:
    return PlainTextResponse("thanks")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver(url="")

    async def hook(request: Request) -> Response:
        found.received.append((dict(request.headers), await request.body()))
        found.arrived.set()
        return await found.answer()

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with live_server(app) as server:
        found.url = f"{server.url}/hook"
        yield found


def _settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhook_private_targets=True, webhook_poll_ms=50,
                               webhook_timeout_seconds=1)


@pytest.fixture
async def shop(settings: Settings, clock: ManualClock) -> AsyncIterator[Shop]:
    app = create_app(_settings(settings), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna") as http:
            shop = await open_shop(GraphQLClient(http, app.state.kizuna))
            await shop.rule(PER_EURO)
            await shop.member("ann@example.com")
            yield shop
    database = connect(settings.mongodb_uri or "", settings.database)
    try:
        await database.client.drop_database(settings.database)
    finally:
        await database.close()


async def _endpoint(shop: Shop, url: str, **extra: Any) -> tuple[str, str]:
    data = await shop.gql.data(CREATE, {"input": {"url": url, **extra}},
                               token=shop.admin.access_token)
    payload = data["webhookEndpointCreate"]
    assert payload["errors"] == [], payload
    return payload["endpoint"]["id"], payload["secret"]


async def _deliveries(shop: Shop, endpoint_id: str, status: str | None = None) -> (
    list[dict[str, Any]]
):
    data = await shop.gql.data(DELIVERIES, {"endpoint": endpoint_id, "status": status},
                               token=shop.admin.access_token)
    return [edge["node"] for edge in data["webhookDeliveries"]["edges"]]


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Until `check` (a read of the delivery records) says yes."""
    async with asyncio.timeout(WITHIN):
        while not await check():  # noqa: ASYNC110 - polls the database, nothing to wait on
            await asyncio.sleep(0.05)


async def test_an_event_reaches_the_endpoint_signed_as_standard_webhooks_says(
    shop: Shop, receiver: Receiver,
) -> None:
    endpoint_id, secret = await _endpoint(shop, receiver.url, eventTypes=["POINTS_EARNED"])
    assert secret.startswith("whsec_")

    await shop.record(shop.order("ann@example.com", 4200, order_id="A-1"))
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)  # the order's own event is not asked for: nothing else comes

    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    verified = standardwebhooks.Webhook(secret).verify(body, headers)
    assert verified["type"] == "points.earned"
    assert verified["data"]["balance"] == {"points": 42, "debt": 0}
    assert verified["id"] == headers["webhook-id"]
    delivery = (await _deliveries(shop, endpoint_id))[0]
    assert delivery["status"] == "SUCCEEDED" and delivery["eventId"] == verified["id"]
    assert delivery["attempts"][0]["statusCode"] == 200
    assert delivery["attempts"][0]["response"] == "thanks"


async def test_a_tampered_delivery_does_not_verify(shop: Shop, receiver: Receiver) -> None:
    _, secret = await _endpoint(shop, receiver.url)
    await shop.record(shop.order("ann@example.com", 1000))
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    forged = body.replace(b'"points":10', b'"points":99999')
    assert forged != body
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(forged, headers)


async def test_a_failing_receiver_is_retried_after_the_backoff(
    shop: Shop, receiver: Receiver, clock: ManualClock,
) -> None:
    answers = iter([PlainTextResponse("down", status_code=500), PlainTextResponse("ok")])

    async def flaky() -> Response:
        return next(answers)

    receiver.answer = flaky
    endpoint_id, _ = await _endpoint(shop, receiver.url, eventTypes=["ORDER_RECORDED"])
    await shop.record(shop.order("ann@example.com", 1000))
    await receiver.wait_for(1)

    async def failed_once() -> bool:
        found = await _deliveries(shop, endpoint_id)
        return bool(found) and len(found[0]["attempts"]) == 1
    await _until(failed_once)
    pending = (await _deliveries(shop, endpoint_id))[0]
    assert pending["status"] == "PENDING" and pending["attempts"][0]["statusCode"] == 500
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 1  # not before the backoff

    clock.advance(seconds=RETRY_AFTER[0].total_seconds() + 1)
    await receiver.wait_for(2)

    async def succeeded() -> bool:
        status: str = (await _deliveries(shop, endpoint_id))[0]["status"]
        return status == "SUCCEEDED"
    await _until(succeeded)
    assert receiver.received[0][0]["webhook-id"] == receiver.received[1][0]["webhook-id"]
    attempts = {sample.labels["outcome"]: sample.value for family in
                text_string_to_metric_families((await shop.gql.http.get("/metrics")).text)
                for sample in family.samples if sample.name == "kizuna_webhook_attempts_total"}
    assert attempts == {"retrying": 1, "succeeded": 1}


async def test_an_endpoint_failing_for_a_day_is_disabled_and_says_why(
    shop: Shop, receiver: Receiver, clock: ManualClock,
) -> None:
    async def down() -> Response:
        return PlainTextResponse("down", status_code=503)

    receiver.answer = down
    endpoint_id, _ = await _endpoint(shop, receiver.url, eventTypes=["ORDER_RECORDED"])
    await shop.record(shop.order("ann@example.com", 1000))
    for attempt, wait in enumerate([*RETRY_AFTER, None], start=1):
        await receiver.wait_for(attempt)
        if wait is not None:
            async def recorded(n: int = attempt) -> bool:
                return len((await _deliveries(shop, endpoint_id))[0]["attempts"]) == n
            await _until(recorded)
            clock.advance(seconds=wait.total_seconds() + 1)
            shop.admin = await shop.sign_in("admin@example.com")  # tokens last minutes

    async def disabled() -> bool:
        data = await shop.gql.data(ENDPOINTS, token=shop.admin.access_token)
        return not data["webhookEndpoints"]["edges"][0]["node"]["enabled"]
    await _until(disabled)
    data = await shop.gql.data(ENDPOINTS, token=shop.admin.access_token)
    endpoint = data["webhookEndpoints"]["edges"][0]["node"]
    assert "8 attempts" in endpoint["disabledReason"]
    assert endpoint["consecutiveFailures"] == 8
    (failed,) = await _deliveries(shop, endpoint_id, "FAILED")
    assert [a["statusCode"] for a in failed["attempts"]] == [503] * 8

    async def back() -> Response:
        return PlainTextResponse("ok")
    receiver.answer = back
    enabled = await shop.gql.data(UPDATE, {"input": {"endpointId": endpoint_id,
                                                     "enabled": True}},
                                  token=shop.admin.access_token)
    assert enabled["webhookEndpointUpdate"]["endpoint"]["disabledReason"] is None
    retried = await shop.gql.data(RETRY, {"input": {"deliveryId": failed["id"]}},
                                  token=shop.admin.access_token)
    assert retried["webhookDeliveryRetry"]["delivery"]["status"] == "PENDING"
    await receiver.wait_for(9)


async def test_a_receiver_that_never_answers_times_out(
    shop: Shop, receiver: Receiver,
) -> None:
    async def hang() -> Response:
        await asyncio.sleep(30)
        return PlainTextResponse("late")

    receiver.answer = hang
    endpoint_id, _ = await _endpoint(shop, receiver.url, eventTypes=["ORDER_RECORDED"])
    await shop.record(shop.order("ann@example.com", 1000))

    async def attempted() -> bool:
        found = await _deliveries(shop, endpoint_id)
        return bool(found) and bool(found[0]["attempts"])
    await _until(attempted)
    attempt = (await _deliveries(shop, endpoint_id))[0]["attempts"][0]
    assert attempt["statusCode"] is None
    assert attempt["error"] == "no answer within 1 s"
    assert attempt["latencyMs"] < 3000


async def test_plain_http_and_private_addresses_are_refused(gql: GraphQLClient) -> None:
    """The default settings: https only, public addresses only."""
    admin = await gql.admin()
    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://localhost/hook",
                "https://10.1.2.3/hook", "https://169.254.169.254/latest", "https://[::1]/x",
                "ftp://example.com/", "https://user:pw@example.com/"):
        data = await gql.data(CREATE, {"input": {"url": url}}, token=admin.access_token)
        payload = data["webhookEndpointCreate"]
        assert payload["endpoint"] is None, url
        assert payload["errors"][0]["code"] == "INVALID_INPUT", url
        assert payload["errors"][0]["field"] == ["input", "url"]


async def test_only_administrators_manage_or_see_webhooks(gql: GraphQLClient) -> None:
    """A member, a store's staff and a shop system's API key are all refused, and nothing
    is registered."""
    shop = await open_shop(gql)
    ann = await gql.member()
    till = ScannerShop(gql=gql, admin=shop.admin)
    await till.store("PARIS-01")
    cashier = await till.staff("cashier@example.com", "PARIS-01")
    for token in (ann.access_token, cashier.access_token, shop.api_key):
        created = await gql.post(CREATE, {"input": {"url": "https://example.com/h"}},
                                 token=token)
        listed = await gql.post(ENDPOINTS, token=token)
        for response in (created, listed):
            assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN", token
    data = await gql.data(ENDPOINTS, token=shop.admin.access_token)
    assert data["webhookEndpoints"]["edges"] == []


async def test_two_instances_deliver_each_event_once(
    settings: Settings, clock: ManualClock, receiver: Receiver,
) -> None:
    settings = _settings(settings)
    first, second = create_app(settings, clock=clock), create_app(settings, clock=clock)
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=first)
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna") as http:
            shop = await open_shop(GraphQLClient(http, first.state.kizuna))
            await shop.rule(PER_EURO)
            await shop.member("ann@example.com")
            await _endpoint(shop, receiver.url, eventTypes=["POINTS_EARNED"])
            for n in range(6):
                await shop.record(shop.order("ann@example.com", 1000 * (n + 1)))
            await receiver.wait_for(6)
            await asyncio.sleep(1)
    try:
        ids = [headers["webhook-id"] for headers, _ in receiver.received]
        assert len(ids) == 6 and len(set(ids)) == 6
        balances = [json.loads(body)["data"]["balance"]["points"]
                    for _, body in receiver.received]
        assert balances == [10, 30, 60, 100, 150, 210]  # in order for the member
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        await database.client.drop_database(settings.database)
        await database.close()


async def test_a_rotated_secret_signs_beside_the_old_one(shop: Shop, receiver: Receiver) -> None:
    endpoint_id, old = await _endpoint(shop, receiver.url, eventTypes=["POINTS_EARNED"])
    data = await shop.gql.data(
        """mutation($input: WebhookEndpointInput!) { webhookEndpointRotateSecret(input: $input)
             { secret errors { code } } }""",
        {"input": {"endpointId": endpoint_id}}, token=shop.admin.access_token)
    new = data["webhookEndpointRotateSecret"]["secret"]
    assert new.startswith("whsec_") and new != old

    await shop.record(shop.order("ann@example.com", 1000))
    await receiver.wait_for(1)

    headers, body = receiver.received[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret).verify(body, headers)["type"] == "points.earned"


async def test_events_committed_before_a_crash_are_delivered_once_after_the_restart(
    settings: Settings, clock: ManualClock, receiver: Receiver,
) -> None:
    """The first instance commits the orders and dies before sending anything (its sender
    never runs again); the next one delivers each event exactly once."""
    crashing = dataclasses.replace(_settings(settings), webhook_poll_ms=60_000)
    first = create_app(crashing, clock=clock)
    async with first.router.lifespan_context(first):
        transport = httpx.ASGITransport(app=first)
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna") as http:
            shop = await open_shop(GraphQLClient(http, first.state.kizuna))
            await shop.rule(PER_EURO)
            await shop.member("ann@example.com")
            await _endpoint(shop, receiver.url, eventTypes=["POINTS_EARNED"])
            await asyncio.sleep(0.2)  # its one early round has passed
            for total in (1000, 2000, 3000):
                await shop.record(shop.order("ann@example.com", total))
    assert receiver.received == []

    second = create_app(_settings(settings), clock=clock)
    try:
        async with second.router.lifespan_context(second):
            await receiver.wait_for(3)
            await asyncio.sleep(0.5)
        ids = [headers["webhook-id"] for headers, _ in receiver.received]
        assert len(ids) == 3 and len(set(ids)) == 3
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        await database.client.drop_database(settings.database)
        await database.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def _server_process(
    env: dict[str, str], port: int,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`kizuna serve` in a process of its own, answering on `port`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "serve", "--port", str(port), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient() as http, asyncio.timeout(60):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def test_a_server_killed_after_the_commit_delivers_the_event_once_after_a_restart(
    settings: Settings, receiver: Receiver, tmp_path: Path,
) -> None:
    env = {**os.environ, "KIZUNA_MONGODB_URI": settings.mongodb_uri or "",
           "KIZUNA_DATABASE": settings.database, "KIZUNA_DATA_DIR": str(tmp_path / "data"),
           "KIZUNA_WEBHOOK_PRIVATE_TARGETS": "true", "KIZUNA_PASSWORD_TIME_COST": "1",
           "KIZUNA_PASSWORD_MEMORY_KIB": "8192"}
    created = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "create-admin", "--email", "admin@example.com",
        "--name", "Ada", "--password-stdin", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
    await created.communicate(DEFAULT_PASSWORD.encode())
    assert created.returncode == 0
    port = _free_port()
    try:
        # The first server sends webhooks only once a minute: it dies before it sends.
        async with _server_process({**env, "KIZUNA_WEBHOOK_POLL_MS": "60000"}, port) as first:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                gql = GraphQLClient(http, None)  # type: ignore[arg-type]
                tokens = await gql.sign_in("admin@example.com")
                admin = SignedIn(tokens["accessToken"], tokens["refreshToken"])
                shop = Shop(gql=gql, admin=admin, api_key=await _new_api_key(gql, admin))
                await shop.rule(PER_EURO)
                assert (await gql.register(email="ann@example.com"))["errors"] == []
                await _endpoint(shop, receiver.url, eventTypes=["POINTS_EARNED"])
                await asyncio.sleep(0.5)
                recorded = await gql.data(ORDER_RECORD, {"input": {
                    "member": {"email": "ann@example.com"}, "orderId": "A-1",
                    "channel": "ONLINE", "total": 4200, "currency": "EUR",
                    "items": [{"sku": "S", "category": "shoes", "quantity": 1,
                               "unitPrice": 4200}],
                    "occurredAt": "2026-01-01T10:00:00+00:00"}}, token=shop.api_key)
                assert recorded["orderRecord"]["errors"] == [], recorded
            first.send_signal(signal.SIGKILL)  # committed, not sent
            await first.wait()
        assert receiver.received == []
        async with _server_process({**env, "KIZUNA_WEBHOOK_POLL_MS": "100"}, port):
            await receiver.wait_for(1)
            await asyncio.sleep(1.5)
        assert len(receiver.received) == 1
        assert json.loads(receiver.received[0][1])["data"]["entry"]["points"] == 42
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        await database.client.drop_database(settings.database)
        await database.close()
