"""The member's points as GraphQL: balance, pending, expiring soon, and history."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from typing import Self

import strawberry
from strawberry import Info, relay

from auth.accounts import Account
from events import Event, EventType
from loyalty.ledger.entries import Entry, entries_by_ids
from loyalty.ledger.entries import EntryKind as LedgerKind
from loyalty.ledger.points import EXPIRY_HORIZONS_DAYS, PointsSummary
from schema.context import Context
from schema.permissions import may_see_account


@strawberry.enum(name="LedgerEntryKind", description="What moved the points.")
class EntryKindType(Enum):
    EARN = strawberry.enum_value(
        LedgerKind.EARN.value, description="Earned by an order or action."
    )
    REDEEM = strawberry.enum_value(LedgerKind.REDEEM.value, description="Spent on a reward.")
    EXPIRE = strawberry.enum_value(LedgerKind.EXPIRE.value, description="Expired unused.")
    ADJUST = strawberry.enum_value(LedgerKind.ADJUST.value, description="Adjusted by the shop.")
    REVERSAL = strawberry.enum_value(
        LedgerKind.REVERSAL.value, description="Taken back after a refund or return."
    )
    TIER = strawberry.enum_value(
        LedgerKind.TIER.value, description="The member's tier changed (no points move)."
    )
    TRANSFER_OUT = strawberry.enum_value(
        LedgerKind.TRANSFER_OUT.value, description="Given to another member as a gift."
    )
    TRANSFER_IN = strawberry.enum_value(
        LedgerKind.TRANSFER_IN.value,
        description="A gift from another member (the points keep their expiry).",
    )
    IMPORT = strawberry.enum_value(
        LedgerKind.IMPORT.value, description="An opening balance brought over from the "
        "shop's previous programme."
    )


@strawberry.type(description="Points that expire at the same moment.")
class ExpiringPoints:
    points: int = strawberry.field(description="How many points expire.")
    expires_at: datetime = strawberry.field(description="When they expire.")


@strawberry.type(description="Points expiring within the next 30, 60 and 90 days.")
class PointsExpiringSoon:
    within_30_days: int = strawberry.field(description="Expiring in the next 30 days.")
    within_60_days: int = strawberry.field(description="Expiring in the next 60 days.")
    within_90_days: int = strawberry.field(description="Expiring in the next 90 days.")


@strawberry.type(description="A member's points.")
class MemberPoints:
    balance: int = strawberry.field(description="Points you can spend now.")
    pending: int = strawberry.field(
        description="Points earned but held until the return period ends; not yet spendable."
    )
    debt: int = strawberry.field(
        description="Points owed after a refund of points already spent; earnings settle it."
    )
    lifetime_earned: int = strawberry.field(description="All points ever earned.")
    expiring_soon: list[ExpiringPoints] = strawberry.field(
        description="Points with an expiry in the next 90 days, soonest first."
    )
    points_expiring_soon: PointsExpiringSoon = strawberry.field(
        description="Totals expiring within 30, 60 and 90 days."
    )

    @classmethod
    def from_summary(cls, summary: PointsSummary, now: datetime) -> Self:
        horizon = now + timedelta(days=max(EXPIRY_HORIZONS_DAYS))
        soon = [e for e in summary.expiring if e.expires_at <= horizon]
        return cls(
            balance=summary.balance, pending=summary.pending, debt=summary.debt,
            lifetime_earned=summary.lifetime_earned,
            expiring_soon=[ExpiringPoints(points=e.points, expires_at=e.expires_at) for e in soon],
            points_expiring_soon=PointsExpiringSoon(
                within_30_days=summary.expiring_within(now, 30),
                within_60_days=summary.expiring_within(now, 60),
                within_90_days=summary.expiring_within(now, 90),
            ),
        )


@strawberry.type(description="Which earning rule gave how many points.")
class RuleBreakdown:
    rule_name: str = strawberry.field(description="The rule or campaign.")
    points: int = strawberry.field(description="Points it gave.")
    capped: bool = strawberry.field(description="Whether a limit or budget cut it down.")


FORMER_MEMBER = "a former member"


def short_name(account: Account | None) -> str:
    """How one member is named to another: the first word of the name and the initial of
    the last ("Ann S."), never the email; "a former member" once the account is gone or
    erased."""
    return short_name_of(getattr(account, "name", None) if account is not None else None)


def short_name_of(name: str | None) -> str:
    words = (name or "").split()
    if not words:
        return FORMER_MEMBER
    return words[0] if len(words) == 1 else f"{words[0]} {words[-1][0]}."


def gift_reason(event: Event) -> str | None:
    """A gift's reason as its member reads it ("Gift from Ann A."), from its event; None
    for any other event."""
    transfer = event.data.get("transfer")
    if not transfer:
        return None
    if event.type is EventType.POINTS_TRANSFER_SENT:
        return f"Gift to {short_name_of(transfer['recipient'].get('name'))}"
    return f"Gift from {short_name_of(transfer['sender'].get('name'))}"


@strawberry.type(description="A points gift between two members, as one side sees it.")
class PointsGift:
    message: str | None = strawberry.field(description="What the sender wrote, if anything.")
    other_member_id: strawberry.Private[str]

    @strawberry.field(description="The other member as you see them: first name and the "
                      "initial of the last (never their email).")
    async def member_name(self, info: Info[Context, None]) -> str:
        return short_name(await info.context.loaders.accounts.load(self.other_member_id))


def gift_of(entry: Entry) -> PointsGift | None:
    """The gift a TRANSFER entry records, from the side of the entry's member."""
    transfer = entry.details.get("transfer")
    if entry.kind not in _GIFTS or not transfer:
        return None
    other = transfer["recipient" if entry.kind is LedgerKind.TRANSFER_OUT else "sender"]
    return PointsGift(message=transfer.get("message"), other_member_id=other)


_GIFTS = {LedgerKind.TRANSFER_OUT: "Gift to", LedgerKind.TRANSFER_IN: "Gift from"}


@strawberry.type(description="One movement of points, with its reason. Never changes.")
class LedgerEntry(relay.Node):
    id: relay.NodeID[str]
    kind: EntryKindType = strawberry.field(description="What moved the points.")
    points: int = strawberry.field(description="Signed: positive adds, negative removes.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    breakdown: list[RuleBreakdown] = strawberry.field(
        description="For earns: the rules that gave the points."
    )
    gift: PointsGift | None = strawberry.field(
        description="For a gift between members: the other member and the message."
    )
    member_id: strawberry.Private[str]
    stored_reason: strawberry.Private[str]

    @strawberry.field(description="Why, in words (a gift names the other member).")
    async def reason(self, info: Info[Context, None]) -> str:
        if self.gift is None:
            return self.stored_reason
        name = await self.gift.member_name(info)
        return f"{_GIFTS[LedgerKind(self.kind.name)]} {name}"

    @classmethod
    def from_entry(cls, entry: Entry) -> Self:
        return cls(
            id=entry.id, kind=EntryKindType[entry.kind.value], points=entry.points,
            stored_reason=entry.reason, occurred_at=entry.occurred_at,
            breakdown=[RuleBreakdown(rule_name=a.rule_name, points=a.points, capped=a.capped)
                       for a in entry.breakdown],
            gift=gift_of(entry), member_id=entry.member_id,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        found = await entries_by_ids(info.context.store, ids)
        principal = info.context.principal
        return [
            cls.from_entry(found[i])
            if i in found and may_see_account(principal, found[i].member_id) else None
            for i in ids
        ]
