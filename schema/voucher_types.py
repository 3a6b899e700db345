"""Vouchers as the member sees them (with their QR) and as staff see them at the till."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Self

import strawberry
from strawberry import Info, relay

from loyalty.members import reference
from scanner.codes import display
from scanner.vouchers import Voucher, VoucherKind, VoucherStatus, get_vouchers
from schema.context import Context
from schema.permissions import may_see_account
from schema.shared import ChannelType, QrCode, StoreNode


@strawberry.enum(name="VoucherKind", description="What a voucher gives.")
class VoucherKindType(Enum):
    AMOUNT_OFF = strawberry.enum_value(
        VoucherKind.AMOUNT_OFF.value, description="`amountOff` minor units off the order."
    )
    PERCENT_OFF = strawberry.enum_value(
        VoucherKind.PERCENT_OFF.value, description="`percentOff` percent off the order."
    )
    FREE_SHIPPING = strawberry.enum_value(
        VoucherKind.FREE_SHIPPING.value, description="Free shipping on the order."
    )
    FREE_PRODUCT = strawberry.enum_value(
        VoucherKind.FREE_PRODUCT.value, description="The product `productSku`, free."
    )
    EXPERIENCE = strawberry.enum_value(
        VoucherKind.EXPERIENCE.value, description="An experience described by the title."
    )


@strawberry.enum(name="VoucherStatus", description="Where a voucher is in its life.")
class VoucherStatusType(Enum):
    ACTIVE = strawberry.enum_value(VoucherStatus.ACTIVE.value, description="Can be used.")
    REDEEMED = strawberry.enum_value(VoucherStatus.REDEEMED.value, description="Used.")
    CANCELLED = strawberry.enum_value(
        VoucherStatus.CANCELLED.value, description="Given up by its holder before use."
    )
    EXPIRED = strawberry.enum_value(
        VoucherStatus.EXPIRED.value, description="Not used before its expiry."
    )


@strawberry.type(description="A voucher's QR code for checkout; `payload` is the signed "
                 "token it encodes (see docs/qr-payload.md).")
class VoucherQr(QrCode):
    voucher_id: strawberry.Private[str]

    @strawberry.field(description="Path of the PNG image (send the same bearer token).")
    def png_url(self) -> str:
        return f"/vouchers/{self.voucher_id}/qr.png"

    @strawberry.field(description="Path of the SVG image (send the same bearer token).")
    def svg_url(self) -> str:
        return f"/vouchers/{self.voucher_id}/qr.svg"


@strawberry.interface(description="What a voucher gives and where it can be used.")
class VoucherDetails:
    record: strawberry.Private[Voucher]

    @strawberry.field(description="Short code for typing at a till, e.g. 7H3K-9QWM-2XPD-RT.")
    def code(self) -> str:
        return display(self.record.code)

    @strawberry.field(description="Status now (EXPIRED is derived from `expiresAt`).")
    def status(self, info: Info[Context, None]) -> VoucherStatusType:
        return VoucherStatusType(self.record.status(info.context.services.clock()).value)

    @strawberry.field(description="What the voucher gives.")
    def kind(self) -> VoucherKindType:
        return VoucherKindType(self.record.benefit.kind.value)

    @strawberry.field(description="Title shown to the member and the cashier.")
    def title(self) -> str:
        return self.record.benefit.title

    @strawberry.field(description="For AMOUNT_OFF: minor units off (in `currency`).")
    def amount_off(self) -> int | None:
        return self.record.benefit.amount_off

    @strawberry.field(description="For PERCENT_OFF: percent off the order.")
    def percent_off(self) -> int | None:
        return self.record.benefit.percent_off

    @strawberry.field(description="Currency of `amountOff` and `minOrderTotal`.")
    def currency(self) -> str | None:
        return self.record.benefit.currency

    @strawberry.field(description="For FREE_PRODUCT: the product's SKU.")
    def product_sku(self) -> str | None:
        return self.record.benefit.product_sku

    @strawberry.field(description="Smallest order total it applies to, in minor units.")
    def min_order_total(self) -> int | None:
        return self.record.restrictions.min_order_total

    @strawberry.field(description="Channels where it can be used.")
    def channels(self) -> list[ChannelType]:
        return [ChannelType[c.value] for c in self.record.restrictions.channels]

    @strawberry.field(description="When it was issued.")
    def issued_at(self) -> datetime:
        return self.record.issued_at

    @strawberry.field(description="When it stops being valid.")
    def expires_at(self) -> datetime:
        return self.record.expires_at


@strawberry.type(description="How and where a voucher was used.")
class VoucherRedemption:
    redeemed_at: datetime = strawberry.field(description="When.")
    channel: ChannelType = strawberry.field(description="Online or in a store.")
    order_reference: str = strawberry.field(description="The order it was used on.")
    order_total: int = strawberry.field(description="That order's total, in minor units.")
    discount: int | None = strawberry.field(
        description="Money taken off the order, in minor units (null for non-money benefits)."
    )
    store_id: strawberry.Private[str | None]

    @strawberry.field(description="The store, when redeemed in one.")
    async def store(self, info: Info[Context, None]) -> StoreNode | None:
        return await StoreNode.load(info, self.store_id)

    @classmethod
    def of(cls, voucher: Voucher) -> "VoucherRedemption | None":
        found = voucher.redemption
        if found is None:
            return None
        return cls(
            redeemed_at=found.redeemed_at, channel=ChannelType[found.channel.value],
            order_reference=found.order_reference, order_total=found.order_total,
            discount=found.discount, store_id=found.store_id,
        )


@strawberry.type(name="Voucher", description="A voucher the member holds.")
class VoucherNode(VoucherDetails, relay.Node):
    id: relay.NodeID[str]

    @strawberry.field(description="How it was used, once redeemed.")
    def redemption(self) -> VoucherRedemption | None:
        return VoucherRedemption.of(self.record)

    @strawberry.field(description="The QR to show at checkout; null once it cannot be used.")
    def qr(self, info: Info[Context, None]) -> VoucherQr | None:
        voucher = self.record
        if voucher.status(info.context.services.clock()) is not VoucherStatus.ACTIVE:
            return None
        payload = info.context.services.scanning.tokens.sign(
            voucher_id=voucher.id, code=voucher.code, expires_at=voucher.expires_at
        )
        return VoucherQr(payload=payload, voucher_id=voucher.id)

    @classmethod
    def from_record(cls, voucher: Voucher) -> Self:
        return cls(id=voucher.id, record=voucher)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        found = await get_vouchers(info.context.store, ids)
        principal = info.context.principal
        return [
            cls.from_record(v)
            if (v := found.get(i)) is not None and may_see_account(principal, v.member_id)
            else None
            for i in ids
        ]


@strawberry.type(description="What staff may know of a voucher's holder.")
class ScannedMember:
    first_name: str = strawberry.field(description="First name, to greet them.")
    member_id: strawberry.Private[str]

    @strawberry.field(description="Their tier's name now; null without one.")
    async def tier(self, info: Info[Context, None]) -> str | None:
        member = (await info.context.loaders.members.load(self.member_id)).state
        held = (await reference.programme(info.context.store)).tier(member.tier.tier_id)
        return held.name if held else None


@strawberry.type(description="A voucher as the till sees it.")
class ScannedVoucher(VoucherDetails):
    @strawberry.field(description="The voucher's global id (for voucherRedemptionVoid).")
    def id(self) -> strawberry.ID:
        return strawberry.ID(relay.to_base64("Voucher", self.record.id))

    @strawberry.field(description="Whose it is.")
    def member(self) -> ScannedMember:
        return ScannedMember(first_name=self.record.holder_first_name,
                             member_id=self.record.member_id)

    @strawberry.field(description="How and where it was used, once redeemed.")
    def redemption(self) -> VoucherRedemption | None:
        return VoucherRedemption.of(self.record)
