"""Consent as GraphQL shows it: each purpose's state and the history that proves it
(auth/consents.py). No resolvers of other modules here: `schema.nodes` builds on it."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Self

import strawberry
from strawberry import Info, relay

from auth.consents import Channel, ConsentRecord, ConsentState, Purpose, consent_records
from schema.context import Context
from schema.permissions import may_see_account


@strawberry.enum(name="ConsentPurpose", description="What a member may consent to.")
class ConsentPurposeType(Enum):
    MARKETING_EMAIL = strawberry.enum_value(
        Purpose.MARKETING_EMAIL.value, description="Marketing messages by email.")
    SMS = strawberry.enum_value(Purpose.SMS.value, description="Marketing messages by SMS.")
    PERSONALISATION = strawberry.enum_value(
        Purpose.PERSONALISATION.value,
        description="Offers picked from the member's purchases and points (`offers`); "
        "without it every member gets the same general offers.")


@strawberry.enum(name="ConsentChannel", description="Through what a consent was given or "
                 "withdrawn.")
class ConsentChannelType(Enum):
    APP = strawberry.enum_value(Channel.APP.value,
                                description="The member, through the app or the shop's site.")
    REGISTRATION = strawberry.enum_value(Channel.REGISTRATION.value,
                                         description="When the member joined.")
    IMPORT = strawberry.enum_value(Channel.IMPORT.value,
                                   description="Brought over from the shop's former system.")
    ADMIN = strawberry.enum_value(Channel.ADMIN.value, description="An administrator.")
    SHOP = strawberry.enum_value(Channel.SHOP.value,
                                 description="A shop system, with its API key.")


def _channel(value: str | None) -> ConsentChannelType | None:
    known = {channel.value: channel.name for channel in Channel}
    return ConsentChannelType[known[value]] if value in known else None


@strawberry.type(description="A purpose's consent now.")
class Consent:
    purpose: ConsentPurposeType = strawberry.field(description="What it is for.")
    granted: bool = strawberry.field(description="Whether the member agrees now.")
    updated_at: datetime | None = strawberry.field(
        description="When it was last given or withdrawn (null: never asked).")
    channel: ConsentChannelType | None = strawberry.field(
        description="Through what (null: never asked).")

    @classmethod
    def of(cls, state: ConsentState) -> Self:
        return cls(purpose=ConsentPurposeType[state.purpose.name], granted=state.granted,
                   updated_at=state.at, channel=_channel(state.channel))


@strawberry.type(name="ConsentRecord", description="One consent given or withdrawn: the "
                 "proof of a choice. Records never change.")
class ConsentRecordNode(relay.Node):
    id: relay.NodeID[str]
    purpose: ConsentPurposeType = strawberry.field(description="What it is for.")
    granted: bool = strawberry.field(description="Given (true) or withdrawn (false).")
    at: datetime = strawberry.field(description="When.")
    channel: ConsentChannelType | None = strawberry.field(description="Through what.")

    @classmethod
    def of(cls, record: ConsentRecord) -> Self:
        return cls(id=record.id, purpose=ConsentPurposeType[record.purpose.name],
                   granted=record.granted, at=record.at, channel=_channel(record.channel))

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        found = await consent_records(info.context.store, ids)
        principal = info.context.principal
        return [cls.of(record) if (record := found.get(i)) is not None
                and may_see_account(principal, record.member_id) else None for i in ids]


def purposes_of(states: dict[Purpose, ConsentState]) -> list[Consent]:
    return [Consent.of(states[purpose]) for purpose in Purpose]
