"""The programme's settings, for administrators."""

from dataclasses import asdict, replace
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import Info

from loyalty.programme import ladder
from loyalty.programme.settings import ExpiryKind, Programme, load_programme, update_programme
from loyalty.programme.tier_rules import TierMetric, TierWindow
from loyalty.programme.transfer_policy import CAPS, NAMES
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import IsAdmin
from schema.shared import INPUT


@strawberry.enum(name="PointsExpiry", description="How earned points expire.")
class PointsExpiryType(Enum):
    MONTHS_AFTER_EARNING = strawberry.enum_value(
        ExpiryKind.MONTHS_AFTER_EARNING.value,
        description="N months after the day they were earned.",
    )
    END_OF_NTH_MONTH = strawberry.enum_value(
        ExpiryKind.END_OF_NTH_MONTH.value,
        description="At the end of the Nth month after the month they were earned in.",
    )
    NEVER = strawberry.enum_value(ExpiryKind.NEVER.value, description="Points never expire.")


@strawberry.enum(name="TierMetric", description="What qualifies a member for a tier.")
class TierMetricType(Enum):
    POINTS_EARNED = strawberry.enum_value(
        TierMetric.POINTS_EARNED.value, description="Points earned in the window."
    )
    SPEND = strawberry.enum_value(
        TierMetric.SPEND.value, description="Money spent in the window (minor units)."
    )


@strawberry.enum(name="TierWindow", description="The period qualification is counted over.")
class TierWindowType(Enum):
    ROLLING_MONTHS = strawberry.enum_value(
        TierWindow.ROLLING_MONTHS.value, description="The last N calendar months."
    )
    CALENDAR_YEAR = strawberry.enum_value(
        TierWindow.CALENDAR_YEAR.value, description="The calendar year so far."
    )


@strawberry.type(description="Whether and how members may gift points to each other "
                 "(days and months in the programme's time zone).")
class PointsTransferSettings:
    enabled: bool = strawberry.field(description="Whether members may gift points.")
    min_member_days: int = strawberry.field(
        description="Days a member must have been a member before gifting."
    )
    min_points: int = strawberry.field(description="The smallest gift.")
    daily_send_cap: int | None = strawberry.field(
        description="Most points one member may gift per day (null: no cap)."
    )
    monthly_send_cap: int | None = strawberry.field(
        description="Most points one member may gift per month (null: no cap)."
    )
    daily_receive_cap: int | None = strawberry.field(
        description="Most points one member may receive as gifts per day (null: no cap)."
    )
    monthly_receive_cap: int | None = strawberry.field(
        description="Most points one member may receive as gifts per month (null: no cap)."
    )


@strawberry.input(description="Transfer settings to change; omitted ones stay as they are, "
                  "a cap given as null is removed.")
class PointsTransferSettingsInput:
    enabled: bool | None = strawberry.field(default=strawberry.UNSET, description="On or off.")
    min_member_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="0–3650 days."
    )
    min_points: int | None = strawberry.field(
        default=strawberry.UNSET, description="1–10,000,000 points."
    )
    daily_send_cap: int | None = strawberry.field(
        default=strawberry.UNSET, description="At least minPoints; null: no cap."
    )
    monthly_send_cap: int | None = strawberry.field(
        default=strawberry.UNSET, description="At least the daily cap; null: no cap."
    )
    daily_receive_cap: int | None = strawberry.field(
        default=strawberry.UNSET, description="At least minPoints; null: no cap."
    )
    monthly_receive_cap: int | None = strawberry.field(
        default=strawberry.UNSET, description="At least the daily cap; null: no cap."
    )

    def changes(self) -> dict[str, object]:
        """The settings given, by TransferPolicy field name (null leaves a setting that is
        not a cap as it is)."""
        given = {name: getattr(self, name) for name in NAMES}
        return {name: value for name, value in given.items()
                if value is not strawberry.UNSET and (value is not None or name in CAPS)}


@strawberry.type(name="Programme", description="The loyalty programme's settings.")
class ProgrammeType:
    timezone: str = strawberry.field(description="IANA time zone for calendar rules.")
    points_expiry: PointsExpiryType = strawberry.field(description="How points expire.")
    expiry_months: int = strawberry.field(description="The N of the expiry policy.")
    pending_days: int = strawberry.field(
        description="Days earned points are held before they can be spent (return window)."
    )
    tier_metric: TierMetricType = strawberry.field(description="What qualifies for tiers.")
    tier_window: TierWindowType = strawberry.field(description="The qualification period.")
    tier_window_months: int = strawberry.field(description="N of a rolling window.")
    tier_grace_days: int = strawberry.field(
        description="Days after the review date before a member moves down."
    )
    transfers: PointsTransferSettings = strawberry.field(
        description="Gifts of points between members."
    )

    @classmethod
    def from_programme(cls, programme: Programme) -> "ProgrammeType":
        policy = programme.tier_policy
        return cls(
            timezone=programme.timezone_name,
            points_expiry=PointsExpiryType[programme.expiry_kind.value],
            expiry_months=programme.expiry_months, pending_days=programme.pending_days,
            tier_metric=TierMetricType[policy.metric.value],
            tier_window=TierWindowType[policy.window.value],
            tier_window_months=policy.window_months, tier_grace_days=policy.grace_days,
            transfers=PointsTransferSettings(**asdict(programme.transfers)),
        )


@strawberry.input(description="Settings to change; omitted ones stay as they are.")
class ProgrammeUpdateInput:
    timezone: str | None = strawberry.field(default=None, description="IANA time zone.")
    points_expiry: PointsExpiryType | None = strawberry.field(
        default=None, description="How points expire."
    )
    expiry_months: int | None = strawberry.field(default=None, description="1–120 months.")
    pending_days: int | None = strawberry.field(default=None, description="0–365 days.")
    tier_metric: TierMetricType | None = strawberry.field(
        default=None, description="What qualifies for tiers."
    )
    tier_window: TierWindowType | None = strawberry.field(
        default=None, description="The qualification period."
    )
    tier_window_months: int | None = strawberry.field(
        default=None, description="1–36 months (rolling window)."
    )
    tier_grace_days: int | None = strawberry.field(
        default=None, description="0–365 days after the review date before moving down."
    )
    transfers: PointsTransferSettingsInput | None = strawberry.field(
        default=None, description="Gifts of points between members."
    )


@strawberry.type(description="Result of programmeUpdate.")
class ProgrammeUpdatePayload:
    programme: ProgrammeType | None = strawberry.field(default=None, description="Settings now.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type
class ProgrammeQueries:
    @strawberry.field(description="The programme's settings.", permission_classes=[IsAdmin])
    async def programme(self, info: Info[Context, None]) -> ProgrammeType:
        return ProgrammeType.from_programme(await load_programme(info.context.store))


@strawberry.type
class ProgrammeMutations:
    @strawberry.mutation(description="Change the programme's settings (applies to points "
                         "earned from now on).", permission_classes=[IsAdmin])
    @returns_errors_in(ProgrammeUpdatePayload)
    async def programme_update(
        self, info: Info[Context, None], input: Annotated[ProgrammeUpdateInput, INPUT]
    ) -> ProgrammeUpdatePayload:
        policy_changes = ladder.PolicyChanges(
            metric=TierMetric(input.tier_metric.name) if input.tier_metric else None,
            window=TierWindow(input.tier_window.name) if input.tier_window else None,
            window_months=input.tier_window_months, grace_days=input.tier_grace_days,
        )
        # Validate both halves before writing either: nothing is half-applied.
        audit, clock = info.context.audit, info.context.services.clock
        await ladder.update_policy(info.context.store, policy_changes, dry_run=True,
                                   clock=clock, audit=audit)
        programme = await update_programme(
            info.context.store, timezone=input.timezone,
            expiry_kind=ExpiryKind(input.points_expiry.name) if input.points_expiry else None,
            expiry_months=input.expiry_months, pending_days=input.pending_days,
            transfers=input.transfers.changes() if input.transfers else None,
            clock=clock, audit=audit,
        )
        policy = await ladder.update_policy(info.context.store, policy_changes, clock=clock,
                                            audit=audit)
        info.context.services.jobs_due.set()  # members may qualify for other tiers now
        return ProgrammeUpdatePayload(
            programme=ProgrammeType.from_programme(replace(programme, tier_policy=policy))
        )
