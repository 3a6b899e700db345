"""The member's points as GraphQL: balance, pending, expiring soon, and history."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from typing import Self

import strawberry
from strawberry import Info, relay

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


@strawberry.type(description="One movement of points, with its reason. Never changes.")
class LedgerEntry(relay.Node):
    id: relay.NodeID[str]
    kind: EntryKindType = strawberry.field(description="What moved the points.")
    points: int = strawberry.field(description="Signed: positive adds, negative removes.")
    reason: str = strawberry.field(description="Why, in words.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    breakdown: list[RuleBreakdown] = strawberry.field(
        description="For earns: the rules that gave the points."
    )
    member_id: strawberry.Private[str]

    @classmethod
    def from_entry(cls, entry: Entry) -> Self:
        return cls(
            id=entry.id, kind=EntryKindType[entry.kind.value], points=entry.points,
            reason=entry.reason, occurred_at=entry.occurred_at,
            breakdown=[RuleBreakdown(rule_name=a.rule_name, points=a.points, capped=a.capped)
                       for a in entry.breakdown],
            member_id=entry.member_id,
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
