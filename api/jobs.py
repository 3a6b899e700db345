"""Background jobs run by every server instance (each is safe to run concurrently)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
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
from loyalty.tiers.moves import reevaluate_ladder, review_due_tiers
from scanner.collections import VOUCHERS
from scanner.gifts import deliver_pending_gifts, grant_birthday_gifts
from store import Store, log_retrying
from store.clock import Clock

log = logging.getLogger("kizuna.jobs")

STAGED_EVENT_COLLECTIONS = (ACCOUNTS, VOUCHERS)
"""Collections whose conditional writes stage their events on the document (events.outbox)."""


async def expire_audit_records(store: Store, *, clock: Clock, retention: timedelta) -> int:
    """Delete the audit trail's records older than `retention`; returns how many went.
    Every instance may run it at once: a record deleted twice is deleted once."""
    return await delete_older_than(store, clock() - retention)


@contextlib.asynccontextmanager
async def points_expiry(
    store: Store, *, clock: Clock, interval_seconds: int, due: asyncio.Event | None = None,
    audit_retention: timedelta = timedelta(days=400),
    personal_data: tuple[PersonalData, ...] = (),
) -> AsyncIterator[None]:
    """Expire due lots, review tiers whose review date has passed, move members up after a
    change of the tiers, give today's birthday gifts, issue referral vouchers waiting in
    the outbox, publish events a crash left staged on documents and delete audit records
    older than `audit_retention` and finish erasures a crash interrupted (`personal_data`),
    every
    `interval_seconds` (0 disables) while the server runs, and at once whenever `due` is
    set."""
    if interval_seconds <= 0:
        yield
        return

    async def loop() -> None:
        while True:
            try:
                run = await expire_due_lots(store, clock=clock)
                if run.lots_expired:
                    log.info("expired %d points in %d lots", run.points_expired,
                             run.lots_expired)
            except Exception as error:
                log_retrying(log, "points expiry failed; retrying at the next interval",
                             error)
            try:
                reviewed = await review_due_tiers(store, clock=clock)
                if reviewed:
                    log.info("reviewed the tiers of %d members", reviewed)
                moved = await reevaluate_ladder(store, clock=clock)
                if moved:
                    log.info("the tiers changed: %d members moved up", moved)
            except Exception as error:
                log_retrying(log, "tier review failed; retrying at the next interval",
                             error)
            try:
                given = await grant_birthday_gifts(store, clock=clock)
                issued = await deliver_pending_gifts(store, clock=clock)
                if given or issued:
                    log.info("gave %d birthday gifts, issued %d referral vouchers", given,
                             issued)
            except Exception as error:
                log_retrying(log, "gifts failed; retrying at the next interval", error)
            try:
                stranded = await events.publish_stranded(store, STAGED_EVENT_COLLECTIONS)
                if stranded:
                    log.info("published the staged events of %d documents", stranded)
            except Exception as error:
                log_retrying(log, "publishing staged events failed; retrying at the next "
                             "interval", error)
            try:
                blanked = await redact_expired(store, now=clock())
                if blanked:
                    log.info("blanked the codes of %d expired one-time codes' events", blanked)
            except Exception as error:
                log_retrying(log, "blanking expired codes failed; retrying at the next "
                             "interval", error)
            try:
                deleted = await expire_audit_records(store, clock=clock,
                                                     retention=audit_retention)
                if deleted:
                    log.info("deleted %d audit records past their retention", deleted)
            except Exception as error:
                log_retrying(log, "deleting old audit records failed; retrying at the next "
                             "interval", error)
            if personal_data:
                try:
                    finished = await finish_pending_erasures(store, personal_data, clock=clock)
                    if finished:
                        log.info("finished %d interrupted erasures", finished)
                except Exception as error:
                    log_retrying(log, "finishing interrupted erasures failed; retrying at the "
                                 "next interval", error)
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


@contextlib.asynccontextmanager
async def webhook_delivery(
    store: Store, *, clock: Clock, poll_seconds: float, timeout_seconds: float,
    private_targets: bool,
) -> AsyncIterator[None]:
    """Dispatch new events to the webhook endpoints and send what is due, every
    `poll_seconds`, while the server runs (every instance; leases share the work). Give it
    a `Store` of its own: its reads are no request's round trips."""
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        sender = WebhookSender(store, clock=clock, allow_private=private_targets,
                               timeout=timeout_seconds, client=client)

        async def loop() -> None:
            while True:
                # One round of each per poll: under a steady stream of new events a
                # dispatch-until-empty loop would never let the sender run.
                try:
                    await dispatch(store, clock=clock)
                except Exception as error:
                    log_retrying(log, "creating webhook deliveries failed; retrying at the "
                                 "next poll", error)
                try:
                    await sender.send_due()
                except Exception as error:
                    log_retrying(log, "sending webhooks failed; retrying at the next poll",
                                 error)
                await asyncio.sleep(poll_seconds)

        async with _in_background(loop(), name="webhook-delivery"):
            yield
