"""Live updates over graphql-transport-ws: a member's own events, a store's redemptions.

Each message carries what a screen needs to update itself without another query: the new
balance, the voucher's new status, the new tier.
"""

from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import Info, relay
from strawberry.exceptions import StrawberryGraphQLError

from events import Event, EventType
from events.feed import missed_events, resumable
from schema.context import Context
from schema.permissions import IsMember, IsStaff
from schema.points import gift_reason
from schema.voucher_types import VoucherStatusType


@strawberry.enum(name="EventType", description="What happened (docs/events.md).")
class EventTypeType(Enum):
    MEMBER_REGISTERED = strawberry.enum_value(EventType.MEMBER_REGISTERED.value,
                                              description="The member joined.")
    POINTS_EARNED = strawberry.enum_value(EventType.POINTS_EARNED.value,
                                          description="Points credited.")
    POINTS_SPENT = strawberry.enum_value(EventType.POINTS_SPENT.value,
                                         description="Points spent on a reward.")
    POINTS_REVERSED = strawberry.enum_value(EventType.POINTS_REVERSED.value,
                                            description="Points taken back or given back.")
    POINTS_ADJUSTED = strawberry.enum_value(EventType.POINTS_ADJUSTED.value,
                                            description="An administrator's adjustment.")
    POINTS_EXPIRED = strawberry.enum_value(EventType.POINTS_EXPIRED.value,
                                           description="Points expired.")
    TIER_CHANGED = strawberry.enum_value(EventType.TIER_CHANGED.value,
                                         description="The member's tier changed.")
    VOUCHER_ISSUED = strawberry.enum_value(EventType.VOUCHER_ISSUED.value,
                                           description="A voucher was issued.")
    VOUCHER_REDEEMED = strawberry.enum_value(EventType.VOUCHER_REDEEMED.value,
                                             description="A voucher was redeemed.")
    VOUCHER_VOIDED = strawberry.enum_value(EventType.VOUCHER_VOIDED.value,
                                           description="A redemption was voided.")
    VOUCHER_CANCELLED = strawberry.enum_value(EventType.VOUCHER_CANCELLED.value,
                                              description="A voucher was given up.")
    REWARD_OUT_OF_STOCK = strawberry.enum_value(EventType.REWARD_OUT_OF_STOCK.value,
                                                description="A reward's last unit went.")
    ORDER_RECORDED = strawberry.enum_value(EventType.ORDER_RECORDED.value,
                                           description="A shop reported an order.")
    ORDER_REFUNDED = strawberry.enum_value(EventType.ORDER_REFUNDED.value,
                                           description="A shop refunded an order.")
    SURVEY_ANSWERED = strawberry.enum_value(EventType.SURVEY_ANSWERED.value,
                                            description="The member answered a survey.")
    POINTS_TRANSFER_SENT = strawberry.enum_value(
        EventType.POINTS_TRANSFER_SENT.value, description="The member gave points away.")
    POINTS_TRANSFER_RECEIVED = strawberry.enum_value(
        EventType.POINTS_TRANSFER_RECEIVED.value,
        description="Another member gave the member points.")
    MEMBER_ERASED = strawberry.enum_value(
        EventType.MEMBER_ERASED.value,
        description="The member's personal data was erased (docs/privacy.md).")
    MEMBER_UPDATED = strawberry.enum_value(EventType.MEMBER_UPDATED.value,
                                           description="The member changed their profile.")
    MEMBER_EMAIL_CHANGE_REQUESTED = strawberry.enum_value(
        EventType.MEMBER_EMAIL_CHANGE_REQUESTED.value,
        description="A code was sent to confirm a new email (never shown here).")
    MEMBER_EMAIL_CHANGED = strawberry.enum_value(EventType.MEMBER_EMAIL_CHANGED.value,
                                                 description="The sign-in email changed.")
    MEMBER_PASSWORD_CHANGED = strawberry.enum_value(
        EventType.MEMBER_PASSWORD_CHANGED.value,
        description="The password was changed or reset.")
    MEMBER_PASSWORD_RESET_REQUESTED = strawberry.enum_value(
        EventType.MEMBER_PASSWORD_RESET_REQUESTED.value,
        description="A password reset code was sent (never shown here).")
    MEMBER_CONSENT_CHANGED = strawberry.enum_value(
        EventType.MEMBER_CONSENT_CHANGED.value, description="A consent was given or withdrawn.")
    MEMBER_IMPORTED = strawberry.enum_value(EventType.MEMBER_IMPORTED.value,
                                            description="The shop imported the member.")
    POINTS_IMPORTED = strawberry.enum_value(EventType.POINTS_IMPORTED.value,
                                            description="An imported opening balance.")
    DRAW_CLOSED = strawberry.enum_value(
        EventType.DRAW_CLOSED.value,
        description="A prize draw closed: its seed is revealed and its winners drawn.")
    DRAW_CREATED = strawberry.enum_value(
        EventType.DRAW_CREATED.value,
        description="A prize draw was created: its commitment is published before any entry.")
    DRAW_WON = strawberry.enum_value(EventType.DRAW_WON.value,
                                     description="The member won a prize in a draw.")
    BADGE_EARNED = strawberry.enum_value(EventType.BADGE_EARNED.value,
                                         description="The member earned a badge.")
    BADGE_REVOKED = strawberry.enum_value(EventType.BADGE_REVOKED.value,
                                          description="An administrator took a badge back.")
    LEADERBOARD_PRIZE_AWARDED = strawberry.enum_value(
        EventType.LEADERBOARD_PRIZE_AWARDED.value,
        description="A member won a prize on a leaderboard whose period closed.")
    CHALLENGE_PROGRESSED = strawberry.enum_value(
        EventType.CHALLENGE_PROGRESSED.value,
        description="An order, action or refund moved a member's progress in a challenge.")
    CHALLENGE_COMPLETED = strawberry.enum_value(
        EventType.CHALLENGE_COMPLETED.value,
        description="A member completed a challenge (for a period) and got its reward.")
    CHALLENGE_REVOKED = strawberry.enum_value(
        EventType.CHALLENGE_REVOKED.value,
        description="A refund took a completed challenge back below its target and its "
        "reward back (TAKE_BACK policy).")


@strawberry.type(description="Points moved: the entry and the member's balance after it.")
class PointsChange:
    points: int = strawberry.field(description="Points added (negative: taken).")
    balance: int = strawberry.field(description="The member's balance after the change.")
    debt: int = strawberry.field(description="Points owed after the change.")
    reason: str = strawberry.field(description="Why, as the history shows it.")


@strawberry.type(description="A voucher as the change left it.")
class VoucherChange:
    id: relay.GlobalID = strawberry.field(description="The voucher's id.")
    status: VoucherStatusType = strawberry.field(description="Its status now.")
    title: str = strawberry.field(description="What it gives.")


@strawberry.type(description="The member's tier after a change.")
class TierChange:
    id: relay.GlobalID | None = strawberry.field(description="The tier; null: none.")
    name: str | None = strawberry.field(description="Its name; null: none.")


@strawberry.type(description="A badge the member earned or lost.")
class BadgeChange:
    id: relay.GlobalID = strawberry.field(description="The badge's id.")
    name: str = strawberry.field(description="Its name when it happened.")


def _badge(data: dict[str, Any]) -> BadgeChange | None:
    badge = data.get("badge")
    if not badge:
        return None
    return BadgeChange(id=relay.GlobalID("Badge", badge["id"]), name=badge["name"])


@strawberry.type(description="Something that happened to the signed-in member.")
class MemberEvent:
    id: strawberry.ID = strawberry.field(
        description="The event's id: pass the last one you received as `after` to resume.")
    type: EventTypeType = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When.")
    points: PointsChange | None = strawberry.field(description="For points events.")
    voucher: VoucherChange | None = strawberry.field(description="For voucher events.")
    tier: TierChange | None = strawberry.field(description="For `TIER_CHANGED`.")
    badge: BadgeChange | None = strawberry.field(
        default=None, description="For `BADGE_EARNED` and `BADGE_REVOKED`.")


@strawberry.type(description="A redemption or a void at the signed-in staff's store.")
class StoreEvent:
    id: strawberry.ID = strawberry.field(description="The event's id.")
    type: EventTypeType = strawberry.field(
        description="VOUCHER_REDEEMED or VOUCHER_VOIDED.")
    occurred_at: datetime = strawberry.field(description="When.")
    voucher: VoucherChange = strawberry.field(description="The voucher.")
    staff_id: relay.GlobalID = strawberry.field(description="Who redeemed or voided it.")
    order_reference: str | None = strawberry.field(description="The till's order (a redemption).")
    order_total: int | None = strawberry.field(description="Its total (a redemption).")


def _voucher(data: dict[str, Any]) -> VoucherChange | None:
    voucher = data.get("voucher")
    if not voucher:
        return None
    return VoucherChange(id=relay.GlobalID("Voucher", voucher["id"]),
                         status=VoucherStatusType(voucher["status"]), title=voucher["title"])


def member_event(event: Event) -> MemberEvent:
    data = dict(event.data)
    entry, balance = data.get("entry"), data.get("balance")
    points = None
    if entry is not None and balance is not None:
        points = PointsChange(points=entry["points"], balance=balance["points"],
                              debt=balance["debt"], reason=gift_reason(event) or entry["reason"])
    tier = None
    if event.type is EventType.TIER_CHANGED:
        found = data.get("tier")
        tier = TierChange(id=relay.GlobalID("Tier", found["id"]) if found else None,
                          name=found["name"] if found else None)
    return MemberEvent(id=strawberry.ID(event.id), type=EventTypeType(event.type.value),
                       occurred_at=event.occurred_at, points=points,
                       voucher=_voucher(data), tier=tier, badge=_badge(data))


def store_event(event: Event) -> StoreEvent:
    data = dict(event.data)
    voucher = data["voucher"]  # only voucher events reach a store's feed
    return StoreEvent(
        id=strawberry.ID(event.id), type=EventTypeType(event.type.value),
        occurred_at=event.occurred_at,
        voucher=VoucherChange(id=relay.GlobalID("Voucher", voucher["id"]),
                              status=VoucherStatusType(voucher["status"]),
                              title=voucher["title"]),
        staff_id=relay.GlobalID("Staff", data["staff_id"]),
        order_reference=data.get("order_reference"), order_total=data.get("order_total"))


_STORE_TYPES = frozenset({EventType.VOUCHER_REDEEMED, EventType.VOUCHER_VOIDED})


async def _stream[T](
    info: Info[Context, None], *, wants: Callable[[Event], bool], where: dict[str, Any],
    after: str | None, view: Callable[[Event], T],
) -> AsyncGenerator[T]:
    """Live events `wants` accepts; with `after`, first those missed since that event."""
    if after is not None and not resumable(after):
        raise StrawberryGraphQLError(
            "That event is too old to resume from; load the screen again and subscribe "
            "without `after`.", extensions={"code": "RESUME_WINDOW_EXCEEDED"})
    feed = info.context.services.feed
    async with feed.subscribe(wants) as subscriber:  # before the catch-up: nothing falls between
        sent: set[str] = set()
        if after is not None:
            for event in await missed_events(info.context.store, where=where, after=after):
                sent.add(event.id)
                yield view(event)
        async for event in subscriber.events():
            if event.id in sent or (after is not None and event.id <= after):
                continue
            yield view(event)


@strawberry.type(description="Live updates over graphql-transport-ws; send the access token "
                 "in connection_init as {\"authorization\": \"Bearer …\"}.")
class Subscription:
    @strawberry.subscription(
        permission_classes=[IsMember],
        description="Your events as they happen: points, vouchers, tier. Pass the id of the "
        "last event you received as `after` to get what you missed (up to 24 hours) first.")
    async def member_events(
        self, info: Info[Context, None],
        after: Annotated[strawberry.ID | None, strawberry.argument(
            description="The last event id you received.")] = None,
    ) -> AsyncGenerator[MemberEvent]:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        member_id = principal.subject_id
        async for event in _stream(info, wants=lambda e: e.member_id == member_id,
                                   where={"member_id": member_id}, after=after,
                                   view=member_event):
            yield event

    @strawberry.subscription(
        permission_classes=[IsStaff],
        description="Redemptions and voids at your store as they happen (a till's second "
        "screen).")
    async def store_events(self, info: Info[Context, None]) -> AsyncGenerator[StoreEvent]:
        principal = info.context.principal
        assert principal is not None and principal.store_id is not None  # noqa: S101 - IsStaff
        store_id = principal.store_id
        async for event in _stream(
            info, wants=lambda e: e.store_id == store_id and e.type in _STORE_TYPES,
            where={}, after=None, view=store_event,
        ):
            yield event
