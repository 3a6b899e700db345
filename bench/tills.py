"""Checkouts at a till, shared by `checkout`, `scale` and `soak`: the stores and staff
(each signed in: a till's bearer token), the `voucherCheck` + `voucherRedeem` of one
voucher's QR payload as a till sends them, judged the way a cashier would (redeemable, then
REDEEMED with the €5 discount), and the loops over a finite set of vouchers, each used once.
"""

import asyncio
import itertools
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from strawberry import relay

from bench.cpu import CpuSample, CpuUse
from bench.graphql import GRAPHQL_PATH, GraphQLRequest, execute, failure_of
from bench.load import Operation, PhaseResult, open_schedule
from bench.members import FAST_SIGN_UP_ENV, sign_in
from bench.options import LoadOptions
from bench.progress import say
from bench.raw_checkout import CallLatencies, VoucherRef
from bench.servers import Target

STORES = 4
STAFF = 20
SETUP_CONCURRENCY = 8
AMOUNT_OFF = 500  # €5 off every voucher
ORDER_TOTAL = 4200  # €42.00 every order
WARMUP_VOUCHERS = 100
CLOSED_MARGIN = 1.25  # closed-loop vouchers: warm-up throughput × duration × this
QUIET_CORES = 0.1  # server + database CPU below which they count as idle
QUIET_PROBE_SECONDS = 0.5
QUIET_MAX_SECONDS = 20.0
# Tokens must outlive the set-up and every phase (the default is 15 minutes).
SERVER_ENV = {**FAST_SIGN_UP_ENV, "KIZUNA_ACCESS_TOKEN_TTL_SECONDS": "86400"}

STORE_CREATE = """mutation Store($input: StoreCreateInput!) {
  storeCreate(input: $input) { store { id } errors { code message field } } }"""
STAFF_CREATE = """mutation Staff($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id } errors { code message field } } }"""
CHECK = """mutation Check($input: VoucherCheckInput!) { voucherCheck(input: $input) {
  redeemable reason { code message }
  voucher { id code status kind title amountOff percentOff currency minOrderTotal expiresAt
            member { firstName } }
  errors { code message field } } }"""
REDEEM = """mutation Redeem($input: VoucherRedeemInput!) { voucherRedeem(input: $input) {
  replayed discount
  voucher { id status redemption { redeemedAt orderReference orderTotal discount } }
  errors { code message field } } }"""


@dataclass(frozen=True, slots=True)
class Cashier:
    token: str
    store_id: str
    """The store's database id (a staff account is bound to one store)."""
    device_id: str
    staff_id: str = ""
    """The staff account's database id (the actor of its scans)."""


@dataclass(frozen=True, slots=True)
class IssuedVoucher:
    ref: VoucherRef
    payload: str
    """The signed QR payload, as the member's app shows it."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """One checkout, encoded up front: the check and the redemption of one voucher."""

    check: GraphQLRequest
    redeem: GraphQLRequest


class Till:
    """Ours: `checkout()` checks, then redeems, the next prepared voucher (each once)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._tickets: deque[Ticket] = deque()
        self.calls = CallLatencies()

    def __len__(self) -> int:
        return len(self._tickets)

    def add(self, tickets: Iterable[Ticket]) -> None:
        self._tickets.extend(tickets)

    async def checkout(self) -> str | None:
        ticket = self._tickets.popleft()  # before any await: workers never share one
        loop = asyncio.get_running_loop()
        started = loop.time()
        failure = await _post(self._client, ticket.check, check_problem)
        if failure is not None:
            return f"voucherCheck: {failure}"
        checked = loop.time()
        self.calls.add("check", checked - started)
        failure = await _post(self._client, ticket.redeem, redeem_problem)
        if failure is not None:
            return f"voucherRedeem: {failure}"
        self.calls.add("redeem", loop.time() - checked)
        return None


async def _post(
    client: httpx.AsyncClient,
    request: GraphQLRequest,
    problem: Callable[[dict[str, Any]], str | None],
) -> str | None:
    try:
        response = await client.post(GRAPHQL_PATH, content=request.body, headers=request.headers)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return failure_of(response) or problem(response.json()["data"])


def check_problem(data: dict[str, Any]) -> str | None:
    payload = data["voucherCheck"]
    if payload["redeemable"]:
        return None
    reason = payload["reason"] or {}
    return f"not redeemable: {reason.get('code')}: {reason.get('message')}"


def redeem_problem(data: dict[str, Any]) -> str | None:
    payload = data["voucherRedeem"]
    if payload["replayed"]:
        return "replayed: the voucher was redeemed before with this key"
    status = (payload["voucher"] or {}).get("status")
    if status != "REDEEMED" or payload["discount"] != AMOUNT_OFF:
        return f"unexpected answer: status {status}, discount {payload['discount']}"
    return None


async def open_tills(client: httpx.AsyncClient, admin: str, run: str) -> list[Cashier]:
    """STORES stores and STAFF staff accounts spread over them, each signed in, created by
    the administrator whose bearer token is `admin`; `run` keeps codes and emails unique."""
    password = f"Bench-{secrets.token_urlsafe(16)}"
    store_ids = []
    for index in range(STORES):
        created = await execute(
            client,
            GraphQLRequest.of(
                STORE_CREATE,
                {
                    "input": {
                        "code": f"B{run}-{index}",
                        "name": f"Bench store {index}",
                        "timezone": "UTC",
                    }
                },
                token=admin,
            ),
        )
        store_ids.append(created["storeCreate"]["store"]["id"])
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def cashier(index: int) -> Cashier:
        store_id = store_ids[index % STORES]
        staff_email = f"bench-staff-{run.lower()}-{index}@example.com"
        async with gate:
            staff = await execute(
                client,
                GraphQLRequest.of(
                    STAFF_CREATE,
                    {
                        "input": {
                            "email": staff_email,
                            "password": password,
                            "name": f"Bench Staff {index}",
                            "store": store_id,
                        }
                    },
                    token=admin,
                ),
            )
            token = await sign_in(client, staff_email, password)
        return Cashier(
            token=token,
            store_id=relay.GlobalID.from_id(store_id).node_id,
            device_id=f"bench-till-{index}",
            staff_id=relay.GlobalID.from_id(staff["staffCreate"]["staff"]["id"]).node_id,
        )

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(cashier(index)) for index in range(STAFF)]
    return [task.result() for task in tasks]


def tickets(
    vouchers: Sequence[IssuedVoucher], cashiers: Sequence[Cashier], keys: "itertools.count[int]"
) -> list[Ticket]:
    """The check and redeem requests of each voucher, by cashiers in turn."""
    made = []
    for voucher in vouchers:
        number = next(keys)
        cashier = cashiers[number % len(cashiers)]
        made.append(
            Ticket(
                check=GraphQLRequest.of(
                    CHECK,
                    {
                        "input": {
                            "payload": voucher.payload,
                            "deviceId": cashier.device_id,
                        }
                    },
                    token=cashier.token,
                ),
                redeem=GraphQLRequest.of(
                    REDEEM,
                    {
                        "input": {
                            "payload": voucher.payload,
                            "orderReference": f"BENCH-{number}",
                            "orderTotal": ORDER_TOTAL,
                            "idempotencyKey": f"bench-checkout-{number}",
                            "deviceId": cashier.device_id,
                        }
                    },
                    token=cashier.token,
                ),
            )
        )
    return made


type Checkout = Operation


async def closed_checkouts(
    checkout: Checkout, left: Callable[[], int], *, concurrency: int, duration: float
) -> PhaseResult:
    """`concurrency` workers each run `checkout` one after the other until `duration` is up
    or no voucher is `left`; latency from start to end of each checkout."""
    loop = asyncio.get_running_loop()
    result = PhaseResult(mode=f"closed c={concurrency}")
    start = loop.time()
    deadline = start + duration

    async def worker() -> None:
        while loop.time() < deadline and left() > 0:
            sent = loop.time()
            failure = await checkout()
            result.record(loop.time() - sent, failure)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    result.elapsed = loop.time() - start
    return result


def open_total(load: LoadOptions) -> int:
    return max(1, round(load.rate * load.duration))


async def open_checkouts(checkout: Checkout, *, rate: float, duration: float) -> PhaseResult:
    """bench.load's open-loop schedule over whole checkouts (check + redeem)."""
    return await open_schedule(checkout, rate=rate, duration=duration)


async def wait_until_quiet(target: Target) -> None:
    """Wait until the server and its database are idle: the embedded database goes on
    working for a while after a burst of writes (the vouchers just issued), which would
    otherwise land in the next phase. Without the server's pid, a fixed pause."""
    if target.pid is None:
        await asyncio.sleep(QUIET_MAX_SECONDS / 5)
        return
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() < start + QUIET_MAX_SECONDS:
        before = CpuSample.take(target.pid)
        await asyncio.sleep(QUIET_PROBE_SECONDS)
        use = CpuUse.between(before, CpuSample.take(target.pid), QUIET_PROBE_SECONDS)
        if (use.server or 0.0) + (use.db or 0.0) < QUIET_CORES:
            if loop.time() - start > 2 * QUIET_PROBE_SECONDS:
                say(f"waited {loop.time() - start:.1f} s for the server to be idle")
            return
    say(f"warning: the server was still busy after {QUIET_MAX_SECONDS:g} s; loading anyway")
