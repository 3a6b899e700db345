"""The member giving or withdrawing consent (auth/consents.py); reading it is on `Member`
(`consents`, `consentHistory`)."""

from typing import Annotated

import strawberry
from strawberry import Info

from auth.consents import Channel, Purpose, update_consents
from schema.consent_types import Consent, ConsentPurposeType, purposes_of
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import IsMember
from schema.shared import INPUT
from store import InvalidInput


@strawberry.input(description="A consent to give or withdraw.")
class ConsentChoiceInput:
    purpose: ConsentPurposeType = strawberry.field(description="What it is for.")
    granted: bool = strawberry.field(description="Give (true) or withdraw (false).")


@strawberry.input(description="The consents that change; the others stay as they are.")
class ConsentUpdateInput:
    consents: list[ConsentChoiceInput] = strawberry.field(
        description="One choice per purpose (at least one).")


@strawberry.type(description="Result of consentUpdate.")
class ConsentUpdatePayload:
    consents: list[Consent] | None = strawberry.field(
        default=None, description="Every purpose's consent now.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed.")


def _choices(input: ConsentUpdateInput) -> dict[Purpose, bool]:
    purposes = [choice.purpose for choice in input.consents]
    if not purposes or len(set(purposes)) != len(purposes):
        raise InvalidInput("Give each purpose at most once, and at least one.",
                           field=("input", "consents"))
    return {Purpose[choice.purpose.name]: choice.granted for choice in input.consents}


@strawberry.type
class ConsentMutations:
    @strawberry.mutation(description="Give or withdraw your consents (recorded with when and "
                         "through what, channel APP).", permission_classes=[IsMember])
    @returns_errors_in(ConsentUpdatePayload)
    async def consent_update(
        self, info: Info[Context, None], input: Annotated[ConsentUpdateInput, INPUT]
    ) -> ConsentUpdatePayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        states = await update_consents(
            info.context.store, member_id=principal.subject_id, choices=_choices(input),
            channel=Channel.APP.value, clock=info.context.services.clock)
        return ConsentUpdatePayload(consents=purposes_of(states))
