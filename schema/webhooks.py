"""Webhook endpoints and their deliveries, for administrators (docs/webhooks.md)."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated, Self

import strawberry
from strawberry import Info, relay

from events import EventType, webhooks
from events.webhooks import Delivery, DeliveryStatus, Endpoint
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin, admin_nodes
from schema.shared import INPUT, node_id
from schema.subscriptions import EventTypeType


@strawberry.type(description="Where shop systems want events sent, and how that is going.")
class WebhookEndpoint(relay.Node):
    id: relay.NodeID[str]
    url: str = strawberry.field(description="Where deliveries go (https).")
    event_types: list[EventTypeType] = strawberry.field(
        description="The event types it gets; empty: every type.")
    description: str = strawberry.field(description="What it is for.")
    enabled: bool = strawberry.field(description="Whether events are sent to it.")
    created_at: datetime = strawberry.field(description="When it was registered.")
    disabled_reason: str | None = strawberry.field(
        description="Why Kizuna disabled it (deliveries kept failing), if it did.")
    disabled_at: datetime | None = strawberry.field(description="When it was disabled.")
    last_success_at: datetime | None = strawberry.field(description="Last delivered event.")
    last_failure_at: datetime | None = strawberry.field(description="Last failed attempt.")
    consecutive_failures: int = strawberry.field(
        description="Failed attempts since the last success.")

    @classmethod
    def from_record(cls, record: Endpoint) -> Self:
        return cls(
            id=record.id, url=record.url,
            event_types=[EventTypeType(t.value) for t in record.event_types],
            description=record.description, enabled=record.enabled,
            created_at=record.created_at, disabled_reason=record.disabled_reason,
            disabled_at=record.disabled_at, last_success_at=record.last_success_at,
            last_failure_at=record.last_failure_at,
            consecutive_failures=record.consecutive_failures,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await admin_nodes(info, node_ids, webhooks.get_endpoints, cls.from_record)


@strawberry.enum(name="WebhookDeliveryStatus", description="Where a delivery stands.")
class DeliveryStatusType(Enum):
    PENDING = strawberry.enum_value(DeliveryStatus.PENDING.value,
                                    description="Not delivered yet; attempts continue.")
    SUCCEEDED = strawberry.enum_value(DeliveryStatus.SUCCEEDED.value,
                                      description="The receiver answered 2xx.")
    FAILED = strawberry.enum_value(DeliveryStatus.FAILED.value,
                                   description="Every attempt failed; retry it by hand.")


@strawberry.type(description="One attempt to deliver an event.")
class WebhookAttempt:
    at: datetime = strawberry.field(description="When it was made.")
    status_code: int | None = strawberry.field(description="The HTTP status; null: none.")
    latency_ms: int = strawberry.field(description="How long it took.")
    response: str = strawberry.field(description="The first bytes of the answer.")
    error: str | None = strawberry.field(description="Why there was no answer, if so.")


@strawberry.type(description="An event's delivery to one endpoint.")
class WebhookDelivery(relay.Node):
    id: relay.NodeID[str]
    event_id: str = strawberry.field(description="The event (the `webhook-id` header).")
    event_type: EventTypeType = strawberry.field(description="Its type.")
    status: DeliveryStatusType = strawberry.field(description="Where it stands.")
    attempts: list[WebhookAttempt] = strawberry.field(description="Every attempt, oldest first.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due (pending ones).")
    created_at: datetime = strawberry.field(description="When the event was dispatched.")

    @classmethod
    def from_record(cls, record: Delivery) -> Self:
        return cls(
            id=record.id, event_id=record.event_id,
            event_type=EventTypeType(record.event_type),
            status=DeliveryStatusType(record.status.value),
            attempts=[WebhookAttempt(at=a.at, status_code=a.status_code,
                                     latency_ms=a.latency_ms, response=a.response,
                                     error=a.error) for a in record.attempts],
            next_attempt_at=(record.next_attempt_at
                             if record.status is DeliveryStatus.PENDING else None),
            created_at=record.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return [None for _ in node_ids]  # reached through webhookDeliveries only


@strawberry.input(description="A new webhook endpoint.")
class WebhookEndpointCreateInput:
    url: str = strawberry.field(description="https URL that receives the deliveries.")
    event_types: list[EventTypeType] = strawberry.field(
        default_factory=list, description="The event types to send; empty: every type.")
    description: str = strawberry.field(default="", description="What it is for.")
    enabled: bool = strawberry.field(default=True, description="Send events to it.")


@strawberry.type(description="Result of webhookEndpointCreate.")
class WebhookEndpointCreatePayload:
    endpoint: WebhookEndpoint | None = strawberry.field(default=None,
                                                        description="The new endpoint.")
    secret: str | None = strawberry.field(
        default=None, description="Its signing secret (whsec_…). Shown this once only.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="Changes to a webhook endpoint; leave out what stays.")
class WebhookEndpointUpdateInput:
    endpoint_id: relay.GlobalID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=None, description="A new URL.")
    event_types: list[EventTypeType] | None = strawberry.field(
        default=None, description="New event types; empty: every type.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    enabled: bool | None = strawberry.field(
        default=None, description="Enable (clears why it was disabled) or disable it.")


@strawberry.type(description="Result of a change to a webhook endpoint.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(default=None,
                                                        description="The endpoint.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A webhook endpoint.")
class WebhookEndpointInput:
    endpoint_id: relay.GlobalID = strawberry.field(description="The endpoint.")


@strawberry.type(description="Result of webhookEndpointDelete.")
class WebhookEndpointDeletePayload:
    deleted_endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the endpoint removed.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of webhookEndpointRotateSecret.")
class WebhookSecretPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(default=None,
                                                        description="The endpoint.")
    secret: str | None = strawberry.field(
        default=None, description="The new secret, shown this once; the old one keeps "
        "signing beside it for 24 hours.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A delivery to send again now.")
class WebhookDeliveryRetryInput:
    delivery_id: relay.GlobalID = strawberry.field(description="The delivery.")


@strawberry.type(description="Result of webhookDeliveryRetry.")
class WebhookDeliveryRetryPayload:
    delivery: WebhookDelivery | None = strawberry.field(default=None,
                                                        description="The delivery.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


def _endpoint_id(global_id: relay.GlobalID) -> str:
    return node_id(global_id, "WebhookEndpoint", ("input", "endpointId"))


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="Registered webhook endpoints with their delivery health, "
                      "oldest first.", permission_classes=[IsAdmin])
    async def webhook_endpoints(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[WebhookEndpoint]:
        records, page = await webhooks.list_endpoints(
            info.context.store, first=check_first(first), after_id=decode_cursor(after))
        return connection(records, page, node=WebhookEndpoint.from_record,
                          item_id=lambda r: r.id)

    @strawberry.field(description="An endpoint's deliveries, newest first.",
                      permission_classes=[IsAdmin])
    async def webhook_deliveries(
        self, info: Info[Context, None],
        endpoint: Annotated[relay.GlobalID, strawberry.argument(description="The endpoint.")],
        status: Annotated[DeliveryStatusType | None, strawberry.argument(
            description="Only deliveries in this status.")] = None,
        first: First = 20, after: After = None,
    ) -> relay.Connection[WebhookDelivery]:
        records, page = await webhooks.list_deliveries(
            info.context.store, endpoint_id=_endpoint_id(endpoint),
            status=DeliveryStatus(status.name) if status else None,
            first=check_first(first), after_id=decode_cursor(after))
        return connection(records, page, node=WebhookDelivery.from_record,
                          item_id=lambda r: r.id)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(description="Register a webhook endpoint; its signing secret is in "
                         "the answer, once.", permission_classes=[IsAdmin])
    @returns_errors_in(WebhookEndpointCreatePayload)
    async def webhook_endpoint_create(
        self, info: Info[Context, None],
        input: Annotated[WebhookEndpointCreateInput, INPUT],
    ) -> WebhookEndpointCreatePayload:
        services = info.context.services
        record, secret = await webhooks.create_endpoint(
            services.store, url=input.url,
            event_types=[EventType[t.name].value for t in input.event_types],
            description=input.description, enabled=input.enabled,
            allow_private=services.webhook_private_targets, clock=services.clock,
            audit=info.context.audit)
        return WebhookEndpointCreatePayload(endpoint=WebhookEndpoint.from_record(record),
                                            secret=secret)

    @strawberry.mutation(description="Change a webhook endpoint.", permission_classes=[IsAdmin])
    @returns_errors_in(WebhookEndpointPayload)
    async def webhook_endpoint_update(
        self, info: Info[Context, None],
        input: Annotated[WebhookEndpointUpdateInput, INPUT],
    ) -> WebhookEndpointPayload:
        services = info.context.services
        record = await webhooks.update_endpoint(
            services.store, endpoint_id=_endpoint_id(input.endpoint_id), url=input.url,
            event_types=(None if input.event_types is None
                         else [EventType[t.name].value for t in input.event_types]),
            description=input.description, enabled=input.enabled,
            allow_private=services.webhook_private_targets, clock=services.clock,
            audit=info.context.audit)
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_record(record))

    @strawberry.mutation(description="Remove a webhook endpoint and its deliveries.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(WebhookEndpointDeletePayload)
    async def webhook_endpoint_delete(
        self, info: Info[Context, None], input: Annotated[WebhookEndpointInput, INPUT],
    ) -> WebhookEndpointDeletePayload:
        await webhooks.delete_endpoint(info.context.store,
                                       endpoint_id=_endpoint_id(input.endpoint_id),
                                       clock=info.context.services.clock,
                                       audit=info.context.audit)
        return WebhookEndpointDeletePayload(deleted_endpoint_id=strawberry.ID(
            relay.to_base64("WebhookEndpoint", input.endpoint_id.node_id)))

    @strawberry.mutation(description="Give an endpoint a new signing secret; deliveries carry "
                         "both signatures for 24 hours.", permission_classes=[IsAdmin])
    @returns_errors_in(WebhookSecretPayload)
    async def webhook_endpoint_rotate_secret(
        self, info: Info[Context, None], input: Annotated[WebhookEndpointInput, INPUT],
    ) -> WebhookSecretPayload:
        record, secret = await webhooks.rotate_secret(
            info.context.store, endpoint_id=_endpoint_id(input.endpoint_id),
            clock=info.context.services.clock, audit=info.context.audit)
        return WebhookSecretPayload(endpoint=WebhookEndpoint.from_record(record), secret=secret)

    @strawberry.mutation(description="Send a delivery again now.", permission_classes=[IsAdmin])
    @returns_errors_in(WebhookDeliveryRetryPayload)
    async def webhook_delivery_retry(
        self, info: Info[Context, None], input: Annotated[WebhookDeliveryRetryInput, INPUT],
    ) -> WebhookDeliveryRetryPayload:
        record = await webhooks.retry_delivery(
            info.context.store,
            delivery_id=node_id(input.delivery_id, "WebhookDelivery", ("input", "deliveryId")),
            clock=info.context.services.clock, audit=info.context.audit)
        return WebhookDeliveryRetryPayload(delivery=WebhookDelivery.from_record(record))
