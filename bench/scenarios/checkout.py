"""checkout: staff at many tills scan members' voucher QR codes — `voucherCheck`, then
`voucherRedeem` of the same payload — every checkout a voucher of its own, against the raw
ceiling of the same database work on the same database server; and the QR render times.

Set-up through the API as an operator would: an administrator (`kizuna create-admin`),
STORES stores, STAFF staff accounts spread over them (each signed in: the load's bearer
tokens), `--members` members, and ACTIVE vouchers (€5 off, every store, both channels)
issued with `voucherIssue`, a few at a time; each voucher's QR payload comes from the
`voucherIssue` answer (`voucher { qr { payload } }`, signed as scanner.payload signs it).

Vouchers are used once, so the bench issues exactly what each phase needs: the open loop's
`rate × duration`, two warm-up sets, then — sized from the warm-up throughputs — the closed
loops' sets. A closed loop that runs out of vouchers before its time ends early (said in
the notes). Every measured phase then runs on the same `vouchers` collection, unchanged in
size (redemptions only update). The raw ceiling (bench.raw_checkout) redeems vouchers of
its own from that collection with the minimal PyMongo work, first; then ours, closed loop
and open loop; before each, the bench waits for the server and its database to be idle.
Targets: open loop p99 ≤ 50 ms at 100 checkouts/s without errors; closed loop ours ≥ 0.7 ×
raw. The QR render times (scanner.qr, on real payloads) are taken in this process before
the load, while the server idles.
"""

import asyncio
import itertools
import math
import secrets
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from strawberry import relay

from bench.cpu import CpuSample, CpuUse
from bench.database import open_store
from bench.graphql import GRAPHQL_PATH, BenchError, GraphQLRequest, execute, failure_of
from bench.load import Operation, PhaseResult, open_schedule
from bench.measure import SETTLE_SECONDS, PhaseReport, load_client, run_phase
from bench.members import FAST_SIGN_UP_ENV, SignedInMember, sign_up_members
from bench.options import BenchOptions, LoadOptions
from bench.progress import say
from bench.raw_checkout import SUMMARY as RAW_SUMMARY
from bench.raw_checkout import CallLatencies, RawTill, VoucherRef, raw_phase
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target, format_mix
from bench.servers import Target, kizuna_server
from bench.shop import SIGN_IN, create_admin_with_cli
from bench.stats import percentile
from scanner import codes
from scanner.collections import SCAN_AUDIT, VOUCHERS
from scanner.qr import QrRenderer, qr_version, render_png, render_svg
from store import Store

DEFAULT_RATE = 100.0
DEFAULT_MEMBERS = 20
STORES = 4
STAFF = 20
SETUP_CONCURRENCY = 8
ISSUE_ATTEMPTS = 3
AMOUNT_OFF = 500  # €5 off every voucher
ORDER_TOTAL = 4200  # €42.00 every order
WARMUP_VOUCHERS = 100
CLOSED_MARGIN = 1.25  # closed-loop vouchers: warm-up throughput × duration × this
QUIET_CORES = 0.1  # server + database CPU below which they count as idle
QUIET_PROBE_SECONDS = 0.5
QUIET_MAX_SECONDS = 20.0
TARGET_P99_MS = 50.0
TARGET_RATIO = 0.7
# Tokens must outlive the set-up and every phase (the default is 15 minutes).
SERVER_ENV = {**FAST_SIGN_UP_ENV, "KIZUNA_ACCESS_TOKEN_TTL_SECONDS": "86400"}

STORE_CREATE = """mutation Store($input: StoreCreateInput!) {
  storeCreate(input: $input) { store { id } errors { code message field } } }"""
STAFF_CREATE = """mutation Staff($input: StaffCreateInput!) {
  staffCreate(input: $input) { staff { id } errors { code message field } } }"""
VOUCHER_ISSUE = """mutation Issue($input: VoucherIssueInput!) {
  voucherIssue(input: $input) { voucher { id code qr { payload } } replayed
    errors { code message field } } }"""
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


@dataclass(frozen=True, slots=True)
class Shop:
    admin_token: str
    cashiers: list[Cashier]
    members: list[SignedInMember]


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
        failure = await _post(self._client, ticket.check, _check_problem)
        if failure is not None:
            return f"voucherCheck: {failure}"
        checked = loop.time()
        self.calls.add("check", checked - started)
        failure = await _post(self._client, ticket.redeem, _redeem_problem)
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


def _check_problem(data: dict[str, Any]) -> str | None:
    payload = data["voucherCheck"]
    if payload["redeemable"]:
        return None
    reason = payload["reason"] or {}
    return f"not redeemable: {reason.get('code')}: {reason.get('message')}"


def _redeem_problem(data: dict[str, Any]) -> str | None:
    payload = data["voucherRedeem"]
    if payload["replayed"]:
        return "replayed: the voucher was redeemed before with this key"
    status = (payload["voucher"] or {}).get("status")
    if status != "REDEEMED" or payload["discount"] != AMOUNT_OFF:
        return f"unexpected answer: status {status}, discount {payload['discount']}"
    return None


# --- set-up -----------------------------------------------------------------------------


async def _open_shop(target: Target, client: httpx.AsyncClient, members: int, run: str) -> Shop:
    """An administrator (CLI), STORES stores, STAFF signed-in staff and `members` members."""
    email = f"bench-admin-{run.lower()}@example.com"
    password = f"Bench-{secrets.token_urlsafe(16)}"
    await create_admin_with_cli(target, email, "Bench Admin", password)
    admin = await _sign_in(client, email, password)
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
            await execute(
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
            token = await _sign_in(client, staff_email, password)
        return Cashier(
            token=token,
            store_id=relay.GlobalID.from_id(store_id).node_id,
            device_id=f"bench-till-{index}",
        )

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(cashier(index)) for index in range(STAFF)]
    cashiers = [task.result() for task in tasks]
    return Shop(admin, cashiers, await sign_up_members(client, members))


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> str:
    answer = (
        await execute(
            client, GraphQLRequest.of(SIGN_IN, {"input": {"email": email, "password": password}})
        )
    )["tokenCreate"]
    if not answer["accessToken"]:
        raise BenchError(f"{email} could not sign in: {answer['errors']}")
    token: str = answer["accessToken"]
    return token


class Issuer:
    """Issues vouchers through `voucherIssue`, a few at a time, members round-robin; each
    with its own idempotency key, so a request the server failed is simply sent again."""

    def __init__(self, client: httpx.AsyncClient, shop: Shop, run: str) -> None:
        self._client = client
        self._shop = shop
        self._run = run
        self._numbers = itertools.count()
        self.retried: list[str] = []
        self.seconds = 0.0
        self.issued = 0

    async def issue(self, count: int) -> list[IssuedVoucher]:
        started = time.monotonic()
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one(number: int) -> IssuedVoucher:
            async with gate:
                return await self._one(number)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(next(self._numbers))) for _ in range(count)]
        self.seconds += time.monotonic() - started
        self.issued += count
        return [task.result() for task in tasks]

    async def _one(self, number: int) -> IssuedVoucher:
        member = self._shop.members[number % len(self._shop.members)]
        request = GraphQLRequest.of(
            VOUCHER_ISSUE,
            {
                "input": {
                    "member": {"id": member.id},
                    "kind": "AMOUNT_OFF",
                    "title": "€5 off",
                    "amountOff": AMOUNT_OFF,
                    "currency": "EUR",
                    "validDays": 30,
                    "idempotencyKey": f"bench-{self._run}-{number}",
                }
            },
            token=self._shop.admin_token,
        )
        for attempt in range(1, ISSUE_ATTEMPTS + 1):
            try:
                voucher = (await execute(self._client, request))["voucherIssue"]["voucher"]
                break
            except BenchError as error:
                text = str(error)
                if attempt == ISSUE_ATTEMPTS or not (
                    text.startswith("HTTP 5") or "Internal server error" in text
                ):
                    raise
                self.retried.append(text[:160])
        ref = VoucherRef(
            id=relay.GlobalID.from_id(voucher["id"]).node_id, code=codes.normalize(voucher["code"])
        )
        return IssuedVoucher(ref=ref, payload=voucher["qr"]["payload"])


def _tickets(
    vouchers: Sequence[IssuedVoucher], cashiers: Sequence[Cashier], keys: "itertools.count[int]"
) -> list[Ticket]:
    """The check and redeem requests of each voucher, by cashiers in turn."""
    tickets = []
    for voucher in vouchers:
        number = next(keys)
        cashier = cashiers[number % len(cashiers)]
        tickets.append(
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
    return tickets


async def _verify(client: httpx.AsyncClient, ticket: Ticket, again: Ticket) -> str:
    """A first checkout goes through, and the same voucher again is refused: the load
    measures the real path. A line saying so."""
    checked = (await execute(client, ticket.check))["voucherCheck"]
    redeemed = (await execute(client, ticket.redeem))["voucherRedeem"]
    problem = _check_problem({"voucherCheck": checked}) or _redeem_problem(
        {"voucherRedeem": redeemed}
    )
    if problem is not None:
        raise BenchError(f"a first checkout failed: {problem}")
    response = await client.post(
        GRAPHQL_PATH, content=again.redeem.body, headers=again.redeem.headers
    )
    errors = response.json()["data"]["voucherRedeem"]["errors"]
    if not errors or errors[0]["code"] != "ALREADY_REDEEMED":
        raise BenchError(f"a second redemption of a voucher was not refused: {errors}")
    return (
        f"verified: a first checkout redeems (discount {redeemed['discount']}), a second "
        "redemption of the same voucher (another key) is refused ALREADY_REDEEMED"
    )


# --- loops over a finite set of vouchers -------------------------------------------------


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


# --- the scenario ------------------------------------------------------------------------


@dataclass(slots=True)
class Observed:
    """What the notes need besides the phases."""

    calls: dict[str, CallLatencies] = field(default_factory=dict)
    sizes: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = field(
        default_factory=dict
    )
    ran_out: list[str] = field(default_factory=list)


async def run(options: BenchOptions) -> Report:
    report = Report(title="checkout")
    load = options.load
    async with (
        kizuna_server(options, extra_env=SERVER_ENV) as ours,
        load_client(ours, max(load.connections, load.concurrency)) as client,
        open_store(ours) as store,
    ):
        report.setup.append(describe_target(ours))
        shop, issuer, vouchers = await _set_up(ours, client, options, report)
        await _quiet(ours)
        say("QR render times (this process, server idle)")
        qr_notes = await qr_figures([v.payload for v in vouchers])
        observed = Observed()
        report.phases += await _load(ours, client, store, shop, issuer, vouchers, load, observed)
    warm = _warm_vouchers(load)
    report.setup += [
        f"vouchers: {issuer.issued} issued through voucherIssue ({AMOUNT_OFF / 100:.2f} EUR "
        f"off, every store, 30 days) in {issuer.seconds:.1f} s, {SETUP_CONCURRENCY} at a "
        "time, members round-robin; QR payloads from the answers",
        f"checkout: voucherCheck {{payload, deviceId}} then voucherRedeem {{payload, "
        f"orderReference, orderTotal {ORDER_TOTAL}, idempotencyKey, deviceId}}, a staff "
        "bearer token, each voucher once",
        f"vouchers per phase: warm-ups {warm} each, closed loops sized from the warm-up "
        f"throughput × {load.duration:g} s × {CLOSED_MARGIN} (+{load.concurrency}), open "
        f"loop {open_total(load)}",
        f"raw ceiling (same database server, same `vouchers` collection, vouchers of its own, "
        f"closed loop of {load.concurrency} workers): {RAW_SUMMARY}",
        describe_load(load),
    ]
    if issuer.retried:
        report.setup.append(
            f"warning: {len(issuer.retried)} voucherIssue request(s) failed on "
            f"the server and were sent again; first: {issuer.retried[0]}"
        )
    report.notes += _notes(report.phases, observed, load) + qr_notes
    return report


def _warm_vouchers(load: LoadOptions) -> int:
    return max(WARMUP_VOUCHERS, 4 * load.concurrency)


async def _set_up(
    ours: Target, client: httpx.AsyncClient, options: BenchOptions, report: Report
) -> tuple[Shop, Issuer, list[IssuedVoucher]]:
    """The shop, then the vouchers of the warm-ups and the open loop, checked by a first
    checkout (which uses one more)."""
    say(
        f"ours at {ours.base_url}: admin (kizuna create-admin), {STORES} stores, "
        f"{STAFF} staff, {options.members} members"
    )
    started = time.monotonic()
    run_id = secrets.token_hex(3).upper()
    shop = await _open_shop(ours, client, options.members, run_id)
    report.setup.append(
        f"set-up in {time.monotonic() - started:.1f} s: an administrator from `kizuna "
        f"create-admin`, {STORES} stores, {STAFF} staff accounts spread over them (signed "
        f"in; checkouts go to them in turn, each with its own device id), "
        f"{len(shop.members)} members"
    )
    issuer = Issuer(client, shop, run_id)
    count = open_total(options.load) + 2 * _warm_vouchers(options.load) + 1
    say(f"issuing {count} vouchers through voucherIssue")
    vouchers = await issuer.issue(count)
    # The same voucher twice, with two keys: the second redemption must be refused.
    first, again = _tickets([vouchers[0]] * 2, shop.cashiers, itertools.count(-2))
    report.setup.append(await _verify(client, first, again))
    return shop, issuer, vouchers[1:]


async def _load(
    ours: Target,
    client: httpx.AsyncClient,
    store: Store,
    shop: Shop,
    issuer: Issuer,
    vouchers: list[IssuedVoucher],
    load: LoadOptions,
    observed: Observed,
) -> list[PhaseReport]:
    """Warm-ups, the closed loops' vouchers (sized from them), then the measured phases."""
    warm = _warm_vouchers(load)
    keys = itertools.count()
    till = Till(client)
    raw = RawTill(store, [], store_id=shop.cashiers[0].store_id, order_total=ORDER_TOTAL)
    till.add(_tickets(vouchers[:warm], shop.cashiers, keys))
    raw.add(v.ref for v in vouchers[warm : 2 * warm])
    rates = await _warm_up(ours, till, raw, load)
    sizes = [math.ceil(r * load.duration * CLOSED_MARGIN) + load.concurrency for r in rates]
    say(
        f"issuing {sum(sizes)} vouchers for the closed loops (warm-up: ours {rates[0]:.1f}/s, "
        f"raw {rates[1]:.1f}/s)"
    )
    till.add(_tickets(await issuer.issue(sizes[0]), shop.cashiers, keys))
    raw.add(v.ref for v in await issuer.issue(sizes[1]))
    return await _measure(
        ours,
        client,
        store,
        till,
        raw,
        load,
        observed,
        _tickets(vouchers[2 * warm :], shop.cashiers, keys),
    )


async def _warm_up(
    ours: Target, till: Till, raw: RawTill, load: LoadOptions
) -> tuple[float, float]:
    """Warm both up (not reported); their throughputs size the closed loops' voucher sets.
    With --warmup 0 a one-second calibration still runs."""
    rates = []
    for name, target in (("ours", till), ("raw", raw)):
        await _quiet(ours)
        say(f"warm-up: {name}")
        result = await closed_checkouts(
            target.checkout,
            target.__len__,
            concurrency=load.concurrency,
            duration=load.warmup or 1.0,
        )
        if result.errors:
            raise BenchError(f"{name} failed in the warm-up: {result.error_samples.most_common(1)}")
        rates.append(result.throughput)
        target.calls = CallLatencies()
        await asyncio.sleep(SETTLE_SECONDS)
    return rates[0], rates[1]


async def _measure(
    ours: Target,
    client: httpx.AsyncClient,
    store: Store,
    till: Till,
    raw: RawTill,
    load: LoadOptions,
    observed: Observed,
    open_tickets: list[Ticket],
) -> list[PhaseReport]:
    """The raw ceiling's closed loop, then ours: closed loop, open loop."""
    phases = []

    async def framed(
        name: str,
        phase: Callable[[], Awaitable[PhaseReport]],
        calls: Callable[[], CallLatencies],
        left: Callable[[], int],
    ) -> None:
        before = await _sizes(store)
        await _quiet(ours)
        say(f"loading {name}")
        report = await phase()
        observed.sizes[f"{report.target} {report.result.mode}"] = (before, await _sizes(store))
        observed.calls[f"{report.target} {report.result.mode}"] = calls()
        if report.result.closed_loop and left() == 0 and report.result.elapsed < load.duration:
            observed.ran_out.append(
                f"{report.target} {report.result.mode} ran out of vouchers after "
                f"{report.result.elapsed:.1f} s (its throughput is over that time)"
            )
        phases.append(report)
        await asyncio.sleep(SETTLE_SECONDS)

    def closed(checkout: Checkout, left: Callable[[], int]) -> Callable[[], Awaitable[PhaseResult]]:
        return lambda: closed_checkouts(
            checkout, left, concurrency=load.concurrency, duration=load.duration
        )

    def fresh(holder: Till | RawTill) -> Callable[[], CallLatencies]:
        def take() -> CallLatencies:
            calls, holder.calls = holder.calls, CallLatencies()
            return calls

        return take

    await framed(
        "raw ceiling",
        lambda: raw_phase(ours, store, closed(raw.checkout, raw.__len__)),
        fresh(raw),
        raw.__len__,
    )
    await framed(
        "ours, closed loop",
        lambda: run_phase(ours, client, load, closed(till.checkout, till.__len__)),
        fresh(till),
        till.__len__,
    )
    till.add(open_tickets)
    await framed(
        "ours, open loop",
        lambda: run_phase(
            ours,
            client,
            load,
            lambda: open_checkouts(till.checkout, rate=load.rate, duration=load.duration),
        ),
        fresh(till),
        till.__len__,
    )
    return phases


async def _quiet(target: Target) -> None:
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


async def _sizes(store: Store) -> tuple[int, int, int]:
    """Vouchers in all, ACTIVE vouchers, scan audit records."""
    vouchers = store.collection(VOUCHERS)
    return (
        await vouchers.count_documents({}),
        await vouchers.count_documents({"status": "ACTIVE"}),
        await store.collection(SCAN_AUDIT).count_documents({}),
    )


def _ms(samples: Sequence[float], digits: int = 1) -> list[str]:
    """p50, p95, p99 and max of `samples` (seconds), in milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return ["-"] * 4
    picked = [percentile(ordered, q) for q in (0.50, 0.95, 0.99)] + [ordered[-1]]
    return [f"{value * 1000:.{digits}f}" for value in picked]


def _notes(phases: list[PhaseReport], observed: Observed, load: LoadOptions) -> list[str]:
    notes = [
        "latency by call, ms (successful ones; `checkout` is the row above: from its "
        "scheduled time in the open loop; each call from its own send)",
        f"  {'row':<22} {'call':<20} {'ok':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}",
    ]
    for phase in phases:
        row = f"{phase.target} {phase.result.mode}"
        lines = [("checkout", phase.result.latencies)]
        lines += sorted(observed.calls[row].by_call.items(), key=lambda item: item[0] != "check")
        for call, samples in lines:
            cells = "".join(f" {cell:>7}" for cell in _ms(samples))
            notes.append(f"  {row:<22} {call:<20} {len(samples):>6}{cells}")
    notes.append(
        "db commands per checkout by name (raw: the raw client's own counter), and "
        "vouchers (all / ACTIVE) and scan audit records at the row's start → end"
    )
    for phase in phases:
        row = f"{phase.target} {phase.result.mode}"
        trips = "-" if phase.round_trips_per_op is None else f"{phase.round_trips_per_op:.2f}"
        (v0, a0, s0), (v1, a1, s1) = observed.sizes[row]
        notes.append(
            f"  {row:<22} {trips:>5}  {format_mix(phase.commands_per_op):<44} "
            f"{v0}/{a0} → {v1}/{a1}, audit {s0} → {s1}"
        )
    notes += [f"warning: {line}" for line in observed.ran_out]
    closed = {p.target: p for p in phases if p.result.closed_loop}
    ours, raw = closed["ours"].result.throughput, closed["raw"].result.throughput
    if raw > 0:
        verdict = "meets" if ours / raw >= TARGET_RATIO else "BELOW"
        notes.append(
            f"ratio ours/raw, closed-loop throughput: {ours / raw:.2f} ({ours:.1f} / "
            f"{raw:.1f} checkouts per s) ({verdict} the target of {TARGET_RATIO:.2f})"
        )
    opened = next(p for p in phases if not p.result.closed_loop)
    p99 = percentile(sorted(opened.result.latencies), 0.99) * 1000
    kept_up = opened.result.errors == 0 and opened.result.throughput >= 0.98 * load.rate
    if load.rate >= DEFAULT_RATE:
        verdict = "meets" if kept_up and p99 <= TARGET_P99_MS else "MISSES"
    else:
        verdict = "for reference"
    notes.append(
        f"open loop at {load.rate:g} checkouts/s: {opened.result.throughput:.1f}/s achieved, "
        f"{opened.result.errors} errors, p99 {p99:.1f} ms ({verdict}; target: p99 ≤ "
        f"{TARGET_P99_MS:g} ms at {DEFAULT_RATE:g}/s without errors)"
    )
    if ours < load.rate:
        notes.append(
            f"  ours' closed-loop maximum ({ours:.1f}/s) is below the offered rate: "
            "the open loop is overloaded, its latency is mostly queueing; try --rate "
            f"{max(1, math.floor(ours * 0.7))} for the latency at a load it sustains"
        )
    return notes


# --- QR images ---------------------------------------------------------------------------

QR_SAMPLES = 100
LAG_RENDERS = 40
TICK_SECONDS = 0.001


def _timed[T](render: Callable[[str], T], payload: str) -> float:
    started = time.perf_counter()
    render(payload)
    return time.perf_counter() - started


async def qr_figures(payloads: Sequence[str]) -> list[str]:
    """Render times of real voucher payloads in this process: scanner.qr `render_png` and
    `render_svg` cold, QrRenderer misses and hits, and what a render costs the event loop
    through QrRenderer (its thread) against rendering on the loop. Lines for the notes."""
    sample = list(payloads[:QR_SAMPLES])
    render_png(sample[0][::-1])  # first use: imports and module-level tables
    rows: list[tuple[str, list[float]]] = [
        ("render_png, cold", [_timed(render_png, p) for p in sample]),
        ("render_svg, cold", [_timed(render_svg, p) for p in sample]),
    ]
    renderer, misses, loop_cpu = QrRenderer(), [], []
    for payload in sample:
        cpu, started = time.thread_time(), time.perf_counter()
        await renderer.png(payload)
        misses.append(time.perf_counter() - started)
        loop_cpu.append(time.thread_time() - cpu)
    hits = []
    for payload in sample:
        started = time.perf_counter()
        await renderer.png(payload)
        hits.append(time.perf_counter() - started)
    rows += [
        ("QrRenderer.png miss", misses),
        ("QrRenderer.png hit", hits),
        ("  loop-thread CPU/miss", loop_cpu),
    ]
    rows += [
        ("1 ms timer lateness, idle loop", await _lateness(lambda: asyncio.sleep(0.5))),
        (
            f"  … during {LAG_RENDERS} QrRenderer misses",
            await _lateness(lambda: _through_renderer(sample[:LAG_RENDERS])),
        ),
    ]
    lengths = sorted(len(p) for p in sample)
    lines = [
        f"QR images of {len(sample)} real voucher payloads ({lengths[0]}–{lengths[-1]} "
        f"characters, QR version {qr_version(sample[0])}, level M), rendered in this process "
        "while the server idles; ms",
        f"  {'what':<36} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}",
    ]
    for name, samples in rows:
        cells = "".join(f" {cell:>7}" for cell in _ms(samples, digits=2))
        lines.append(f"  {name:<36} {len(samples):>5}{cells}")
    blocked = sum(loop_cpu) / len(loop_cpu) * 1000
    cold = percentile(sorted(rows[0][1]), 0.5) * 1000
    lines.append(
        f"  event loop blocked per render: {blocked:.2f} ms (mean) through QrRenderer, which "
        f"renders in a thread, against {cold:.1f} ms (p50) when rendering on the loop; "
        "meanwhile other tasks run late by up to the GIL switch interval "
        f"({sys.getswitchinterval() * 1000:g} ms) each time they wake, while a pure-Python "
        "render holds the GIL (the timer rows)"
    )
    return lines


async def _lateness(work: Callable[[], Awaitable[object]]) -> list[float]:
    """How late a 1 ms timer fires, again and again, while `work` runs."""
    late: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(TICK_SECONDS)
            late.append(max(0.0, time.perf_counter() - started - TICK_SECONDS))

    task = asyncio.create_task(ticker())
    await asyncio.sleep(10 * TICK_SECONDS)
    await work()
    done.set()
    await task
    return late


async def _through_renderer(payloads: Sequence[str]) -> None:
    renderer = QrRenderer()
    for payload in payloads:
        await renderer.png(payload)
