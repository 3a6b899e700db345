"""Gifts without points: the birthday gift and the referral reward, set by administrators.

(The one-off admin gift is `voucherIssue`, in schema/vouchers.py.)
"""

from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import Info

from loyalty.engagement.birthdays import BirthdayGift, load_birthday_gift
from loyalty.engagement.gifts import Gift, VoucherGift
from loyalty.engagement.referrals import ReferralReward, load_referral_reward
from scanner import gifts
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import IsAdmin
from schema.shared import INPUT
from schema.voucher_types import VoucherKindType


@strawberry.input(description="A voucher given as a gift (no points spent), valid online and "
                  "in every store.")
class GiftVoucherInput:
    kind: VoucherKindType = strawberry.field(description="What it gives.")
    title: str = strawberry.field(description="Shown to the member and the cashier.")
    amount_off: int | None = strawberry.field(
        default=None, description="AMOUNT_OFF: minor units off (cents)."
    )
    percent_off: int | None = strawberry.field(default=None, description="PERCENT_OFF: 1–100.")
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code of amountOff."
    )
    product_sku: str | None = strawberry.field(
        default=None, description="FREE_PRODUCT: the product's SKU."
    )
    valid_days: int = strawberry.field(
        description="How many days each voucher stays valid after it is given (1–1098)."
    )


@strawberry.input(one_of=True, description="A gift: points or a voucher (exactly one).")
class GiftInput:
    points: int | None = strawberry.field(
        default=strawberry.UNSET, description="Points, spendable at once (1–1,000,000)."
    )
    voucher: GiftVoucherInput | None = strawberry.field(
        default=strawberry.UNSET, description="A voucher."
    )


@strawberry.type(name="GiftVoucher", description="The voucher a gift gives.")
class GiftVoucherType:
    kind: VoucherKindType = strawberry.field(description="What it gives.")
    title: str = strawberry.field(description="Its title.")
    amount_off: int | None = strawberry.field(description="AMOUNT_OFF: minor units off.")
    percent_off: int | None = strawberry.field(description="PERCENT_OFF: percent off.")
    currency: str | None = strawberry.field(description="ISO 4217 code of amountOff.")
    product_sku: str | None = strawberry.field(description="FREE_PRODUCT: the SKU.")
    valid_days: int = strawberry.field(description="Days it stays valid once given.")


@strawberry.type(name="Gift", description="Points or a voucher.")
class GiftType:
    points: int | None = strawberry.field(description="Points given, for a points gift.")
    voucher: GiftVoucherType | None = strawberry.field(description="The voucher, otherwise.")

    @classmethod
    def from_gift(cls, gift: Gift | None) -> Self | None:
        if gift is None:
            return None
        voucher = gift.voucher
        return cls(points=gift.points, voucher=None if voucher is None else GiftVoucherType(
            kind=VoucherKindType[voucher.kind], title=voucher.title,
            amount_off=voucher.amount_off, percent_off=voucher.percent_off,
            currency=voucher.currency, product_sku=voucher.product_sku,
            valid_days=voucher.valid_days,
        ))


@strawberry.type(name="BirthdayGift", description="What members get for their birthday, once "
                 "a year, on the day in the programme's time zone.")
class BirthdayGiftType:
    gift: GiftType = strawberry.field(description="The gift.")
    days_before: int = strawberry.field(description="Given this many days before the day.")
    since: datetime | None = strawberry.field(
        description="When it was last set: no gift that fell due before this day is given "
        "late."
    )

    @classmethod
    def from_setting(cls, setting: BirthdayGift | None) -> Self | None:
        gift = GiftType.from_gift(setting.gift) if setting else None
        if setting is None or gift is None:
            return None
        return cls(gift=gift, days_before=setting.days_before, since=setting.since)


@strawberry.type(name="ReferralReward", description="What both sides of a referral get when "
                 "the new member's first order is recorded.")
class ReferralRewardType:
    referrer: GiftType | None = strawberry.field(description="For the member who invited.")
    referee: GiftType | None = strawberry.field(description="For the new member.")

    @classmethod
    def from_reward(cls, reward: ReferralReward | None) -> Self | None:
        if reward is None:
            return None
        return cls(referrer=GiftType.from_gift(reward.referrer),
                   referee=GiftType.from_gift(reward.referee))


@strawberry.type(description="The programme's gifts (null when switched off).")
class GiftSettings:
    birthday_gift: BirthdayGiftType | None = strawberry.field(description="Birthday gift.")
    referral_reward: ReferralRewardType | None = strawberry.field(
        description="Referral reward."
    )


@strawberry.input(description="The birthday gift; without `gift`, birthday gifts stop.")
class BirthdayGiftSetInput:
    gift: GiftInput | None = strawberry.field(default=None, description="The gift.")
    days_before: int = strawberry.field(
        default=0, description="Give it this many days before the birthday (0–30)."
    )


@strawberry.type(description="Result of birthdayGiftSet.")
class BirthdayGiftSetPayload:
    birthday_gift: BirthdayGiftType | None = strawberry.field(
        default=None, description="The birthday gift now (null: switched off)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="The referral reward; a side left out gets nothing, and with "
                  "neither, referral rewards stop.")
class ReferralRewardSetInput:
    referrer: GiftInput | None = strawberry.field(
        default=None, description="For the member who invited."
    )
    referee: GiftInput | None = strawberry.field(
        default=None, description="For the new member."
    )


@strawberry.type(description="Result of referralRewardSet.")
class ReferralRewardSetPayload:
    referral_reward: ReferralRewardType | None = strawberry.field(
        default=None, description="The referral reward now (null: switched off)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


def _gift(given: GiftInput | None) -> Gift | None:
    if given is None:
        return None
    points = given.points if isinstance(given.points, int) else None
    voucher = given.voucher if isinstance(given.voucher, GiftVoucherInput) else None
    return Gift(points=points, voucher=None if voucher is None else VoucherGift(
        kind=voucher.kind.name, title=voucher.title, valid_days=voucher.valid_days,
        amount_off=voucher.amount_off, percent_off=voucher.percent_off,
        currency=voucher.currency, product_sku=voucher.product_sku,
    ))


def gift_of_input(given: GiftInput) -> Gift:
    """The gift an input describes (not checked yet: scanner.gifts.check_gift)."""
    gift = _gift(given)
    assert gift is not None  # noqa: S101 - given is not None
    return gift


@strawberry.type
class GiftQueries:
    @strawberry.field(description="The birthday gift and the referral reward.",
                      permission_classes=[IsAdmin])
    async def gift_settings(self, info: Info[Context, None]) -> GiftSettings:
        store = info.context.store
        return GiftSettings(
            birthday_gift=BirthdayGiftType.from_setting(await load_birthday_gift(store)),
            referral_reward=ReferralRewardType.from_reward(await load_referral_reward(store)),
        )


@strawberry.type
class GiftMutations:
    @strawberry.mutation(description="Set the birthday gift (points or a voucher), or stop "
                         "it.", permission_classes=[IsAdmin])
    @returns_errors_in(BirthdayGiftSetPayload)
    async def birthday_gift_set(
        self, info: Info[Context, None], input: Annotated[BirthdayGiftSetInput, INPUT]
    ) -> BirthdayGiftSetPayload:
        setting = await gifts.set_birthday_gift(
            info.context.store, gift=_gift(input.gift), days_before=input.days_before,
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return BirthdayGiftSetPayload(birthday_gift=BirthdayGiftType.from_setting(setting))

    @strawberry.mutation(description="Set what the member who invited and the new member get "
                         "when the new member's first order is recorded.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(ReferralRewardSetPayload)
    async def referral_reward_set(
        self, info: Info[Context, None], input: Annotated[ReferralRewardSetInput, INPUT]
    ) -> ReferralRewardSetPayload:
        reward = await gifts.set_referral_reward(
            info.context.store, referrer=_gift(input.referrer), referee=_gift(input.referee),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return ReferralRewardSetPayload(referral_reward=ReferralRewardType.from_reward(reward))
