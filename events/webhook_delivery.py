"""Sending events to webhook endpoints: at least once, in order per member, with backoff for
about a day, shared between server instances through the database.

Two steps, each safe on any number of instances at once:
- `dispatch` turns new outbox events (those still marked `webhooks: PENDING`) into one
  delivery per interested endpoint (its id, endpoint and event, keeps it one), then unmarks
  them. A
  crash in between only means the same deliveries are offered again and refused as
  duplicates.
- `WebhookSender.send_due` claims due deliveries with a lease (a conditional update: one
  instance wins), sends each and records the attempt. A delivery whose sender died is
  claimed again when its lease runs out. A delivery waits while an earlier one for the same
  member and endpoint is still pending, so a member's events arrive in order.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from events import webhook_signing
from events.catalogue import PENDING, WEBHOOKS_PENDING
from events.outbox import OUTBOX
from events.webhook_targets import UnsafeTarget, resolve
from events.webhooks import DELIVERIES, ENDPOINTS, DeliveryStatus, signing_secrets
from store import Store, new_id, only_duplicate_keys
from store.clock import Clock

log = logging.getLogger("kizuna.webhooks")

RETRY_AFTER = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
               timedelta(hours=2), timedelta(hours=5), timedelta(hours=10),
               timedelta(hours=10))
"""The wait after each failed attempt (Standard Webhooks' schedule): eight attempts over
about 27 hours; after the last one the delivery has failed and its endpoint is disabled."""
RESPONSE_BYTES = 1_024
"""How much of a receiver's answer is read and kept."""
DISPATCH_BATCH = 200  # events per round; mongoeco refuses an $in of about 500 values
SEND_BATCH = 50
SEND_CONCURRENCY = 10


async def dispatch(store: Store, *, clock: Clock) -> int:
    """Create the deliveries of the events not dispatched yet; returns how many events."""
    events = await store.collection(OUTBOX).find({WEBHOOKS_PENDING: PENDING}).sort(
        "_id", 1).limit(DISPATCH_BATCH).to_list(DISPATCH_BATCH)
    if not events:
        return 0
    endpoints = await store.collection(ENDPOINTS).find(
        {"enabled": True}, {"event_types": 1, "since": 1}).to_list(None)
    now = clock()
    deliveries = [
        {"_id": delivery_id(endpoint["_id"], event["_id"]), "endpoint_id": endpoint["_id"],
         "event_id": event["_id"],
         "event_type": event["type"], "member_id": event.get("member_id"),
         "status": DeliveryStatus.PENDING.value, "attempts": [],
         "next_attempt_at": now, "lease_owner": None, "lease_until": None,
         "created_at": now, "updated_at": now}
        for event in events for endpoint in endpoints
        if event["_id"] > endpoint["since"]
        and (not endpoint["event_types"] or event["type"] in endpoint["event_types"])
    ]
    if deliveries:
        try:
            await store.collection(DELIVERIES).insert_many(deliveries, ordered=False)
        except Exception as error:
            if not only_duplicate_keys(error):
                raise
    await store.collection(OUTBOX).update_many(
        {"_id": {"$in": [event["_id"] for event in events]}},
        {"$unset": {WEBHOOKS_PENDING: ""}})
    return len(events)


def delivery_id(endpoint_id: str, event_id: str) -> str:
    """A delivery's id: one per endpoint and event, kept unique by the primary key (a
    secondary unique index made every update of a delivery slower as they piled up on the
    embedded engine)."""
    return f"{endpoint_id}:{event_id}"


def payload(event: Mapping[str, Any]) -> bytes:
    """The body receivers get: the event record (docs/events.md), times in ISO 8601."""
    body = {"id": event["_id"], "type": event["type"], "version": event["version"],
            "timestamp": event["occurred_at"], "member_id": event.get("member_id"),
            "store_id": event.get("store_id"), "subject": event["subject"],
            "data": event["data"]}
    return json.dumps(body, default=_json_value, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} in an event body")


class WebhookSender:
    """Sends due deliveries; one per process, any number of processes."""

    def __init__(self, store: Store, *, clock: Clock, allow_private: bool,
                 timeout: float, client: httpx.AsyncClient,
                 outcomes: Callable[[str], None] | None = None) -> None:
        """`outcomes` is told each attempt's outcome: succeeded, retrying or failed (given
        up, the endpoint disabled)."""
        self._store = store
        self._outcomes = outcomes
        self._clock = clock
        self._allow_private = allow_private
        self._timeout = timeout
        self._lease = timedelta(seconds=timeout * 2 + 30)
        self._owner = new_id()
        self._client = client

    async def send_due(self) -> int:
        """Claim and send what is due now; returns how many attempts were made."""
        now = self._clock()
        due = await self._store.collection(DELIVERIES).find({
            "status": DeliveryStatus.PENDING.value, "next_attempt_at": {"$lte": now},
            "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
        }).sort("next_attempt_at", 1).limit(SEND_BATCH).to_list(SEND_BATCH)
        if not due:
            return 0
        endpoint_ids = list({d["endpoint_id"] for d in due})
        endpoints = {doc["_id"]: doc async for doc in self._store.collection(ENDPOINTS).find(
            {"_id": {"$in": endpoint_ids}, "enabled": True})}
        gate = asyncio.Semaphore(SEND_CONCURRENCY)
        busy: set[tuple[str, str | None]] = set()

        async def one(delivery: dict[str, Any]) -> bool:
            lane = (delivery["endpoint_id"], delivery["member_id"])
            endpoint = endpoints.get(delivery["endpoint_id"])
            if endpoint is None or lane in busy or await self._waits(delivery):
                return False
            busy.add(lane)  # later ones of this member wait for the next round
            claimed = await self._claim(delivery, now)
            if claimed is None:
                return False
            async with gate:
                await self._attempt(claimed, endpoint)
            return True

        sent = await asyncio.gather(*(one(d) for d in due))
        return sum(sent)

    async def _waits(self, delivery: Mapping[str, Any]) -> bool:
        """Whether an earlier delivery for the same member and endpoint is still pending."""
        earlier = await self._store.collection(DELIVERIES).find_one({
            "endpoint_id": delivery["endpoint_id"], "member_id": delivery["member_id"],
            "status": DeliveryStatus.PENDING.value, "event_id": {"$lt": delivery["event_id"]},
        }, {"_id": 1})
        return earlier is not None

    async def _claim(self, delivery: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
        claimed: dict[str, Any] | None = await self._store.collection(
            DELIVERIES).find_one_and_update(
            {"_id": delivery["_id"], "status": DeliveryStatus.PENDING.value,
             "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}]},
            {"$set": {"lease_owner": self._owner, "lease_until": now + self._lease}})
        return claimed

    async def _attempt(self, delivery: Mapping[str, Any], endpoint: Mapping[str, Any]) -> None:
        event = await self._store.collection(OUTBOX).find_one({"_id": delivery["event_id"]})
        started, at = time.monotonic(), self._clock()
        status_code: int | None = None
        response, error = "", None
        if event is None:
            error = "the event is no longer in the outbox"
        else:
            try:
                status_code, response = await self._post(endpoint, event, at)
            except UnsafeTarget as unsafe:
                error = f"refused: {unsafe}"
            except TimeoutError:
                error = f"no answer within {self._timeout:g} s"
            except httpx.HTTPError as failed:
                error = f"{type(failed).__name__}: {failed}"[:200]
        attempt = {"at": at, "status_code": status_code,
                   "latency_ms": round((time.monotonic() - started) * 1000),
                   "response": response, "error": error}
        await self._record(delivery, endpoint, attempt,
                           ok=status_code is not None and 200 <= status_code < 300)

    async def _post(self, endpoint: Mapping[str, Any], event: Mapping[str, Any],
                    at: datetime) -> tuple[int, str]:
        target = await resolve(endpoint["url"], allow_private=self._allow_private)
        body = payload(event)
        # The receiver checks webhook-timestamp against its own clock (replay protection):
        # it is the wall-clock time of sending, whatever the programme's clock says.
        headers = {
            **webhook_signing.headers(signing_secrets(endpoint, at), message_id=event["_id"],
                                      timestamp=int(time.time()), body=body),
            "content-type": "application/json", "user-agent": "Kizuna-Webhooks/1",
        }
        parts = urlsplit(target.url)
        address = f"[{target.address}]" if ":" in target.address else target.address
        pinned = urlunsplit(parts._replace(
            netloc=address + (f":{parts.port}" if parts.port else "")))
        headers["host"] = parts.netloc
        extensions = {"sni_hostname": target.host} if parts.scheme == "https" else {}
        async with asyncio.timeout(self._timeout):
            async with self._client.stream("POST", pinned, content=body, headers=headers,
                                           extensions=extensions) as answer:
                first = b""
                async for chunk in answer.aiter_bytes():
                    first += chunk
                    if len(first) >= RESPONSE_BYTES:
                        break
        return answer.status_code, first[:RESPONSE_BYTES].decode("utf-8", "replace")

    async def _record(self, delivery: Mapping[str, Any], endpoint: Mapping[str, Any],
                      attempt: dict[str, Any], *, ok: bool) -> None:
        at: datetime = attempt["at"]
        made = len(delivery.get("attempts", ())) + 1
        update: dict[str, Any] = {"lease_owner": None, "lease_until": None, "updated_at": at}
        if ok:
            update["status"] = DeliveryStatus.SUCCEEDED.value
        elif made > len(RETRY_AFTER):
            update["status"] = DeliveryStatus.FAILED.value
        else:
            update["next_attempt_at"] = at + RETRY_AFTER[made - 1]
        await self._store.collection(DELIVERIES).update_one(
            {"_id": delivery["_id"], "lease_owner": self._owner},
            {"$set": update, "$push": {"attempts": attempt}})
        if self._outcomes is not None:
            self._outcomes(str(update.get("status", "retrying")).lower())
        health: dict[str, Any]
        if ok:
            health = {"$set": {"last_success_at": at, "consecutive_failures": 0}}
        else:
            health = {"$set": {"last_failure_at": at}, "$inc": {"consecutive_failures": 1}}
        if update.get("status") == DeliveryStatus.FAILED.value:
            first = delivery.get("attempts", [attempt])[0]["at"]
            health["$set"] |= {
                "enabled": False, "disabled_at": at,
                "disabled_reason": f"Deliveries failed for {_span(at - first)} ({made} "
                f"attempts); the last: {attempt['error'] or attempt['status_code']}. "
                "Fix the receiver, enable the endpoint, and retry the failed deliveries."}
        await self._store.collection(ENDPOINTS).update_one({"_id": endpoint["_id"]}, health)


def _span(elapsed: timedelta) -> str:
    hours = elapsed.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 1 else f"{elapsed.total_seconds():.0f} seconds"
