"""What several areas of the schema use: the `input` argument, global-id helpers, the
Channel enum, member references and who acts, the QR code and store types.

It imports no module that defines queries or mutations, so every area can import it.
"""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Self

import strawberry
from strawberry import Info, relay

from auth.accounts import find_member
from auth.roles import Principal, Role
from auth.stores import ShopStore
from loyalty.errors import UnknownMember
from loyalty.ledger.entries import Actor
from loyalty.programme.ladder import UnknownTier
from loyalty.purchases import Channel
from scanner.audit import Scanner
from scanner.cards import card_holder
from schema.context import Context
from schema.permissions import may_see_store
from store import InvalidInput, NotFound

MAX_DEVICE_ID_LENGTH = 100

INPUT = strawberry.argument(description="The mutation's input; see its type for each field.")


def node_id(global_id: relay.GlobalID, type_name: str, field: tuple[str, ...]) -> str:
    """The id inside a global id of the expected type; NotFound for any other type."""
    if global_id.type_name != type_name:
        raise NotFound(f"This is not the id of a {type_name}.", field=field)
    return global_id.node_id


def tier_id(global_id: relay.GlobalID, field: tuple[str, ...]) -> str:
    """The tier inside a Tier's global id (UnknownTier for another type's)."""
    if global_id.type_name != "Tier":
        raise UnknownTier("This is not the id of a tier.", field=field)
    return global_id.node_id


def tier_ids(global_ids: Iterable[relay.GlobalID], field: tuple[str, ...]) -> frozenset[str]:
    return frozenset(tier_id(g, field) for g in global_ids)


def tier_global_ids(ids: Iterable[str]) -> list[relay.GlobalID]:
    """Tier ids as the API shows them (sorted, for a stable answer)."""
    return [relay.GlobalID("Tier", i) for i in sorted(ids)]


@strawberry.enum(name="Channel", description="Where an order was placed.")
class ChannelType(Enum):
    ONLINE = strawberry.enum_value(Channel.ONLINE.value, description="Web shop or app.")
    STORE = strawberry.enum_value(Channel.STORE.value, description="A physical store.")


@strawberry.input(
    one_of=True,
    description="A member, by id, email or the member-card token scanned at a till "
    "(exactly one).",
)
class MemberReference:
    id: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET, description="The member's global id."
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET, description="The member's email."
    )
    card_token: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The token of the member card QR (valid for 30–60 seconds).",
    )


def actor_of(principal: Principal | None) -> Actor:
    assert principal is not None  # noqa: S101 - permissions guarantee a principal
    kind = "API_KEY" if principal.role is Role.INTEGRATION else principal.role.value
    return Actor(kind, principal.subject_id)


async def resolve_member(info: Info[Context, None], reference: MemberReference) -> str:
    """The member id behind a reference; UnknownMember when there is no such member,
    InvalidCardToken for a stale or unknown card."""
    if reference.card_token:
        return await card_holder(
            info.context.store, token=reference.card_token, clock=info.context.services.clock
        )
    account_id = None
    if reference.id:
        if reference.id.type_name != "Member":
            raise UnknownMember("This is not a member's id.", field=("input", "member", "id"))
        account_id = reference.id.node_id
    account = await find_member(
        info.context.store, account_id=account_id,
        email=reference.email if not reference.id else None,
    )
    if account is None:
        raise UnknownMember("No member matches this reference.", field=("input", "member"))
    return account.id


@strawberry.type(description="A QR code: its text and its image.")
class QrCode:
    payload: str = strawberry.field(description="The text the QR encodes.")

    @strawberry.field(description="The QR as an SVG document, ready to inline.")
    async def svg(self, info: Info[Context, None]) -> str:
        return await info.context.services.qr.svg(self.payload)


@strawberry.type(name="Store", description="A physical shop where staff scan vouchers.")
class StoreNode(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Short unique code, e.g. PARIS-01.")
    name: str = strawberry.field(description="Display name.")
    timezone: str = strawberry.field(description="IANA time zone of the store.")
    created_at: datetime = strawberry.field(description="When the store was created.")

    @classmethod
    def from_record(cls, record: ShopStore) -> Self:
        return cls(
            id=record.id, code=record.code, name=record.name, timezone=record.timezone,
            created_at=record.created_at,
        )

    @classmethod
    async def load(cls, info: Info[Context, None], store_id: str | None) -> Self | None:
        """The store `store_id` names (None for none or an unknown one), batched per
        request: what an order's, a redemption's or a staff member's `store` field shows."""
        if store_id is None:
            return None
        record = await info.context.loaders.stores.load(store_id)
        return cls.from_record(record) if record else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        principal = info.context.principal
        ids = [i for i in node_ids]
        found = await info.context.loaders.stores.load_many(
            [i for i in ids if may_see_store(principal, i)]
        )
        by_id = {s.id: s for s in found if s is not None}
        return [cls.from_record(by_id[i]) if i in by_id else None for i in ids]


def scanner_of(info: Info[Context, None], device_id: str | None = None) -> Scanner:
    """Who is scanning, for the scanner's limits and audit: the signed-in account (with its
    store, for staff), the device it names and the client's address."""
    principal = info.context.principal
    assert principal is not None  # noqa: S101 - permissions guarantee a principal
    if device_id is not None and not 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH:
        raise InvalidInput(f"A device id has 1–{MAX_DEVICE_ID_LENGTH} characters.",
                           field=("input", "deviceId"))
    return Scanner(actor_id=principal.subject_id, store_id=principal.store_id,
                   device_id=device_id, client_address=info.context.client_address,
                   role=principal.role.value, request_id=info.context.request_id)
