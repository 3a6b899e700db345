"""Webhook endpoints (where shop systems want events sent) and their deliveries, as an
administrator manages and inspects them. Sending is events/webhook_delivery.py.

Documents:
- webhook_endpoints: {_id, url, event_types [type] (empty: every type), description,
  enabled, secrets [{secret, created_at, retires_at}], since (the first event id it gets),
  created_at, updated_at, disabled_reason, disabled_at, last_success_at, last_failure_at,
  consecutive_failures}
- webhook_deliveries: {_id, endpoint_id, event_id, event_type, member_id, status (PENDING,
  SUCCEEDED, FAILED), attempts [{at, status_code, latency_ms, response, error}],
  next_attempt_at, lease_owner, lease_until, created_at, updated_at}; `_id` is
  "<endpoint id>:<event id>", so no instance ever creates a second.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from events import audit as audit_log
from events.audit import Audit, Target
from events.catalogue import EventType
from events.webhook_signing import new_secret
from events.webhook_targets import check_target
from store import IndexSpec, InvalidInput, NotFound, Store, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

ENDPOINTS = "webhook_endpoints"
DELIVERIES = "webhook_deliveries"

ROTATION_OVERLAP = timedelta(hours=24)
"""How long a replaced secret keeps signing beside the new one."""
MAX_DESCRIPTION = 500

INDEXES = (
    IndexSpec(DELIVERIES, (("status", 1), ("next_attempt_at", 1)), name="due"),
    IndexSpec(DELIVERIES, (("endpoint_id", 1), ("member_id", 1), ("status", 1),
                           ("event_id", 1)), name="member_order"),
    IndexSpec(DELIVERIES, (("endpoint_id", 1), ("_id", -1)), name="endpoint_newest_first"),
)


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    event_types: tuple[EventType, ...]
    description: str
    enabled: bool
    created_at: datetime
    disabled_reason: str | None
    disabled_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    consecutive_failures: int

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


def endpoint_from_document(doc: Mapping[str, Any]) -> Endpoint:
    return Endpoint(
        id=doc["_id"], url=doc["url"],
        event_types=tuple(EventType(t) for t in doc.get("event_types", ())),
        description=doc.get("description", ""), enabled=doc["enabled"],
        created_at=doc["created_at"], disabled_reason=doc.get("disabled_reason"),
        disabled_at=doc.get("disabled_at"), last_success_at=doc.get("last_success_at"),
        last_failure_at=doc.get("last_failure_at"),
        consecutive_failures=doc.get("consecutive_failures", 0),
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    status_code: int | None
    latency_ms: int
    response: str
    """The first bytes of the receiver's answer."""
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: tuple[Attempt, ...]
    next_attempt_at: datetime | None
    created_at: datetime


def delivery_from_document(doc: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=doc["_id"], endpoint_id=doc["endpoint_id"], event_id=doc["event_id"],
        event_type=doc["event_type"], status=DeliveryStatus(doc["status"]),
        attempts=tuple(Attempt(at=a["at"], status_code=a.get("status_code"),
                               latency_ms=a["latency_ms"], response=a.get("response", ""),
                               error=a.get("error")) for a in doc.get("attempts", ())),
        next_attempt_at=doc.get("next_attempt_at"), created_at=doc["created_at"],
    )


def _event_types(types: Sequence[str]) -> list[str]:
    known = {t.value for t in EventType}
    unknown = sorted(set(types) - known)
    if unknown:
        raise InvalidInput(f"Unknown event types: {', '.join(unknown)}.",
                           field=("input", "eventTypes"))
    return sorted(set(types))


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"A description has at most {MAX_DESCRIPTION} characters.",
                           field=("input", "description"))
    return text


async def create_endpoint(
    store: Store, *, url: str, event_types: Sequence[str], description: str, enabled: bool,
    allow_private: bool, clock: Clock, audit: Audit | None,
) -> tuple[Endpoint, str]:
    """Register an endpoint, audited as `audit` (never its secret); returns it and its
    signing secret (shown this once). It gets the events recorded from now on."""
    now = clock()
    secret, endpoint_id = new_secret(), new_id()
    doc = {
        "_id": endpoint_id, "url": await check_target(url, allow_private=allow_private),
        "event_types": _event_types(event_types), "description": _description(description),
        "enabled": enabled, "secrets": [{"secret": secret, "created_at": now,
                                         "retires_at": None}],
        "since": new_id(), "created_at": now, "updated_at": now, "disabled_reason": None,
        "disabled_at": None, "last_success_at": None, "last_failure_at": None,
        "consecutive_failures": 0,
    }
    await audit_log.insert(store, audit, operation="webhookEndpointCreate",
                           target=_target(endpoint_id), collection=ENDPOINTS, document=doc, at=now)
    return endpoint_from_document(doc), secret


async def update_endpoint(
    store: Store, *, endpoint_id: str, url: str | None, event_types: Sequence[str] | None,
    description: str | None, enabled: bool | None, allow_private: bool, clock: Clock,
    audit: Audit | None,
) -> Endpoint:
    """Change what is given; enabling an endpoint clears why it was disabled."""
    now = clock()
    changes: dict[str, Any] = {"updated_at": now}
    if url is not None:
        changes["url"] = await check_target(url, allow_private=allow_private)
    if event_types is not None:
        changes["event_types"] = _event_types(event_types)
    if description is not None:
        changes["description"] = _description(description)
    if enabled is not None:
        changes["enabled"] = enabled
        if enabled:
            changes |= {"disabled_reason": None, "disabled_at": None,
                        "consecutive_failures": 0}
    doc = await audit_log.update(store, audit, operation="webhookEndpointUpdate",
                                 target=_target(endpoint_id), collection=ENDPOINTS,
                                 fields=changes, at=now)
    if doc is None:
        raise _no_endpoint()
    return endpoint_from_document(doc)


async def delete_endpoint(
    store: Store, *, endpoint_id: str, clock: Clock, audit: Audit | None
) -> None:
    """Remove the endpoint and its deliveries (nothing more is sent to it)."""
    deleted = await audit_log.delete(store, audit, operation="webhookEndpointDelete",
                                     target=_target(endpoint_id), collection=ENDPOINTS,
                                     at=clock())
    if deleted is None:
        raise _no_endpoint()
    await store.collection(DELIVERIES).delete_many({"endpoint_id": endpoint_id})


async def rotate_secret(
    store: Store, *, endpoint_id: str, clock: Clock, audit: Audit | None
) -> tuple[Endpoint, str]:
    """A new signing secret; the ones before it keep signing for ROTATION_OVERLAP."""
    now = clock()
    doc = await store.collection(ENDPOINTS).find_one({"_id": endpoint_id})
    if doc is None:
        raise _no_endpoint()
    secret = new_secret()
    kept = [{**s, "retires_at": s["retires_at"] or now + ROTATION_OVERLAP}
            for s in doc["secrets"] if s["retires_at"] is None or s["retires_at"] > now]
    updated = await audit_log.update(
        store, audit, operation="webhookEndpointRotateSecret", target=_target(endpoint_id),
        collection=ENDPOINTS, at=now,
        fields={"secrets": [*kept, {"secret": secret, "created_at": now, "retires_at": None}],
                "updated_at": now})
    if updated is None:
        raise _no_endpoint()
    return endpoint_from_document(updated), secret


def signing_secrets(doc: Mapping[str, Any], now: datetime) -> list[str]:
    """The secrets that sign a delivery now, newest first."""
    live = [s for s in doc["secrets"] if s["retires_at"] is None or s["retires_at"] > now]
    return [s["secret"] for s in sorted(live, key=lambda s: s["created_at"], reverse=True)]


async def list_endpoints(store: Store, *, first: int, after_id: str | None) -> (
    tuple[list[Endpoint], Page]
):
    page = await fetch_page(store.collection(ENDPOINTS), filter={}, first=first,
                            after_id=after_id)
    return [endpoint_from_document(doc) for doc in page.documents], page


async def get_endpoints(store: Store, endpoint_ids: Sequence[str]) -> dict[str, Endpoint]:
    cursor = store.collection(ENDPOINTS).find({"_id": {"$in": list(endpoint_ids)}})
    return {doc["_id"]: endpoint_from_document(doc) async for doc in cursor}


async def list_deliveries(
    store: Store, *, endpoint_id: str, status: DeliveryStatus | None, first: int,
    after_id: str | None,
) -> tuple[list[Delivery], Page]:
    """The endpoint's deliveries, newest first."""
    where: dict[str, Any] = {"endpoint_id": endpoint_id}
    if status is not None:
        where["status"] = status.value
    page = await fetch_page(store.collection(DELIVERIES), filter=where, first=first,
                            after_id=after_id, descending=True)
    return [delivery_from_document(doc) for doc in page.documents], page


async def retry_delivery(
    store: Store, *, delivery_id: str, clock: Clock, audit: Audit | None
) -> Delivery:
    """Send a delivery again now, whatever its status (an endpoint that was disabled is
    not enabled by this)."""
    now = clock()
    doc = await audit_log.update(
        store, audit, operation="webhookDeliveryRetry",
        target=Target("WebhookDelivery", delivery_id), collection=DELIVERIES, at=now,
        fields={"status": DeliveryStatus.PENDING.value, "next_attempt_at": now,
                "lease_until": None, "updated_at": now})
    if doc is None:
        raise NotFound("No delivery has this id.", field=("input", "deliveryId"))
    return delivery_from_document(doc)


def _target(endpoint_id: str) -> Target:
    return Target("WebhookEndpoint", endpoint_id)


def _no_endpoint() -> NotFound:
    return NotFound("No webhook endpoint has this id.", field=("input", "endpointId"))
