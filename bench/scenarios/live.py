"""live: members watch their points move (`memberEvents` over graphql-transport-ws) while a
shop records their orders; how long a commit takes to reach the member's screen, whether any
message is lost, and what an idle subscription costs the server.

Set-up through the API as in order-earn: an administrator (`kizuna create-admin`), an
ORDERS_WRITE API key, the three rules of bench.shop, and members registered and signed in
(one per connection unless `--members` says fewer). A first subscription is checked end to
end (an order, its POINTS_EARNED message with the right points), then closed.

Then, for each count of `--subscribers` (ascending, each grown from the one before on the
same server): the missing WebSocket connections are opened (connection_init with the
member's bearer token, connection_ack, subscribe to `memberEvents`), the server is left
idle (the `idle` row: its CPU with that many subscriptions; its RSS before and after gives
the memory of one idle subscription), then `orderRecord` runs at `--rate` for
`--duration` seconds for the members that have a subscriber, round-robin (the `live` row).
Latency of a message: from the arrival of its order's `orderRecord` response (the commit
has happened by then) to the arrival of the member's POINTS_EARNED message, both read with
time.monotonic() in this process. A message that arrives before the response counts 0 ms
(`early`). Target: p99 ≤ 500 ms on the embedded engine.

Then webhooks, once the subscriptions are closed: a receiver in this process (h11 on
127.0.0.1, verifying each request with `standardwebhooks`), an endpoint for it
(POINTS_EARNED and ORDER_RECORDED), a burst of WEBHOOK_BURST orders and orders at `--rate`
for `--duration`: deliveries per second, order response → delivery latency, and every
event once, correctly signed. The bench's own server runs with
KIZUNA_WEBHOOK_PRIVATE_TARGETS=true and KIZUNA_WEBHOOK_POLL_MS=200.
"""

import asyncio
import contextlib
import itertools
import json
import math
import resource
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h11
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from bench.database import open_store
from bench.graphql import GRAPHQL_PATH, BenchError, GraphQLRequest, execute, send
from bench.load import PhaseResult, open_schedule
from bench.measure import SETTLE_SECONDS, PhaseReport, load_client, run_phase
from bench.members import FAST_SIGN_UP_ENV, SignedInMember, sign_up_members
from bench.metrics import CommandCounts, read_commands
from bench.options import BenchOptions, LoadOptions
from bench.progress import say
from bench.report import Report, aligned
from bench.scenarios.common import describe_target, format_mix
from bench.server_log import fault_lines, faults_on_failure
from bench.servers import Target, kizuna_server
from bench.shop import DEFAULT_ORDER_TOTAL, Shop, open_shop, order_request, points_for
from bench.stats import Latencies
from events import OUTBOX
from events.webhook_delivery import SEND_BATCH
from store import Store

if TYPE_CHECKING:
    from standardwebhooks import Webhook

DEFAULT_RATE = 10.0
TARGET_P99_MS = 500.0
IDLE_SECONDS = 5.0
"""The idle row: connections open and subscribed, nothing happening."""
DRAIN_SECONDS = 5.0
"""How long the last orders' messages may take after the last response before they count
as lost."""
ACK_TIMEOUT_SECONDS = 10.0
OPEN_CONCURRENCY = 32
"""Connections being opened at once."""
DEFAULT_CONNECTIONS_PER_ACCOUNT = 5
"""KIZUNA_MAX_CONNECTIONS_PER_ACCOUNT's default; raised for the bench's own server when
`--members` is below the largest count of subscribers ÷ 5."""
PROTOCOL = Subprotocol("graphql-transport-ws")
EARNED = "POINTS_EARNED"
SUBSCRIPTION = "subscription { memberEvents { id type occurredAt points { points balance } } }"
WEBHOOK_POLL_MS = 200
"""KIZUNA_WEBHOOK_POLL_MS of the bench's own server (the server's default is 1000): how
often its webhook loop turns new events into deliveries and sends what is due."""
SERVER_ENV = {
    **FAST_SIGN_UP_ENV,
    "KIZUNA_ACCESS_TOKEN_TTL_SECONDS": "86400",
    # The webhook phases: a receiver on 127.0.0.1 over http, and a shorter poll.
    "KIZUNA_WEBHOOK_PRIVATE_TARGETS": "true",
    "KIZUNA_WEBHOOK_POLL_MS": str(WEBHOOK_POLL_MS),
}


@dataclass(slots=True)
class Tally:
    """One phase's messages, across all subscriptions."""

    from_answer: list[float] = field(default_factory=list)
    """Seconds from the order's response to its message (0 when the message came first)."""
    from_send: list[float] = field(default_factory=list)
    """Seconds from sending the order to its message."""
    early: int = 0
    """Messages that arrived before their order's response."""
    kinds: Counter[str] = field(default_factory=Counter)
    """Messages received, by event type."""


@dataclass(slots=True)
class Deliveries:
    """Where the subscriptions count their messages: the current phase's tally, and how
    many answered orders still wait for their message (`quiet` is set when none does)."""

    tally: Tally = field(default_factory=Tally)
    waiting: int = 0
    quiet: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.quiet.set()

    def wait_more(self) -> None:
        self.waiting += 1
        self.quiet.clear()

    def wait_less(self, count: int = 1) -> None:
        self.waiting -= count
        if self.waiting <= 0:
            self.waiting = 0
            self.quiet.set()

    async def all_in(self, within: float) -> bool:
        """Whether every answered order's message came within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                await self.quiet.wait()
        except TimeoutError:
            return False
        return True


@dataclass(eq=False, slots=True)
class Subscription:
    """One connection with one `memberEvents` subscription. Each POINTS_EARNED message is
    paired with the oldest answered order of the member whose message has not come yet (or,
    if it came before the response, with the next order answered)."""

    member: SignedInMember
    connection: ClientConnection
    deliveries: Deliveries
    awaiting: deque[tuple[float, float]] = field(default_factory=deque)
    """(sent, answered) of the member's orders whose message has not come yet."""
    arrived: deque[float] = field(default_factory=deque)
    """Arrival times of POINTS_EARNED messages no answered order was waiting for."""
    last_earned: dict[str, Any] | None = None
    problem: str | None = None
    """Why the subscription ended, if it did before the bench closed it."""
    closing: bool = False
    reader: asyncio.Task[None] | None = None

    def order_answered(self, sent: float, answered: float) -> None:
        if self.arrived:
            self._count(sent, answered, self.arrived.popleft())
        else:
            self.awaiting.append((sent, answered))
            self.deliveries.wait_more()

    def _message(self, at: float, event: dict[str, Any]) -> None:
        self.deliveries.tally.kinds[str(event.get("type"))] += 1
        if event.get("type") != EARNED:
            return
        self.last_earned = event
        if self.awaiting:
            sent, answered = self.awaiting.popleft()
            self.deliveries.wait_less()
            self._count(sent, answered, at)
        else:
            self.arrived.append(at)

    def _count(self, sent: float, answered: float, at: float) -> None:
        tally = self.deliveries.tally
        tally.from_answer.append(max(0.0, at - answered))
        tally.from_send.append(at - sent)
        if at < answered:
            tally.early += 1

    def settle(self) -> tuple[int, int]:
        """(lost, unexpected) at the end of a phase: answered orders still without their
        message, and POINTS_EARNED messages of no answered order; both are forgotten."""
        lost, unexpected = len(self.awaiting), len(self.arrived)
        self.deliveries.wait_less(lost)
        self.awaiting.clear()
        self.arrived.clear()
        return lost, unexpected

    async def read(self) -> None:
        """Receive until the connection ends; a message's time is taken as it arrives."""
        try:
            async for raw in self.connection:
                at = time.monotonic()
                await self._handle(at, json.loads(raw))
                if self.problem is not None:
                    return
        except ConnectionClosed as closed:
            if not self.closing:
                self.problem = f"connection closed: {_close_reason(closed)}"
            return
        if not self.closing:
            self.problem = "connection closed by the server"

    async def _handle(self, at: float, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "next":
            payload = message.get("payload") or {}
            if payload.get("errors"):
                self.problem = f"subscription error: {payload['errors'][0].get('message')}"
                return
            self._message(at, payload["data"]["memberEvents"])
        elif kind == "ping":
            await self.connection.send(json.dumps({"type": "pong"}))
        elif kind in ("error", "complete"):
            self.problem = f"subscription {kind}: {str(message.get('payload'))[:200]}"

    async def close(self) -> None:
        self.closing = True
        await self.connection.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


def _close_reason(closed: ConnectionClosed) -> str:
    if closed.rcvd is None:
        return "no close frame"
    return f"code {closed.rcvd.code} {closed.rcvd.reason!r}".rstrip()


def ws_url(target: Target) -> str:
    """`ws://host:port/graphql` for an `http://host:port` target (wss for https)."""
    return "ws" + target.base_url.removeprefix("http") + GRAPHQL_PATH


async def subscribe(url: str, member: SignedInMember, deliveries: Deliveries) -> Subscription:
    """A new connection for `member`, acknowledged and subscribed to `memberEvents`."""
    try:
        connection = await connect(url, subprotocols=[PROTOCOL], open_timeout=ACK_TIMEOUT_SECONDS)
    except (OSError, InvalidHandshake, TimeoutError) as error:
        raise BenchError(f"WebSocket connection to {url} failed: {error!r}") from error
    try:
        await connection.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {member.access_token}"},
                }
            )
        )
        async with asyncio.timeout(ACK_TIMEOUT_SECONDS):
            ack = json.loads(await connection.recv())
        if ack.get("type") != "connection_ack":
            raise BenchError(f"connection_init of {member.email} answered {ack}")
        await connection.send(
            json.dumps({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIPTION}})
        )
    except ConnectionClosed as closed:
        await connection.close()
        raise BenchError(
            f"the server refused a connection of {member.email} ({_close_reason(closed)}); "
            "more connections per member than its KIZUNA_MAX_CONNECTIONS_PER_ACCOUNT?"
        ) from closed
    except BaseException:
        await connection.close()
        raise
    subscription = Subscription(member=member, connection=connection, deliveries=deliveries)
    subscription.reader = asyncio.create_task(subscription.read(), name="live-reader")
    return subscription


async def subscribe_all(
    url: str, members: Sequence[SignedInMember], deliveries: Deliveries
) -> list[Subscription]:
    """A subscription for each of `members` (repeats allowed), a few opened at a time."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one(member: SignedInMember) -> Subscription:
        async with gate:
            return await subscribe(url, member, deliveries)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(member)) for member in members]
    return [task.result() for task in tasks]


def rss_kib(pid: int | None) -> int | None:
    """The resident memory of process `pid` (VmRSS in /proc/<pid>/status), in KiB."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def allow_open_files(needed: int) -> None:
    """Raise this process's open-file limit (and so its server's) to `needed` if it can."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@dataclass(frozen=True, slots=True)
class Delivered:
    """One load phase: the orders, the messages, and what did not pair up."""

    orders: PhaseResult
    tally: Tally
    lost: int
    """Answered orders whose message did not come in time (per subscription)."""
    unexpected: int
    """POINTS_EARNED messages of no answered order."""

    def row(self, size: int, rate: float) -> PhaseResult:
        """The `live` row: a message is an operation (one per answered order and
        subscription of its member), its latency from the order's response; errors are
        lost messages and failed orders."""
        orders = self.orders
        row = PhaseResult(mode=f"live {size} subs", offered_rate=rate, elapsed=orders.elapsed)
        row.latencies = list(self.tally.from_answer)
        row.operations = len(self.tally.from_answer) + self.lost + orders.errors
        row.errors = self.lost + orders.errors
        row.error_samples = Counter(orders.error_samples)
        if self.lost:
            row.error_samples["message lost (no POINTS_EARNED message in time)"] = self.lost
        if self.unexpected:
            row.error_samples["POINTS_EARNED message of no answered order"] = self.unexpected
        return row


@dataclass(slots=True)
class Step:
    """One count of subscribers: how it was reached and what its phases saw."""

    size: int
    opened: int
    open_seconds: float
    rss_before: int | None
    rss_idle: int | None
    idle: PhaseReport
    live: PhaseReport
    delivered: Delivered
    dropped: Counter[str]
    """Subscriptions that ended before the bench closed them, by why."""
    idle_commands: dict[str, float] | None
    """Database commands per second while idle, by name (None: no /metrics)."""
    outbox: int
    """Events in the outbox while idle: what each of the feed's polls reads through on the
    embedded engine."""


@dataclass(slots=True)
class LiveRun:
    """The server, its shop and members, and the subscriptions open so far."""

    target: Target
    client: httpx.AsyncClient
    shop: Shop
    members: list[SignedInMember]
    load: LoadOptions
    store: Store
    """The server's database, for the outbox's size."""
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    deliveries: Deliveries = field(default_factory=Deliveries)
    subscriptions: list[Subscription] = field(default_factory=list)
    order_numbers: "itertools.count[int]" = field(default_factory=itertools.count)
    turns: "itertools.count[int]" = field(default_factory=itertools.count)
    """Whose turn it is to order: it goes on from one count to the next, so each count's
    orders go to members who have not ordered yet while there are any."""

    async def check_first(self) -> float:
        """One subscription, one order, its message with the order's points: the whole path
        works before anything is measured. Closes the subscription; the latency in s."""
        member = self.members[0]
        first = await subscribe(ws_url(self.target), member, self.deliveries)
        try:
            await asyncio.sleep(SETTLE_SECONDS)  # the subscription reaches the feed
            self.deliveries.tally = Tally()
            failure = await self._order(member.id, [first])
            if failure is not None:
                raise BenchError(f"a first orderRecord failed: {failure}")
            if not await self.deliveries.all_in(DRAIN_SECONDS):
                raise BenchError(
                    f"no POINTS_EARNED message within {DRAIN_SECONDS:g} s of a first order "
                    f"({first.problem or 'the connection is open'})"
                )
        finally:
            await first.close()
        earned = (first.last_earned or {}).get("points") or {}
        expected = points_for(DEFAULT_ORDER_TOTAL)
        if earned.get("points") != expected or earned.get("balance") != expected:
            raise BenchError(
                f"the first POINTS_EARNED message should say {expected} points "
                f"and a balance of {expected}: {first.last_earned}"
            )
        return self.deliveries.tally.from_answer[0]

    async def _order(self, member_id: str, watching: Sequence[Subscription]) -> str | None:
        """Record a new order for `member_id`; tell `watching` when it was answered."""
        _, sent, answered, failure = await self.record_order(member_id)
        if failure is None:
            for subscription in watching:
                subscription.order_answered(sent, answered)
        return failure

    async def record_order(self, member_id: str) -> tuple[str, float, float, str | None]:
        """A new order for `member_id`: its id, when it was sent and answered
        (time.monotonic()), and its failure or None."""
        order_id = f"{self.run_id}-{next(self.order_numbers)}"
        request = order_request(self.shop, member_id, order_id)
        sent = time.monotonic()
        failure = await send(self.client, request)
        return order_id, sent, time.monotonic(), failure

    def next_member(self) -> str:
        """The next member to order, round-robin over all members."""
        return self.members[next(self.turns) % len(self.members)].id

    async def step(self, size: int) -> Step:
        """Grow to `size` subscriptions, idle, then orders for their members."""
        rss_before = rss_kib(self.target.pid)
        missing = [
            self.members[i % len(self.members)] for i in range(len(self.subscriptions), size)
        ]
        say(f"{size} subscribers: opening {len(missing)} connections")
        started = time.monotonic()
        self.subscriptions += await subscribe_all(ws_url(self.target), missing, self.deliveries)
        open_seconds = time.monotonic() - started
        say(f"{size} subscribers: open in {open_seconds:.1f} s; idle {IDLE_SECONDS:g} s")
        before = await self._commands()
        idle = await run_phase(self.target, self.client, self.load, lambda: _idle(size))
        after = await self._commands()
        rss_idle = rss_kib(self.target.pid)
        outbox = await self.store.collection(OUTBOX).estimated_document_count()
        idle_commands = None
        if before is not None and after is not None:
            idle_commands = after.per_op_since(before, 1)
            idle_commands = {name: n / idle.result.elapsed for name, n in idle_commands.items()}
        say(f"{size} subscribers: orders at {self.load.rate:g}/s for {self.load.duration:g} s")
        delivered: list[Delivered] = []

        async def phase() -> PhaseResult:
            delivered.append(await self._deliver(size))
            return delivered[0].row(size, self.load.rate)

        live = await run_phase(self.target, self.client, self.load, phase)
        dropped = Counter(s.problem for s in self.subscriptions if s.problem is not None)
        return Step(
            size=size,
            opened=len(missing),
            open_seconds=open_seconds,
            rss_before=rss_before,
            rss_idle=rss_idle,
            idle=idle,
            live=live,
            delivered=delivered[0],
            dropped=dropped,
            idle_commands=idle_commands,
            outbox=outbox,
        )

    async def _commands(self) -> CommandCounts | None:
        if not self.target.has_metrics:
            return None
        return await read_commands(self.client, self.load.metrics_token)

    async def _deliver(self, size: int) -> Delivered:
        """Orders at the load's rate for the subscribed members, round-robin (going on from
        the previous count's turn); then wait for the last messages."""
        watchers: dict[str, list[Subscription]] = {}
        for subscription in self.subscriptions[:size]:
            watchers.setdefault(subscription.member.id, []).append(subscription)
        members = list(watchers)
        self.deliveries.tally = tally = Tally()

        async def one() -> str | None:
            member_id = members[next(self.turns) % len(members)]
            return await self._order(member_id, watchers[member_id])

        orders = await open_schedule(one, rate=self.load.rate, duration=self.load.duration)
        await self.deliveries.all_in(DRAIN_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)  # a duplicate would show now
        lost = unexpected = 0
        for subscription in self.subscriptions:
            missing, extra = subscription.settle()
            lost, unexpected = lost + missing, unexpected + extra
        return Delivered(orders, tally, lost, unexpected)

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.subscriptions), return_exceptions=True)


# Webhooks: an endpoint in the bench process, orders, and their signed deliveries.

WEBHOOK_BURST = 300
"""Orders of the webhook burst, recorded `--concurrency` at a time as fast as the server
answers them."""
WEBHOOK_TYPES = ("POINTS_EARNED", "ORDER_RECORDED")
"""The endpoint's event types: the two events of every order."""
ORDER_EVENTS = ("points.earned", "order.recorded")
"""The same two, as a delivery's body names them."""
WEBHOOK_STALL_SECONDS = 15.0
"""The wait for a phase's deliveries ends when every one is in, when none has arrived for
this long (a failed attempt is retried after 5 s), or after WEBHOOK_MAX_WAIT_SECONDS."""
WEBHOOK_MAX_WAIT_SECONDS = 300.0
WEBHOOK_SETTLE_SECONDS = 2.0
"""After a phase's last delivery: the time in which a duplicate would show."""
RECEIVER_PATH = "/kizuna-webhooks"
RECEIVER_READ_BYTES = 65_536

ENDPOINT_CREATE = """mutation Hook($input: WebhookEndpointCreateInput!) {
  webhookEndpointCreate(input: $input) { endpoint { id } secret errors { code message field } }
}"""
ENDPOINT_DELETE = """mutation Unhook($input: WebhookEndpointInput!) {
  webhookEndpointDelete(input: $input) { deletedEndpointId errors { code message field } }
}"""
ENDPOINT_HEALTH = """query Health($id: ID!) { node(id: $id) { ... on WebhookEndpoint {
  enabled disabledReason consecutiveFailures lastSuccessAt lastFailureAt } } }"""
DELIVERY_PAGE = """query Deliveries($endpoint: ID!, $after: String) {
  webhookDeliveries(endpoint: $endpoint, first: 50, after: $after) {
    edges { node { status createdAt attempts { at statusCode latencyMs error } } }
    pageInfo { hasNextPage endCursor } } }"""

type EventKey = tuple[str, str]
"""(event type as in the body, order id): what one delivery is about."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request the receiver got: when (time.monotonic(), as its body was complete),
    its webhook-id, and the order event it carries (None if it carries none)."""

    at: float
    webhook_id: str
    key: EventKey | None


def order_event(event: object) -> EventKey | None:
    """(type, order id) of a points.earned or order.recorded body, else None."""
    if not isinstance(event, dict):
        return None
    kind, data = event.get("type"), event.get("data")
    if not isinstance(data, dict):
        return None
    found: object = None
    if kind == "order.recorded" and isinstance(data.get("order"), dict):
        found = data["order"].get("id")
    elif kind == "points.earned" and isinstance(data.get("entry"), dict):
        source = data["entry"].get("source")
        if isinstance(source, dict) and source.get("type") == "ORDER":
            found = source.get("id")
    return (str(kind), found) if isinstance(found, str) else None


class Receiver:
    """A shop system's webhook endpoint in the bench process: a minimal HTTP/1.1 server
    (h11 over asyncio streams, keep-alive) on 127.0.0.1 that answers every request 200,
    takes its arrival time as its body is complete, and verifies it with the
    `standardwebhooks` library and the endpoint's secret."""

    def __init__(self) -> None:
        self.url = ""
        self.arrivals: list[Arrival] = []
        self.first_at: dict[EventKey, float] = {}
        """The first arrival of each order event."""
        self.missing: set[EventKey] = set()
        """Order events expected (their order was answered) and not arrived yet."""
        self.bad_signatures: Counter[str] = Counter()
        self.not_webhooks = 0
        """Requests that were no POST to the endpoint's path."""
        self.arrived = asyncio.Event()
        self._verifier: Webhook | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{RECEIVER_PATH}"

    def use_secret(self, secret: str) -> None:
        from standardwebhooks import Webhook  # a dev dependency, checked by measure_webhooks

        self._verifier = Webhook(secret)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server.close_clients()  # the server's keep-alive connections
            await self._server.wait_closed()

    def expect(self, key: EventKey) -> None:
        if key not in self.first_at:
            self.missing.add(key)

    async def all_in(self) -> bool:
        """Whether every expected order event arrived (see WEBHOOK_STALL_SECONDS)."""
        deadline = time.monotonic() + WEBHOOK_MAX_WAIT_SECONDS
        while self.missing:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                async with asyncio.timeout(min(WEBHOOK_STALL_SECONDS, left)):
                    await self.arrived.wait()
            except TimeoutError:
                return False
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        try:
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await reader.read(RECEIVER_READ_BYTES))
                elif isinstance(event, h11.Request):
                    request, body = event, bytearray()
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage) and request is not None:
                    self._received(time.monotonic(), request, bytes(body))
                    for part in (
                        h11.Response(status_code=200, headers=[("content-length", "2")]),
                        h11.Data(data=b"ok"),
                        h11.EndOfMessage(),
                    ):
                        writer.write(connection.send(part) or b"")
                    await writer.drain()
                    if h11.MUST_CLOSE in (connection.our_state, connection.their_state):
                        return
                    connection.start_next_cycle()
                else:  # ConnectionClosed, or PAUSED after a client's error
                    return
        except (h11.ProtocolError, ConnectionError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _received(self, at: float, request: h11.Request, body: bytes) -> None:
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers
        }
        if request.method != b"POST" or request.target.split(b"?")[0] != RECEIVER_PATH.encode():
            self.not_webhooks += 1
            return
        event: object = None
        if self._verifier is None:
            self.bad_signatures["before the endpoint's secret was known"] += 1
        else:
            try:
                event = self._verifier.verify(body, headers)
            except Exception as error:  # WebhookVerificationError, or a body that is no JSON
                self.bad_signatures[f"{type(error).__name__}: {error}"[:120]] += 1
        if event is None:
            with contextlib.suppress(ValueError):
                event = json.loads(body)
        key = order_event(event)
        self.arrivals.append(Arrival(at=at, webhook_id=headers.get("webhook-id", ""), key=key))
        if key is not None and key not in self.first_at:
            self.first_at[key] = at
            self.missing.discard(key)
        self.arrived.set()


@dataclass(slots=True)
class HookOrders:
    """The orders of one webhook phase."""

    result: PhaseResult
    """The orderRecord calls (latency from send, or from the scheduled time at a rate)."""
    answered: dict[str, float] = field(default_factory=dict)
    """Order id → when its response arrived (time.monotonic())."""
    sent: set[str] = field(default_factory=set)
    """Every order id sent, answered or not."""
    first_sent: float = math.inf
    last_answered: float = 0.0


@dataclass(frozen=True, slots=True)
class HookPhase:
    """One webhook phase as the receiver saw it."""

    name: str
    orders: HookOrders
    started: float
    ended: float
    """When the wait for its deliveries ended (all in, or given up)."""
    expected: int
    received: int
    """Expected order events that arrived (each counted once)."""
    duplicates: int
    """Arrivals beyond the first of a webhook-id."""
    unexpected: int
    """Other webhook-ids of this phase's orders: an order event of a failed order, or an
    order event sent under a second id."""
    latencies: list[float]
    """Seconds from each order's response to the first arrival of each of its events (0 if
    the event came first)."""
    early: int
    first_arrival: float | None
    last_arrival: float | None

    @property
    def lost(self) -> int:
        return self.expected - self.received

    @property
    def span(self) -> float:
        """Seconds from the phase's first to its last arrival."""
        if self.first_arrival is None or self.last_arrival is None:
            return 0.0
        return self.last_arrival - self.first_arrival

    @property
    def per_second(self) -> float:
        return self.received / self.span if self.span > 0 else math.nan

    def row(self, rate: float | None) -> PhaseResult:
        """The phase's row in the tables: a delivery is an operation (two per answered
        order), its latency from the order's response; errors are lost deliveries and
        failed orders; the time is from the first order to the end of the wait."""
        result = self.orders.result
        mode = "hooks burst" if rate is None else f"hooks {rate:g}/s"
        row = PhaseResult(mode=mode, offered_rate=rate, elapsed=self.ended - self.started)
        row.latencies = list(self.latencies)
        row.operations = self.received + self.lost + result.errors
        row.errors = self.lost + result.errors
        row.error_samples = Counter(result.error_samples)
        if self.lost:
            row.error_samples["webhook delivery lost (not there in time)"] = self.lost
        return row


def hook_phase(
    name: str, orders: HookOrders, receiver: Receiver, started: float, ended: float
) -> HookPhase:
    """What the receiver got of `orders`' events."""
    mine = [a for a in receiver.arrivals if a.key is not None and a.key[1] in orders.sent]
    per_id = Counter(a.webhook_id for a in mine)
    expected = {(kind, order) for order in orders.answered for kind in ORDER_EVENTS}
    got: set[EventKey] = {a.key for a in mine if a.key is not None and a.key in expected}
    latencies: list[float] = []
    early = 0
    for key in got:
        late = receiver.first_at[key] - orders.answered[key[1]]
        if late < 0:
            early += 1
        latencies.append(max(0.0, late))
    firsts = sorted(receiver.first_at[key] for key in {a.key for a in mine if a.key is not None})
    return HookPhase(
        name=name,
        orders=orders,
        started=started,
        ended=ended,
        expected=len(expected),
        received=len(got),
        duplicates=len(mine) - len(per_id),
        unexpected=len(per_id) - len(got),
        latencies=latencies,
        early=early,
        first_arrival=firsts[0] if firsts else None,
        last_arrival=firsts[-1] if firsts else None,
    )


@dataclass(frozen=True, slots=True)
class ServerRecords:
    """The endpoint's deliveries as the server recorded them (webhookDeliveries)."""

    statuses: Counter[str]
    retried: int
    """Deliveries with more than one attempt."""
    queued: list[float]
    """Seconds from each delivery's creation (dispatch) to its first attempt."""
    attempt_ms: list[float]
    """Each attempt's POST time as the server measured it, in ms."""
    failures: Counter[str]
    health: dict[str, Any]


@dataclass(slots=True)
class WebhookRun:
    """The webhook phases of `bench live`, on the members and shop of `live`."""

    live: LiveRun
    receiver: Receiver
    endpoint_id: str = ""

    async def register(self) -> None:
        created = (
            await execute(
                self.live.client,
                GraphQLRequest.of(
                    ENDPOINT_CREATE,
                    {
                        "input": {
                            "url": self.receiver.url,
                            "eventTypes": list(WEBHOOK_TYPES),
                            "description": "bench live",
                            "enabled": True,
                        }
                    },
                    token=self.live.shop.admin_token,
                ),
            )
        )["webhookEndpointCreate"]
        self.endpoint_id = created["endpoint"]["id"]
        self.receiver.use_secret(created["secret"])

    async def unregister(self) -> None:
        if self.endpoint_id:
            with contextlib.suppress(BenchError):
                await execute(
                    self.live.client,
                    GraphQLRequest.of(
                        ENDPOINT_DELETE,
                        {"input": {"endpointId": self.endpoint_id}},
                        token=self.live.shop.admin_token,
                    ),
                )

    async def _order(self, orders: HookOrders) -> str | None:
        order_id, sent, answered, failure = await self.live.record_order(self.live.next_member())
        orders.sent.add(order_id)
        orders.first_sent = min(orders.first_sent, sent)
        if failure is None:
            orders.answered[order_id] = answered
            orders.last_answered = max(orders.last_answered, answered)
            for kind in ORDER_EVENTS:
                self.receiver.expect((kind, order_id))
        return failure

    async def burst(self, concurrency: int) -> tuple[PhaseReport, HookPhase]:
        """WEBHOOK_BURST orders, `concurrency` at a time; then the wait for their events."""
        orders = HookOrders(result=PhaseResult(mode=f"closed c={concurrency}"))
        numbers = itertools.count()

        async def worker() -> None:
            while next(numbers) < WEBHOOK_BURST:
                started = time.monotonic()
                failure = await self._order(orders)
                orders.result.record(time.monotonic() - started, failure)

        async def record() -> None:
            started = time.monotonic()
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(worker())
            orders.result.elapsed = time.monotonic() - started

        return await self._phase("burst", None, orders, record)

    async def paced(self, rate: float, duration: float) -> tuple[PhaseReport, HookPhase]:
        """Orders at `rate` for `duration` s (open loop); then the wait for their events."""
        orders = HookOrders(result=PhaseResult(mode=f"open {rate:g}/s"))

        async def record() -> None:
            orders.result = await open_schedule(
                lambda: self._order(orders), rate=rate, duration=duration
            )

        return await self._phase(f"{rate:g}/s", rate, orders, record)

    async def _phase(
        self,
        name: str,
        rate: float | None,
        orders: HookOrders,
        record: Callable[[], Awaitable[None]],
    ) -> tuple[PhaseReport, HookPhase]:
        """`record` the orders and wait for their events (the row, with the server's CPU
        over both), then WEBHOOK_SETTLE_SECONDS more for duplicates."""
        span: list[float] = []

        async def phase() -> PhaseResult:
            span.append(time.monotonic())
            await record()
            await self.receiver.all_in()
            span.append(time.monotonic())
            return hook_phase(name, orders, self.receiver, span[0], span[1]).row(rate)

        report = await run_phase(self.live.target, self.live.client, self.live.load, phase)
        await asyncio.sleep(WEBHOOK_SETTLE_SECONDS)  # a duplicate would show now
        return report, hook_phase(name, orders, self.receiver, span[0], span[1])

    async def records(self) -> ServerRecords:
        """Every delivery of the endpoint as the server recorded it, and its health."""
        statuses: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        queued: list[float] = []
        attempt_ms: list[float] = []
        retried = 0
        after: str | None = None
        token = self.live.shop.admin_token
        while True:
            page = (
                await execute(
                    self.live.client,
                    GraphQLRequest.of(
                        DELIVERY_PAGE, {"endpoint": self.endpoint_id, "after": after}, token=token
                    ),
                )
            )["webhookDeliveries"]
            for edge in page["edges"]:
                node = edge["node"]
                statuses[node["status"]] += 1
                attempts = node["attempts"]
                retried += len(attempts) > 1
                if attempts:
                    queued.append(
                        (_when(attempts[0]["at"]) - _when(node["createdAt"])).total_seconds()
                    )
                for attempt in attempts:
                    attempt_ms.append(float(attempt["latencyMs"]))
                    if attempt["error"] or not 200 <= (attempt["statusCode"] or 0) < 300:
                        failures[str(attempt["error"] or attempt["statusCode"])[:120]] += 1
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        health = (
            await execute(
                self.live.client,
                GraphQLRequest.of(ENDPOINT_HEALTH, {"id": self.endpoint_id}, token=token),
            )
        )["node"] or {}
        return ServerRecords(
            statuses=statuses,
            retried=retried,
            queued=queued,
            attempt_ms=attempt_ms,
            failures=failures,
            health=health,
        )


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class WebhookResult:
    burst: HookPhase
    paced: HookPhase
    rows: list[PhaseReport]
    records: ServerRecords | str
    """The server's records, or why they could not be read."""
    receiver: Receiver
    members: int
    poll_ms: str
    concurrency: int


async def measure_webhooks(live: LiveRun, options: BenchOptions) -> WebhookResult | str:
    """The webhook phases: a receiver, an endpoint for it, a burst of orders, orders at
    `--rate`; the result, or why they could not run."""
    try:
        import standardwebhooks  # noqa: F401 - a dev dependency
    except ImportError:
        return "not measured: the `standardwebhooks` package is not installed (a dev dependency)"
    receiver = Receiver()
    await receiver.start()
    hooks = WebhookRun(live=live, receiver=receiver)
    try:
        try:
            await hooks.register()
        except BenchError as error:
            return (
                f"not measured: the server refused an endpoint at {receiver.url} ({error}); "
                "a server given with --url needs KIZUNA_WEBHOOK_PRIVATE_TARGETS=true"
            )
        concurrency = options.load.concurrency
        say(f"webhooks: {WEBHOOK_BURST} orders, {concurrency} at a time, to {receiver.url}")
        burst_row, burst = await hooks.burst(concurrency)
        load = options.load
        say(f"webhooks: orders at {load.rate:g}/s for {load.duration:g} s")
        paced_row, paced = await hooks.paced(load.rate, load.duration)
        records: ServerRecords | str
        try:
            records = await hooks.records()
        except BenchError as error:
            records = f"not read: {str(error)[:300]}"
    finally:
        await hooks.unregister()
        await receiver.stop()
    return WebhookResult(
        burst=burst,
        paced=paced,
        rows=[burst_row, paced_row],
        records=records,
        receiver=receiver,
        members=len(live.members),
        poll_ms=live.target.settings.get("KIZUNA_WEBHOOK_POLL_MS", "1000"),
        concurrency=concurrency,
    )


def _records_lines(records: ServerRecords | str) -> list[str]:
    if isinstance(records, str):
        return [f"  server's records: {records}"]
    queued = Latencies.of(records.queued)
    attempts = Latencies.of([ms / 1000 for ms in records.attempt_ms])
    statuses = ", ".join(f"{name} {count}" for name, count in sorted(records.statuses.items()))
    health = records.health
    state = "enabled" if health.get("enabled") else f"DISABLED: {health.get('disabledReason')}"
    lines = [
        f"  server's records: {sum(records.statuses.values())} deliveries ({statuses or 'none'}), "
        f"{records.retried} with more than one attempt, {sum(records.failures.values())} failed "
        f"attempts; dispatch → first attempt p50 {_ms(queued.p50)} / p99 {_ms(queued.p99)} ms; "
        f"POST p50 {_ms(attempts.p50)} / max {_ms(attempts.max)} ms; endpoint {state}, "
        f"consecutiveFailures {health.get('consecutiveFailures')}, lastFailureAt "
        f"{health.get('lastFailureAt') or 'none'}"
    ]
    for failure, count in records.failures.most_common(3):
        lines.append(f"  failed attempts: {count}× {failure}")
    return lines


def _seconds(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def _webhook_lines(result: WebhookResult | str) -> list[str]:
    if isinstance(result, str):
        return [f"webhooks: {result}"]
    burst, paced, records, receiver = result.burst, result.paced, result.records, result.receiver
    rows = [
        [
            "phase",
            "orders",
            "failed",
            "orders s",
            "expected",
            "received",
            "lost",
            "dup",
            "unexp",
            "early",
            "first in s",
            "first→last s",
            "deliv/s",
            "all in s",
            "after resp s",
            "p50 ms",
            "p99 ms",
            "max ms",
        ]
    ]
    for phase in (burst, paced):
        orders = phase.orders
        latency = Latencies.of(phase.latencies)
        first_in = all_in = after = None
        if phase.first_arrival is not None and phase.last_arrival is not None:
            first_in = phase.first_arrival - orders.first_sent
            all_in = phase.last_arrival - orders.first_sent
            after = phase.last_arrival - orders.last_answered
        rows.append(
            [
                phase.name,
                str(orders.result.operations),
                str(orders.result.errors),
                _seconds(orders.result.elapsed),
                str(phase.expected),
                str(phase.received),
                str(phase.lost),
                str(phase.duplicates),
                str(phase.unexpected),
                str(phase.early),
                _seconds(first_in),
                _seconds(phase.span),
                _seconds(phase.per_second),
                _seconds(all_in),
                _seconds(after),
                _ms(latency.p50),
                _ms(latency.p99),
                _ms(latency.max),
            ]
        )
    bad = sum(receiver.bad_signatures.values())
    lines = [
        f"webhooks, after the subscriptions closed: an endpoint for {' and '.join(WEBHOOK_TYPES)} "
        f"(webhookEndpointCreate, the administrator's token) at {receiver.url}, a receiver in "
        "the bench process (asyncio + h11, answers 200, verifies every request with "
        f"standardwebhooks); server KIZUNA_WEBHOOK_POLL_MS={result.poll_ms} (the bench sets "
        f"{WEBHOOK_POLL_MS} for its own server, and KIZUNA_WEBHOOK_PRIVATE_TARGETS=true; the "
        "default is 1000): an event waits up to one poll to become a delivery, and its sender "
        f"takes at most {SEND_BATCH} due deliveries per poll, one at a time per member; orders "
        f"for {result.members} members round-robin",
        f"  burst: {WEBHOOK_BURST} orders, {result.concurrency} at a time; then orderRecord at "
        f"--rate for --duration (open loop); each phase waits until every event is in (or none "
        f"came for {WEBHOOK_STALL_SECONDS:g} s), then {WEBHOOK_SETTLE_SECONDS:g} s for "
        "duplicates. orders s: recording them; expected: 2 per answered order; dup: arrivals "
        "of a webhook-id already received; unexp: other webhook-ids of the phase's orders; "
        "first in s: from the first order sent to the first arrival; first→last s: first to "
        "last arrival, deliv/s = received ÷ that; all in s: from the first order sent to the "
        "last arrival; after resp s: from the last order's response to the last arrival; "
        "latency: an order's response → the first arrival of each of its 2 events",
        *aligned(rows),
    ]
    lines += _records_lines(records)
    for problem, count in receiver.bad_signatures.most_common(3):
        lines.append(f"  bad signatures: {count}× {problem}")
    if receiver.not_webhooks:
        lines.append(f"  {receiver.not_webhooks} requests that were no POST to {RECEIVER_PATH}")
    phased = burst.orders.sent | paced.orders.sent
    other = sum(1 for a in receiver.arrivals if a.key is None or a.key[1] not in phased)
    if other:
        lines.append(f"  {other} deliveries of no order of these phases (other events)")
    burst_latency, paced_latency = Latencies.of(burst.latencies), Latencies.of(paced.latencies)
    lost = burst.lost + paced.lost
    duplicates = burst.duplicates + paced.duplicates
    paced_orders = paced.orders.result
    offered = len(ORDER_EVENTS) * paced_orders.operations / max(paced_orders.elapsed, 1e-9)
    first = after = None
    if burst.first_arrival is not None and burst.last_arrival is not None:
        first = burst.first_arrival - burst.orders.first_sent
        after = burst.last_arrival - burst.orders.last_answered
    lines.append(
        f"webhooks: {burst.received} deliveries in {_seconds(burst.span)} s = "
        f"{_seconds(burst.per_second)}/s to a local receiver (the first {_seconds(first)} s "
        f"after the burst's first order, whose {WEBHOOK_BURST} orders took "
        f"{_seconds(burst.orders.result.elapsed)} s; the last {_seconds(after)} s after its "
        f"last); order→delivery p50/p99 {_ms(paced_latency.p50)}/{_ms(paced_latency.p99)} ms "
        f"at {paced.name} orders ({offered:.0f} deliveries/s offered; the floor is one poll, "
        f"{result.poll_ms} ms), {_ms(burst_latency.p50)}/{_ms(burst_latency.p99)} ms in the "
        f"burst; duplicates {duplicates}; bad signatures {bad}; lost {lost}"
    )
    return lines


async def _idle(size: int) -> PhaseResult:
    started = time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)
    return PhaseResult(mode=f"idle {size} subs", elapsed=time.monotonic() - started)


async def run(options: BenchOptions) -> Report:
    report = Report(title="live")
    sizes = options.subscribers
    members_needed = min(options.members, sizes[-1])
    per_member = math.ceil(sizes[-1] / members_needed)
    allow_open_files(2 * sizes[-1] + 1024)
    env = {
        **SERVER_ENV,
        "KIZUNA_MAX_CONNECTIONS_PER_ACCOUNT": str(max(DEFAULT_CONNECTIONS_PER_ACCOUNT, per_member)),
    }
    async with (
        kizuna_server(options, extra_env=env) as ours,
        faults_on_failure(ours),
        load_client(ours, max(options.load.connections, 16)) as client,
        open_store(ours) as store,
    ):
        report.setup.append(describe_target(ours))
        say(
            f"ours at {ours.base_url}: admin (kizuna create-admin), API key, rules, "
            f"{members_needed} members"
        )
        started = time.monotonic()
        shop = await open_shop(ours, client)
        members = await sign_up_members(client, members_needed)
        live = LiveRun(
            target=ours,
            client=client,
            shop=shop,
            members=members,
            load=options.load,
            store=store,
        )
        first = await live.check_first()
        report.setup += _describe(
            options, len(members), per_member, time.monotonic() - started, first
        )
        baseline = rss_kib(ours.pid)
        steps: list[Step] = []
        try:
            for size in sizes:
                steps.append(await live.step(size))
        finally:
            await live.close()
        hooks = await measure_webhooks(live, options)
        faults = await fault_lines(ours)
    report.phases = [p for step in steps for p in (step.idle, step.live)]
    if not isinstance(hooks, str):
        report.phases += hooks.rows
    report.notes += _delivery_lines(steps) + _memory_lines(steps, baseline)
    report.notes += _target_lines(steps) + _webhook_lines(hooks) + faults
    return report


def _describe(
    options: BenchOptions, members: int, per_member: int, seconds: float, first: float
) -> list[str]:
    load = options.load
    spread = (
        "one connection per member"
        if per_member == 1
        else f"up to {per_member} connections per member"
    )
    return [
        f"set-up in {seconds:.1f} s: an administrator from `kizuna create-admin`, an API key "
        f"with ORDERS_WRITE, the 3 rules of bench.shop, {members} members registered and "
        f"signed in; a first subscription's POINTS_EARNED came {first * 1000:.0f} ms after "
        "its order's response, with the right points",
        f"subscribers: {', '.join(str(s) for s in options.subscribers)}, each count grown "
        f"from the one before on the same server ({spread}); WebSocket graphql-transport-ws "
        f"at {GRAPHQL_PATH} (websockets client, permessage-deflate offered as browsers do), "
        f"{OPEN_CONCURRENCY} opened at a time: connection_init with the member's bearer token, "
        f"`{SUBSCRIPTION}`",
        f"per count: idle {IDLE_SECONDS:g} s (the `idle` row), then orderRecord (API key, a "
        f"new order id each, €{DEFAULT_ORDER_TOTAL / 100:.2f} → "
        f"{points_for(DEFAULT_ORDER_TOTAL)} points) at {load.rate:g}/s × {load.duration:g} s "
        "for the subscribed members round-robin (going on from the previous count's turn), "
        f"then up to {DRAIN_SECONDS:g} s for the last messages (the `live` row)",
        "`live` row: ops = messages expected (one per answered order and subscription of its "
        "member) + failed orders; errors = lost messages + failed orders; latency from the "
        "orderRecord response to the POINTS_EARNED message (time.monotonic() in the bench; "
        "a message ahead of the response counts 0); db rt/op: the orders' commands (the "
        "feed reads on a connection of its own, not counted)",
    ]


def _ms(milliseconds: float) -> str:
    return "-" if math.isnan(milliseconds) else f"{milliseconds:.1f}"


def _delivery_lines(steps: Sequence[Step]) -> list[str]:
    rows = [
        [
            "subscribers",
            "orders",
            "failed",
            "expected",
            "received",
            "lost",
            "extra",
            "early",
            "p50 ms",
            "p99 ms",
            "max ms",
            "send→msg p50",
            "send→msg p99",
            "order p99 ms",
        ]
    ]
    for step in steps:
        delivered, tally = step.delivered, step.delivered.tally
        answer, since_send = Latencies.of(tally.from_answer), Latencies.of(tally.from_send)
        received = len(tally.from_answer)
        rows.append(
            [
                str(step.size),
                str(delivered.orders.operations),
                str(delivered.orders.errors),
                str(received + delivered.lost),
                str(received),
                str(delivered.lost),
                str(delivered.unexpected),
                str(tally.early),
                _ms(answer.p50),
                _ms(answer.p99),
                _ms(answer.max),
                _ms(since_send.p50),
                _ms(since_send.p99),
                _ms(Latencies.of(delivered.orders.latencies).p99),
            ]
        )
    lines = [
        "messages (latency: orderRecord response → POINTS_EARNED message; send→msg: "
        "from the order's send, an upper bound; order p99: orderRecord from its "
        "scheduled time; extra: POINTS_EARNED of no answered order):",
        *aligned(rows),
    ]
    for step in steps:
        kinds = step.delivered.tally.kinds
        listed = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        lines.append(
            f"  {step.size} subscribers: messages by type: {listed or 'none'}; db commands "
            f"per order: {format_mix(_per_order(step))}"
        )
        idle = "not read (no /metrics)"
        if step.idle_commands is not None:
            idle = format_mix(step.idle_commands) if step.idle_commands else "none"
        lines.append(
            f"  {step.size} subscribers, idle: {step.outbox} events in the outbox; db commands "
            f"per second on the server's own connection (the feed polls on another): {idle}"
        )
        if step.dropped:
            why = "; ".join(f"{count}× {reason}" for reason, count in step.dropped.most_common(3))
            lines.append(f"  {step.size} subscribers: subscriptions ended early: {why}")
    return lines


def _per_order(step: Step) -> dict[str, float]:
    """The live row's commands per message (its operations), per order instead."""
    orders = step.delivered.orders.operations
    if not orders:
        return {}
    messages = step.live.result.operations
    return {name: n * messages / orders for name, n in step.live.commands_per_op.items()}


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _memory_lines(steps: Sequence[Step], baseline: int | None) -> list[str]:
    if baseline is None:
        return [
            "memory per idle subscription: not measured (the server's pid is unknown: "
            "pass --server-pid with --url)"
        ]
    rows = [
        [
            "subscribers",
            "opened",
            "open s",
            "RSS before MiB",
            "RSS idle MiB",
            "KiB per new sub",
            "KiB per sub (vs none)",
        ]
    ]
    for step in steps:
        per_new = per_sub = "-"
        if step.rss_before is not None and step.rss_idle is not None and step.opened:
            per_new = f"{(step.rss_idle - step.rss_before) / step.opened:.1f}"
        if step.rss_idle is not None:
            per_sub = f"{(step.rss_idle - baseline) / step.size:.1f}"
        rows.append(
            [
                str(step.size),
                str(step.opened),
                f"{step.open_seconds:.1f}",
                _mib(step.rss_before),
                _mib(step.rss_idle),
                per_new,
                per_sub,
            ]
        )
    return [
        f"server memory (uvicorn process VmRSS; {_mib(baseline)} MiB with no subscription, "
        f"after set-up): per idle subscription = growth ÷ subscriptions, measured after "
        f"{IDLE_SECONDS:g} s idle",
        *aligned(rows),
    ]


def _target_lines(steps: Sequence[Step]) -> list[str]:
    lines = [f"target: p99 ≤ {TARGET_P99_MS:.0f} ms on the embedded engine"]
    for step in steps:
        p99 = Latencies.of(step.delivered.tally.from_answer).p99
        met = not math.isnan(p99) and p99 <= TARGET_P99_MS and step.delivered.lost == 0
        verdict = "meets" if met else "MISSES"
        lines.append(
            f"  {step.size} subscribers: p99 {_ms(p99)} ms, {step.delivered.lost} lost ({verdict})"
        )
    return lines
