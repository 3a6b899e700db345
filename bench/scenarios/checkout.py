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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
from strawberry import relay

from bench.database import open_store
from bench.graphql import GRAPHQL_PATH, BenchError, GraphQLRequest, execute
from bench.load import PhaseResult
from bench.measure import SETTLE_SECONDS, PhaseReport, load_client, run_phase
from bench.members import SignedInMember, sign_up_members
from bench.options import BenchOptions, LoadOptions
from bench.progress import say
from bench.raw_checkout import SUMMARY as RAW_SUMMARY
from bench.raw_checkout import CallLatencies, RawTill, VoucherRef, raw_phase
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target, format_mix
from bench.servers import Target, kizuna_server
from bench.shop import SIGN_IN, create_admin_with_cli
from bench.stats import percentile
from bench.tills import (
    AMOUNT_OFF,
    CLOSED_MARGIN,
    ORDER_TOTAL,
    SERVER_ENV,
    SETUP_CONCURRENCY,
    STAFF,
    STORES,
    WARMUP_VOUCHERS,
    Cashier,
    Checkout,
    IssuedVoucher,
    Ticket,
    Till,
    check_problem,
    closed_checkouts,
    open_checkouts,
    open_tills,
    open_total,
    redeem_problem,
    tickets,
    wait_until_quiet,
)
from events.audit import AUDIT_LOG as SCAN_AUDIT
from scanner import codes
from scanner.collections import VOUCHERS
from scanner.qr import QrRenderer, qr_version, render_png, render_svg
from store import Store

DEFAULT_RATE = 100.0
DEFAULT_MEMBERS = 20
ISSUE_ATTEMPTS = 3
TARGET_P99_MS = 50.0
TARGET_RATIO = 0.7

VOUCHER_ISSUE = """mutation Issue($input: VoucherIssueInput!) {
  voucherIssue(input: $input) { voucher { id code qr { payload } } replayed
    errors { code message field } } }"""


@dataclass(frozen=True, slots=True)
class Shop:
    admin_token: str
    cashiers: list[Cashier]
    members: list[SignedInMember]


# --- set-up -----------------------------------------------------------------------------


async def _open_shop(target: Target, client: httpx.AsyncClient, members: int, run: str) -> Shop:
    """An administrator (CLI), STORES stores, STAFF signed-in staff and `members` members."""
    email = f"bench-admin-{run.lower()}@example.com"
    password = f"Bench-{secrets.token_urlsafe(16)}"
    await create_admin_with_cli(target, email, "Bench Admin", password)
    admin = await _sign_in(client, email, password)
    cashiers = await open_tills(client, admin, run)
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


async def _verify(client: httpx.AsyncClient, ticket: Ticket, again: Ticket) -> str:
    """A first checkout goes through, and the same voucher again is refused: the load
    measures the real path. A line saying so."""
    checked = (await execute(client, ticket.check))["voucherCheck"]
    redeemed = (await execute(client, ticket.redeem))["voucherRedeem"]
    problem = check_problem({"voucherCheck": checked}) or redeem_problem(
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
        await wait_until_quiet(ours)
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
    first, again = tickets([vouchers[0]] * 2, shop.cashiers, itertools.count(-2))
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
    till.add(tickets(vouchers[:warm], shop.cashiers, keys))
    raw.add(v.ref for v in vouchers[warm : 2 * warm])
    rates = await _warm_up(ours, till, raw, load)
    sizes = [math.ceil(r * load.duration * CLOSED_MARGIN) + load.concurrency for r in rates]
    say(
        f"issuing {sum(sizes)} vouchers for the closed loops (warm-up: ours {rates[0]:.1f}/s, "
        f"raw {rates[1]:.1f}/s)"
    )
    till.add(tickets(await issuer.issue(sizes[0]), shop.cashiers, keys))
    raw.add(v.ref for v in await issuer.issue(sizes[1]))
    return await _measure(
        ours,
        client,
        store,
        till,
        raw,
        load,
        observed,
        tickets(vouchers[2 * warm :], shop.cashiers, keys),
    )


async def _warm_up(
    ours: Target, till: Till, raw: RawTill, load: LoadOptions
) -> tuple[float, float]:
    """Warm both up (not reported); their throughputs size the closed loops' voucher sets.
    With --warmup 0 a one-second calibration still runs."""
    rates = []
    for name, target in (("ours", till), ("raw", raw)):
        await wait_until_quiet(ours)
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
        await wait_until_quiet(ours)
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
