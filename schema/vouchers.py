"""Vouchers: admins issue them, members hold and cancel them, staff check and redeem them."""

from typing import Annotated

import strawberry
from strawberry import Info, relay

from auth.accounts import get_account
from auth.roles import Role
from loyalty.purchases import Channel
from scanner import card_scans, redemption, vouchers
from scanner.audit import Scanner
from scanner.redemption import VoucherReference
from scanner.reward_redemption import cancel_member_voucher
from scanner.vouchers import Benefit, Restrictions, SourceKind, VoucherKind
from schema.context import Context
from schema.errors import UserError, returns_errors_in, user_errors
from schema.permissions import CanRedeemVouchers, IsAdmin, IsMember, IsStaff
from schema.shared import (
    INPUT,
    ChannelType,
    MemberReference,
    node_id,
    resolve_member,
    scanner_of,
)
from schema.voucher_types import ScannedMember, ScannedVoucher, VoucherKindType, VoucherNode
from store import InvalidInput


@strawberry.input(description="A voucher to give a member, without points.")
class VoucherIssueInput:
    member: MemberReference = strawberry.field(description="Who receives it.")
    kind: VoucherKindType = strawberry.field(description="What it gives.")
    title: str = strawberry.field(description="Shown to the member and the cashier.")
    amount_off: int | None = strawberry.field(
        default=None, description="AMOUNT_OFF: minor units off (cents)."
    )
    percent_off: int | None = strawberry.field(
        default=None, description="PERCENT_OFF: 1–100."
    )
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code of amountOff and minOrderTotal."
    )
    product_sku: str | None = strawberry.field(
        default=None, description="FREE_PRODUCT: the product's SKU."
    )
    min_order_total: int | None = strawberry.field(
        default=None, description="Smallest order total it applies to, in minor units."
    )
    valid_days: int = strawberry.field(description="How many days it stays valid (1–1098).")
    store_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="Only in these stores (in-store use); null for every store."
    )
    channels: list[ChannelType] | None = strawberry.field(
        default=None, description="Only in these channels; null for online and in store."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Makes retries safe: a repeat returns the first voucher."
    )


@strawberry.type(description="Result of voucherIssue.")
class VoucherIssuePayload:
    voucher: VoucherNode | None = strawberry.field(default=None, description="The voucher.")
    replayed: bool = strawberry.field(default=False, description="Issued before with this key.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A voucher the member gives up before using it.")
class VoucherCancelInput:
    voucher_id: relay.GlobalID = strawberry.field(description="The voucher's id.")


@strawberry.type(description="Result of voucherCancel.")
class VoucherCancelPayload:
    voucher: VoucherNode | None = strawberry.field(default=None, description="The voucher.")
    points_returned: int | None = strawberry.field(
        default=None, description="Points spendable again: what a reward's voucher cost, "
        "less what expired meanwhile (`pointsExpired`), is still pending or paid off debt "
        "(its unit also goes back to the reward's stock); 0 for a gift."
    )
    points_expired: int | None = strawberry.field(
        default=None, description="Points the voucher cost whose expiry date passed since "
        "they were spent: they go back and expire again at the next expiry run, as they "
        "would have had they never been spent."
    )
    points_pending: int | None = strawberry.field(
        default=None, description="Points back in lots that are still pending."
    )
    debt_settled: int | None = strawberry.field(
        default=None, description="Points that paid off points the member owed."
    )
    explanation: str | None = strawberry.field(
        default=None, description="Where the points went, in words for the member."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A scanned QR payload or a typed code (exactly one).")
class VoucherCheckInput:
    payload: str | None = strawberry.field(default=None, description="The QR's text.")
    code: str | None = strawberry.field(
        default=None, description="The short code as typed (dashes, spaces, case ignored)."
    )
    device_id: str | None = strawberry.field(
        default=None, description="A stable id of the scanning device (for abuse limits)."
    )


@strawberry.type(description="What a voucher gives and whether it can be redeemed here now.")
class VoucherCheckPayload:
    redeemable: bool = strawberry.field(default=False, description="Whether to accept it.")
    reason: UserError | None = strawberry.field(
        default=None, description="Why it cannot be redeemed (null when it can)."
    )
    voucher: ScannedVoucher | None = strawberry.field(
        default=None, description="The voucher, when the code or payload identifies one."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was checked (rate limit, bad input)."
    )


@strawberry.input(description="Redeem a voucher on an order.")
class VoucherRedeemInput:
    payload: str | None = strawberry.field(default=None, description="The QR's text.")
    code: str | None = strawberry.field(default=None, description="Or the typed short code.")
    order_reference: str = strawberry.field(description="The order or receipt number.")
    order_total: int = strawberry.field(description="The order's total, in minor units.")
    idempotency_key: str = strawberry.field(
        description="One per checkout; resend it on retries to get the first result back."
    )
    device_id: str | None = strawberry.field(
        default=None, description="A stable id of the scanning device (for abuse limits)."
    )


@strawberry.type(description="Result of voucherRedeem.")
class VoucherRedeemPayload:
    voucher: ScannedVoucher | None = strawberry.field(
        default=None, description="The voucher as it is now (also on ALREADY_REDEEMED)."
    )
    discount: int | None = strawberry.field(
        default=None, description="Money to take off the order, in minor units."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when this repeats an earlier success (same key)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="Undo a redemption made at your store by mistake.")
class VoucherRedemptionVoidInput:
    voucher_id: strawberry.ID = strawberry.field(description="The voucher's id.")
    reason: str = strawberry.field(description="Why (kept in the voucher's history).")
    device_id: str | None = strawberry.field(default=None, description="The device's id.")


@strawberry.type(description="Result of voucherRedemptionVoid.")
class VoucherRedemptionVoidPayload:
    voucher: ScannedVoucher | None = strawberry.field(
        default=None, description="The voucher, active again."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A member card's QR token, scanned at the till.")
class MemberCardScanInput:
    token: str = strawberry.field(description="The token the card QR encodes.")
    device_id: str | None = strawberry.field(default=None, description="The device's id.")


@strawberry.type(description="The member behind a card.")
class CardMember(ScannedMember):
    points_balance: int = strawberry.field(description="Spendable points.")


@strawberry.type(description="Result of memberCardScan.")
class MemberCardScanPayload:
    member: CardMember | None = strawberry.field(default=None, description="Who it is.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


def _scanner(info: Info[Context, None], device_id: str | None) -> tuple[Scanner, Channel]:
    scanner = scanner_of(info, device_id)
    principal = info.context.principal
    assert principal is not None  # noqa: S101 - permissions guarantee a principal
    return scanner, Channel.STORE if principal.role is Role.STAFF else Channel.ONLINE


def _voucher_id(global_id: str) -> str:
    try:
        return node_id(relay.GlobalID.from_id(global_id), "Voucher", ("input", "voucherId"))
    except ValueError:
        raise InvalidInput("This is not a voucher id.", field=("input", "voucherId")) from None


@strawberry.type
class VoucherMutations:
    @strawberry.mutation(description="Give a member a voucher (a gift, no points spent).",
                         permission_classes=[IsAdmin])
    @returns_errors_in(VoucherIssuePayload)
    async def voucher_issue(
        self, info: Info[Context, None], input: Annotated[VoucherIssueInput, INPUT]
    ) -> VoucherIssuePayload:
        member_id = await resolve_member(info, input.member)
        account = await get_account(info.context.store, member_id)
        assert account is not None  # noqa: S101 - resolve_member found it
        store_ids = None
        if input.store_ids is not None:
            store_ids = tuple(node_id(s, "Store", ("input", "storeIds")) for s in input.store_ids)
        voucher, replayed = await vouchers.issue_voucher(
            info.context.store, member_id=member_id, holder_name=account.name,
            benefit=Benefit(VoucherKind(input.kind.name), input.title, input.amount_off,
                            input.percent_off, input.currency, input.product_sku),
            restrictions=Restrictions(
                store_ids=store_ids,
                channels=tuple(Channel(c.name) for c in input.channels)
                if input.channels is not None else (Channel.ONLINE, Channel.STORE),
                min_order_total=input.min_order_total,
            ),
            valid_days=input.valid_days, source_kind=SourceKind.GIFT,
            source_reference=info.context.principal.subject_id
            if info.context.principal else None,
            clock=info.context.services.clock, issue_key=input.idempotency_key,
            audit=info.context.audit,
        )
        return VoucherIssuePayload(voucher=VoucherNode.from_record(voucher), replayed=replayed)

    @strawberry.mutation(description="Give up one of your unused vouchers; a reward's "
                         "voucher gives its points back.",
                         permission_classes=[IsMember])
    @returns_errors_in(VoucherCancelPayload)
    async def voucher_cancel(
        self, info: Info[Context, None], input: Annotated[VoucherCancelInput, INPUT]
    ) -> VoucherCancelPayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        given_back = await cancel_member_voucher(
            info.context.store,
            voucher_id=node_id(input.voucher_id, "Voucher", ("input", "voucherId")),
            member_id=principal.subject_id, clock=info.context.services.clock,
        )
        return VoucherCancelPayload(
            voucher=VoucherNode.from_record(given_back.voucher),
            points_returned=given_back.points_returned,
            points_expired=given_back.points_expired, points_pending=given_back.points_pending,
            debt_settled=given_back.debt_settled, explanation=given_back.explanation(),
        )

    @strawberry.mutation(description="What a scanned or typed voucher gives and whether to "
                         "accept it. Changes nothing.", permission_classes=[CanRedeemVouchers])
    @returns_errors_in(VoucherCheckPayload)
    async def voucher_check(
        self, info: Info[Context, None], input: Annotated[VoucherCheckInput, INPUT]
    ) -> VoucherCheckPayload:
        scanner, channel = _scanner(info, input.device_id)
        result = await redemption.check_voucher(
            info.context.services.scanning, scanner=scanner, channel=channel,
            reference=VoucherReference(payload=input.payload, code=input.code),
        )
        return VoucherCheckPayload(
            redeemable=result.redeemable,
            reason=user_errors(result.problem)[0] if result.problem else None,
            voucher=ScannedVoucher(record=result.voucher) if result.voucher else None,
        )

    @strawberry.mutation(description="Redeem a voucher on an order, exactly once.",
                         permission_classes=[CanRedeemVouchers])
    @returns_errors_in(VoucherRedeemPayload)
    async def voucher_redeem(
        self, info: Info[Context, None], input: Annotated[VoucherRedeemInput, INPUT]
    ) -> VoucherRedeemPayload:
        scanner, channel = _scanner(info, input.device_id)
        try:
            result = await redemption.redeem_voucher(
                info.context.services.scanning, scanner=scanner, channel=channel,
                reference=VoucherReference(payload=input.payload, code=input.code),
                order_reference=input.order_reference, order_total=input.order_total,
                idempotency_key=input.idempotency_key,
            )
        except redemption.Refused as refused:
            return VoucherRedeemPayload(
                voucher=ScannedVoucher(record=refused.voucher) if refused.voucher else None,
                errors=user_errors(refused.reason),
            )
        redeemed = result.voucher.redemption
        return VoucherRedeemPayload(
            voucher=ScannedVoucher(record=result.voucher),
            discount=redeemed.discount if redeemed else None, replayed=result.replayed,
        )

    @strawberry.mutation(description="A store manager undoes a redemption made at their "
                         "store within the void window.", permission_classes=[IsStaff])
    @returns_errors_in(VoucherRedemptionVoidPayload)
    async def voucher_redemption_void(
        self, info: Info[Context, None], input: Annotated[VoucherRedemptionVoidInput, INPUT]
    ) -> VoucherRedemptionVoidPayload:
        scanner, _ = _scanner(info, input.device_id)
        voucher = await redemption.void_redemption(
            info.context.services.scanning, voucher_id=_voucher_id(input.voucher_id),
            scanner=scanner, reason=input.reason,
        )
        return VoucherRedemptionVoidPayload(voucher=ScannedVoucher(record=voucher))

    @strawberry.mutation(description="Identify a member from their card QR at the till.",
                         permission_classes=[IsStaff])
    @returns_errors_in(MemberCardScanPayload)
    async def member_card_scan(
        self, info: Info[Context, None], input: Annotated[MemberCardScanInput, INPUT]
    ) -> MemberCardScanPayload:
        holder = await card_scans.scan_member_card(
            info.context.services.scanning, token=input.token,
            scanner=scanner_of(info, input.device_id),
        )
        return MemberCardScanPayload(member=CardMember(
            first_name=holder.first_name, member_id=holder.member_id,
            points_balance=holder.points_balance,
        ))
