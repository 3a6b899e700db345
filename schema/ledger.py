"""Shop-system events and admin adjustments that move points."""

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import Info

from auth.roles import Role
from loyalty.earning import actions, orders, refunds
from loyalty.ledger import adjustments
from loyalty.purchases import Channel, OrderLine
from scanner import card_scans
from scanner.gifts import deliver_gifts_now
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import CanRecordActions, CanRecordStoreOrders, IsAdmin
from schema.points import LedgerEntry, RuleBreakdown
from schema.shared import (
    INPUT,
    ChannelType,
    MemberReference,
    actor_of,
    resolve_member,
    scanner_of,
)
from store import InvalidInput


@strawberry.input(description="One line of an order.")
class OrderItemInput:
    sku: str = strawberry.field(description="The product's SKU.")
    category: str | None = strawberry.field(default=None, description="Product category.")
    quantity: int = strawberry.field(description="How many (positive).")
    unit_price: int = strawberry.field(description="Price of one, in minor units (cents).")


@strawberry.input(description="A paid order reported by a shop system.")
class OrderRecordInput:
    member: MemberReference = strawberry.field(description="Who bought.")
    order_id: str = strawberry.field(description="The shop's order id (the idempotency key).")
    channel: ChannelType = strawberry.field(description="Online or in a store.")
    total: int = strawberry.field(description="Amount paid, in minor units (cents).")
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")
    items: list[OrderItemInput] = strawberry.field(description="What was bought.")
    occurred_at: datetime = strawberry.field(description="When the order was paid.")


@strawberry.type(description="Points earned (or, for a replay, earned the first time).")
class OrderRecordPayload:
    order_id: str | None = strawberry.field(default=None, description="The order's id.")
    points_earned: int | None = strawberry.field(default=None, description="Points earned.")
    breakdown: list[RuleBreakdown] = strawberry.field(
        default_factory=list, description="Which rules gave how many points."
    )
    entry: LedgerEntry | None = strawberry.field(default=None, description="The ledger entry.")
    replayed: bool = strawberry.field(
        default=False, description="True when this order was already recorded: nothing new."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A returned item.")
class RefundItemInput:
    sku: str = strawberry.field(description="The SKU returned.")
    quantity: int = strawberry.field(description="How many.")


@strawberry.input(description="A refund or return of (part of) a recorded order.")
class OrderRefundInput:
    order_id: str = strawberry.field(description="The order being refunded.")
    refund_id: str = strawberry.field(description="The shop's refund id (idempotency key).")
    amount: int | None = strawberry.field(
        default=None, description="Money refunded, in minor units; or give `items`."
    )
    items: list[RefundItemInput] | None = strawberry.field(
        default=None, description="Items returned; or give `amount`."
    )


@strawberry.type(description="Points taken back for a refund.")
class OrderRefundPayload:
    points_reversed: int | None = strawberry.field(default=None, description="Points removed.")
    refunded_amount: int | None = strawberry.field(
        default=None, description="Money this refund covers, in minor units."
    )
    entry: LedgerEntry | None = strawberry.field(default=None, description="The ledger entry.")
    replayed: bool = strawberry.field(default=False, description="Already recorded before.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="Something a member did that can earn points.")
class ActionRecordInput:
    member: MemberReference = strawberry.field(description="Who did it.")
    type: str = strawberry.field(
        description="REVIEW, SURVEY, NEWSLETTER_SIGNUP, SOCIAL_SHARE, EVENT_VISIT, "
        "PROFILE_COMPLETED or a custom UPPER_SNAKE_CASE type."
    )
    reference: str = strawberry.field(
        description="The shop's id for it (review id, …); type + reference is the idempotency key."
    )
    occurred_at: datetime | None = strawberry.field(default=None, description="When; now if unset.")


@strawberry.type(description="Points earned for an action.")
class ActionRecordPayload:
    points_earned: int | None = strawberry.field(default=None, description="Points earned.")
    entry: LedgerEntry | None = strawberry.field(default=None, description="The ledger entry.")
    replayed: bool = strawberry.field(default=False, description="Already recorded before.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A manual correction of a member's points.")
class PointsAdjustInput:
    member: MemberReference = strawberry.field(description="Whose points.")
    points: int = strawberry.field(description="Positive adds, negative removes.")
    reason: str = strawberry.field(description="Why (required; shown to the member).")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Makes retries safe: a repeat returns the first entry."
    )


@strawberry.type(description="Result of pointsAdjust.")
class PointsAdjustPayload:
    entry: LedgerEntry | None = strawberry.field(default=None, description="The ledger entry.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


def _till_card_token(order: OrderRecordInput) -> str:
    """Staff record what is bought at their till, for the member whose card they scanned."""
    if not order.member.card_token:
        raise InvalidInput("At the till, identify the member by scanning their card.",
                           field=("input", "member", "cardToken"))
    if order.channel is not ChannelType.STORE:
        raise InvalidInput("Staff record in-store (STORE) orders only.",
                           field=("input", "channel"))
    return order.member.card_token


@strawberry.type
class LedgerMutations:
    @strawberry.mutation(description="Record a paid order; earns points once per order id. "
                         "Store staff record in-store purchases with the member-card token.",
                         permission_classes=[CanRecordStoreOrders])
    @returns_errors_in(OrderRecordPayload)
    async def order_record(
        self, info: Info[Context, None], input: Annotated[OrderRecordInput, INPUT]
    ) -> OrderRecordPayload:
        principal = info.context.principal
        desk = info.context.services.scanning
        store_id = None
        if principal is not None and principal.role is Role.STAFF:
            store_id = principal.store_id
            member_id = await card_scans.till_order_member(
                desk, token=_till_card_token(input), scanner=scanner_of(info),
                order_id=input.order_id,
            )
        elif input.member.card_token:
            member_id = await card_scans.order_member(
                desk, token=input.member.card_token, scanner=scanner_of(info)
            )
        else:
            member_id = await resolve_member(info, input.member)
        purchase = orders.validate_purchase(
            order_id=input.order_id, channel=Channel(input.channel.name), total=input.total,
            currency=input.currency, occurred_at=input.occurred_at,
            lines=[OrderLine(i.sku, i.category, i.quantity, i.unit_price) for i in input.items],
        )
        result = await orders.record_order(
            info.context.store, member_id=member_id, purchase=purchase,
            actor=actor_of(info.context.principal), store_id=store_id,
            clock=info.context.services.clock, audit=info.context.audit,
        )
        if result.gifts_pending:
            await deliver_gifts_now(info.context.store, keys=result.gifts_pending,
                                    clock=info.context.services.clock)
        entry = LedgerEntry.from_entry(result.entry)
        return OrderRecordPayload(order_id=result.order_id, points_earned=result.entry.points,
                                  breakdown=entry.breakdown, entry=entry,
                                  replayed=result.replayed)

    @strawberry.mutation(description="Reverse the points of a refunded or returned order. "
                         "Who refunds follows who recorded the order: administrators any "
                         "order; store staff the orders of their store's tills; shop systems "
                         "(ORDERS_WRITE) the orders shop systems recorded "
                         "(else REFUND_NOT_ALLOWED).",
                         permission_classes=[CanRecordStoreOrders])
    @returns_errors_in(OrderRefundPayload)
    async def order_refund(
        self, info: Info[Context, None], input: Annotated[OrderRefundInput, INPUT]
    ) -> OrderRefundPayload:
        principal = info.context.principal
        result = await refunds.refund_order(
            info.context.store, order_id=input.order_id, refund_id=input.refund_id,
            amount=input.amount,
            lines=[refunds.RefundLine(i.sku.strip(), i.quantity) for i in input.items or []],
            actor=actor_of(principal), store_id=principal.store_id if principal else None,
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return OrderRefundPayload(
            points_reversed=-result.entry.points, refunded_amount=result.refunded_amount,
            entry=LedgerEntry.from_entry(result.entry), replayed=result.replayed,
        )

    @strawberry.mutation(description="Record a non-purchase action; earns points once.",
                         permission_classes=[CanRecordActions])
    @returns_errors_in(ActionRecordPayload)
    async def action_record(
        self, info: Info[Context, None], input: Annotated[ActionRecordInput, INPUT]
    ) -> ActionRecordPayload:
        member_id = await resolve_member(info, input.member)
        result = await actions.record_action(
            info.context.store, member_id=member_id, action_type=input.type,
            reference=input.reference, occurred_at=input.occurred_at,
            actor=actor_of(info.context.principal), clock=info.context.services.clock,
            audit=info.context.audit,
        )
        if result.gifts_pending:
            await deliver_gifts_now(info.context.store, keys=result.gifts_pending,
                                    clock=info.context.services.clock)
        return ActionRecordPayload(points_earned=result.entry.points,
                                   entry=LedgerEntry.from_entry(result.entry),
                                   replayed=result.replayed)

    @strawberry.mutation(description="Add or remove points by hand, with a reason (audited).",
                         permission_classes=[IsAdmin])
    @returns_errors_in(PointsAdjustPayload)
    async def points_adjust(
        self, info: Info[Context, None], input: Annotated[PointsAdjustInput, INPUT]
    ) -> PointsAdjustPayload:
        member_id = await resolve_member(info, input.member)
        entry = await adjustments.adjust_points(
            info.context.store, member_id=member_id, points=input.points, reason=input.reason,
            actor=actor_of(info.context.principal), clock=info.context.services.clock,
            audit=info.context.audit, idempotency_key=input.idempotency_key,
        )
        return PointsAdjustPayload(entry=LedgerEntry.from_entry(entry))

