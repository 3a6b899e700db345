"""The programme's settings, for administrators."""

from enum import Enum
from typing import Annotated

import strawberry
from strawberry import Info

from loyalty.programme import ExpiryKind, Programme, load_programme, update_programme
from schema.admin import INPUT
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import IsAdmin


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


@strawberry.type(name="Programme", description="The loyalty programme's settings.")
class ProgrammeType:
    timezone: str = strawberry.field(description="IANA time zone for calendar rules.")
    points_expiry: PointsExpiryType = strawberry.field(description="How points expire.")
    expiry_months: int = strawberry.field(description="The N of the expiry policy.")
    pending_days: int = strawberry.field(
        description="Days earned points are held before they can be spent (return window)."
    )

    @classmethod
    def from_programme(cls, programme: Programme) -> "ProgrammeType":
        return cls(
            timezone=programme.timezone_name,
            points_expiry=PointsExpiryType[programme.expiry_kind.value],
            expiry_months=programme.expiry_months, pending_days=programme.pending_days,
        )


@strawberry.input(description="Settings to change; omitted ones stay as they are.")
class ProgrammeUpdateInput:
    timezone: str | None = strawberry.field(default=None, description="IANA time zone.")
    points_expiry: PointsExpiryType | None = strawberry.field(
        default=None, description="How points expire."
    )
    expiry_months: int | None = strawberry.field(default=None, description="1–120 months.")
    pending_days: int | None = strawberry.field(default=None, description="0–365 days.")


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
        programme = await update_programme(
            info.context.store, timezone=input.timezone,
            expiry_kind=ExpiryKind(input.points_expiry.name) if input.points_expiry else None,
            expiry_months=input.expiry_months, pending_days=input.pending_days,
            clock=info.context.services.clock,
        )
        return ProgrammeUpdatePayload(programme=ProgrammeType.from_programme(programme))
