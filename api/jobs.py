"""Background jobs run by every server instance (each is safe to run concurrently)."""

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx

import events
from auth.codes import redact_expired
from auth.collections import ACCOUNTS
from auth.erasure import finish_pending_erasures
from events.audit import delete_older_than
from events.personal_data import PersonalData
from events.webhook_delivery import WebhookSender, dispatch
from loyalty.ledger.expiry import expire_due_lots
from loyalty.play.draw_close import close_due_draws
from loyalty.play.leaderboard_prizes import close_due_periods
from loyalty.tiers.moves import reevaluate_ladder, review_due_tiers
from scanner.collections import VOUCHERS
from scanner.gifts import deliver_pending_gifts, grant_birthday_gifts
from store import Store, log_retrying
from store.clock import Clock

log = logging.getLogger("kizuna.jobs")

STAGED_EVENT_COLLECTIONS = (ACCOUNTS, VOUCHERS)
"""Collections whose conditional writes stage their events on the document (events.outbox)."""

JobObserver = Callable[[str, bool], None]
"""Told a background job's name and whether its run succeeded (api.metrics)."""


def _unobserved(job: str, ok: bool) -> None:
    return None


async def _run(
    job: str, work: Callable[[], Awaitable[None]], failure: str, ran: JobObserver
) -> None:
    """One run of a job: a failure is logged and retried at the next round, never fatal."""
    try:
        await work()
    except Exception as error:
        ran(job, False)
        log_retrying(log, failure, error)
    else:
        ran(job, True)


async def expire_audit_records(store: Store, *, clock: Clock, retention: timedelta) -> int:
    """Delete the audit trail's records older than `retention`; returns how many went.
    Every instance may run it at once: a record deleted twice is deleted once."""
    return await delete_older_than(store, clock() - retention)


@contextlib.asynccontextmanager
async def points_expiry(
    store: Store, *, clock: Clock, interval_seconds: int, due: asyncio.Event | None = None,
    audit_retention: timedelta = timedelta(days=400),
    personal_data: tuple[PersonalData, ...] = (),
    ran: JobObserver = _unobserved,
) -> AsyncIterator[None]:
    """Expire due lots, review tiers whose review date has passed, move members up after a
    change of the tiers, give today's birthday gifts, issue referral vouchers waiting in
    the outbox, publish events a crash left staged on documents and delete audit records
    older than `audit_retention` and finish erasures a crash interrupted (`personal_data`),
    every
    `interval_seconds` (0 disables) while the server runs, and at once whenever `due` is
    set. `ran` is told each job's name and whether it succeeded."""
    if interval_seconds <= 0:
        yield
        return

    async def expire() -> None:
        run = await expire_due_lots(store, clock=clock)
        if run.lots_expired:
            log.info("expired %d points in %d lots", run.points_expired, run.lots_expired)

    async def review_tiers() -> None:
        reviewed = await review_due_tiers(store, clock=clock)
        if reviewed:
            log.info("reviewed the tiers of %d members", reviewed)
        moved = await reevaluate_ladder(store, clock=clock)
        if moved:
            log.info("the tiers changed: %d members moved up", moved)

    async def gifts() -> None:
        given = await grant_birthday_gifts(store, clock=clock)
        issued = await deliver_pending_gifts(store, clock=clock)
        if given or issued:
            log.info("gave %d birthday gifts, issued %d referral vouchers", given, issued)

    async def draws() -> None:
        closed = await close_due_draws(store, clock=clock)
        if closed:
            log.info("closed %d prize draws", len(closed))

    async def leaderboards() -> None:
        closed = await close_due_periods(store, clock=clock)
        if closed.periods:
            issued = await deliver_pending_gifts(store, clock=clock)
            log.info("closed %d leaderboard periods: %d prizes (%d vouchers issued)",
                     closed.periods, closed.prizes, issued)

    async def staged_events() -> None:
        stranded = await events.publish_stranded(store, STAGED_EVENT_COLLECTIONS)
        if stranded:
            log.info("published the staged events of %d documents", stranded)

    async def expired_codes() -> None:
        blanked = await redact_expired(store, now=clock())
        if blanked:
            log.info("blanked the codes of %d expired one-time codes' events", blanked)

    async def audit_records() -> None:
        deleted = await expire_audit_records(store, clock=clock, retention=audit_retention)
        if deleted:
            log.info("deleted %d audit records past their retention", deleted)

    async def erasures() -> None:
        finished = await finish_pending_erasures(store, personal_data, clock=clock)
        if finished:
            log.info("finished %d interrupted erasures", finished)

    jobs: list[tuple[str, Callable[[], Awaitable[None]], str]] = [
        ("points_expiry", expire, "points expiry failed"),
        ("tier_review", review_tiers, "tier review failed"),
        ("draws", draws, "closing prize draws failed"),
        ("gifts", gifts, "gifts failed"),
        ("leaderboards", leaderboards, "closing leaderboard periods failed"),
        ("staged_events", staged_events, "publishing staged events failed"),
        ("expired_codes", expired_codes, "blanking expired codes failed"),
        ("audit_retention", audit_records, "deleting old audit records failed"),
    ]
    if personal_data:
        jobs.append(("erasures", erasures, "finishing interrupted erasures failed"))

    async def loop() -> None:
        while True:
            for job, work, failure in jobs:
                await _run(job, work, f"{failure}; retrying at the next interval", ran)
            await _wait(due, interval_seconds)

    async with _in_background(loop(), name="points-expiry"):
        yield


@contextlib.asynccontextmanager
async def _in_background(work: Coroutine[Any, Any, None], *, name: str) -> AsyncIterator[None]:
    """Run `work` as a task while the block runs; cancel it at the end."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _wait(due: asyncio.Event | None, seconds: int) -> None:
    """Until the next interval, or until someone says the jobs are due."""
    if due is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(due.wait(), timeout=seconds)
    due.clear()


@functools.cache
def webhook_tls() -> ssl.SSLContext:
    """The webhook sender's TLS settings, exactly httpx's default (certifi's CA bundle),
    built once per process: reading the bundle costs ~35 ms of CPU, which every server
    start paid again (tests start hundreds). A context is safe to share between clients."""
    return httpx.create_ssl_context(trust_env=False)


@contextlib.asynccontextmanager
async def webhook_delivery(
    store: Store, *, clock: Clock, poll_seconds: float, timeout_seconds: float,
    private_targets: bool, ran: JobObserver = _unobserved,
    outcomes: Callable[[str], None] | None = None,
) -> AsyncIterator[None]:
    """Dispatch new events to the webhook endpoints and send what is due, every
    `poll_seconds`, while the server runs (every instance; leases share the work). Give it
    a `Store` of its own: its reads are no request's round trips."""
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                 verify=webhook_tls()) as client:
        sender = WebhookSender(store, clock=clock, allow_private=private_targets,
                               timeout=timeout_seconds, client=client, outcomes=outcomes)

        async def create_deliveries() -> None:
            await dispatch(store, clock=clock)

        async def send() -> None:
            await sender.send_due()

        async def loop() -> None:
            while True:
                # One round of each per poll: under a steady stream of new events a
                # dispatch-until-empty loop would never let the sender run.
                await _run("webhook_dispatch", create_deliveries, "creating webhook "
                           "deliveries failed; retrying at the next poll", ran)
                await _run("webhook_send", send, "sending webhooks failed; retrying at the "
                           "next poll", ran)
                await asyncio.sleep(poll_seconds)

        async with _in_background(loop(), name="webhook-delivery"):
            yield
