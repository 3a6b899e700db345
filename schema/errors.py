"""Expected failures as typed payload errors, mapped from the domain in one place."""

from collections.abc import Awaitable, Callable
from enum import Enum
from functools import wraps

import strawberry

from store.errors import InputErrors, KizunaError, RateLimited


@strawberry.enum(description="Stable machine-readable codes of the errors a mutation returns.")
class ErrorCode(Enum):
    INVALID_INPUT = strawberry.enum_value("INVALID_INPUT", description="An input is invalid.")
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="A referenced object does not exist or is not visible to you."
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED", description="Too many attempts; wait `retryAfterSeconds`."
    )
    IDEMPOTENCY_CONFLICT = strawberry.enum_value(
        "IDEMPOTENCY_CONFLICT",
        description="The idempotency key was used before with a different request.",
    )
    INVALID_EMAIL = strawberry.enum_value("INVALID_EMAIL", description="Not a valid email.")
    WEAK_PASSWORD = strawberry.enum_value(
        "WEAK_PASSWORD", description="The password is too short or too easy to guess."
    )
    EMAIL_TAKEN = strawberry.enum_value(
        "EMAIL_TAKEN", description="An account with this email already exists."
    )
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS", description="The email or password is incorrect."
    )
    INVALID_TOKEN = strawberry.enum_value(
        "INVALID_TOKEN",
        description="The refresh token is unknown, expired, revoked or was already used.",
    )
    STORE_CODE_TAKEN = strawberry.enum_value(
        "STORE_CODE_TAKEN", description="A store with this code already exists."
    )
    UNKNOWN_MEMBER = strawberry.enum_value(
        "UNKNOWN_MEMBER", description="No member matches the reference."
    )
    UNKNOWN_REFERRAL_CODE = strawberry.enum_value(
        "UNKNOWN_REFERRAL_CODE", description="No member has this referral code."
    )
    UNKNOWN_ORDER = strawberry.enum_value(
        "UNKNOWN_ORDER", description="No order with this id was recorded."
    )
    UNKNOWN_CURRENCY = strawberry.enum_value(
        "UNKNOWN_CURRENCY", description="Not an ISO 4217 currency code Kizuna knows."
    )
    INVALID_ORDER = strawberry.enum_value(
        "INVALID_ORDER",
        description="The order cannot earn: no items, a non-positive total, bad lines or time.",
    )
    REFUND_EXCEEDS_ORDER = strawberry.enum_value(
        "REFUND_EXCEEDS_ORDER", description="More would be refunded than the order is worth."
    )
    REFUND_NOT_ALLOWED = strawberry.enum_value(
        "REFUND_NOT_ALLOWED",
        description="The order was recorded elsewhere: a till order is refunded by its "
        "store's staff or an administrator, a shop system's order by a shop system or an "
        "administrator.",
    )
    INSUFFICIENT_POINTS = strawberry.enum_value(
        "INSUFFICIENT_POINTS", description="The member does not have enough spendable points."
    )
    INVALID_CHALLENGE = strawberry.enum_value(
        "INVALID_CHALLENGE",
        description="The challenge's fields are missing, out of range or contradict each other "
        "(window, target, conditions, reward).",
    )
    UNKNOWN_CHALLENGE = strawberry.enum_value(
        "UNKNOWN_CHALLENGE", description="No challenge has this id."
    )
    CHALLENGE_NOT_JOINABLE = strawberry.enum_value(
        "CHALLENGE_NOT_JOINABLE",
        description="The challenge needs no joining, is for other members, or is over.",
    )
    INVALID_RULE = strawberry.enum_value(
        "INVALID_RULE",
        description="The earning rule's fields are missing, out of range or contradict each other.",
    )
    UNKNOWN_RULE = strawberry.enum_value(
        "UNKNOWN_RULE", description="No earning rule has this id."
    )
    INVALID_SIGNATURE = strawberry.enum_value(
        "INVALID_SIGNATURE",
        description="The QR is not a voucher signed by this programme (forged, damaged, other).",
    )
    INVALID_CODE = strawberry.enum_value(
        "INVALID_CODE", description="The typed voucher code has a typo (its check failed)."
    )
    EXPIRED = strawberry.enum_value("EXPIRED", description="The voucher has expired.")
    ALREADY_REDEEMED = strawberry.enum_value(
        "ALREADY_REDEEMED", description="The voucher was used already; the message says "
        "when and where."
    )
    CANCELLED = strawberry.enum_value(
        "CANCELLED", description="The voucher was cancelled by its holder."
    )
    WRONG_STORE = strawberry.enum_value(
        "WRONG_STORE", description="The voucher is not valid in this store."
    )
    WRONG_CHANNEL = strawberry.enum_value(
        "WRONG_CHANNEL", description="The voucher is only valid online, or only in stores."
    )
    ORDER_TOTAL_TOO_LOW = strawberry.enum_value(
        "ORDER_TOTAL_TOO_LOW", description="The order is below the voucher's minimum total."
    )
    REDEMPTION_VOIDED = strawberry.enum_value(
        "REDEMPTION_VOIDED",
        description="This redemption (idempotency key) was voided; start a new checkout.",
    )
    NOT_REDEEMED = strawberry.enum_value(
        "NOT_REDEEMED", description="The voucher is not redeemed, so there is nothing to void."
    )
    VOID_WINDOW_CLOSED = strawberry.enum_value(
        "VOID_WINDOW_CLOSED", description="The redemption is too old to be voided."
    )
    MANAGER_REQUIRED = strawberry.enum_value(
        "MANAGER_REQUIRED", description="Only a manager of the store can do this."
    )
    UNKNOWN_TIER = strawberry.enum_value("UNKNOWN_TIER", description="No tier has this id.")
    TIER_IN_USE = strawberry.enum_value(
        "TIER_IN_USE", description="Members hold this tier, so it cannot be removed."
    )
    INVALID_CARD_TOKEN = strawberry.enum_value(
        "INVALID_CARD_TOKEN",
        description="The member card QR is not valid or too old (ask for a fresh one).",
    )
    UNKNOWN_SURVEY = strawberry.enum_value(
        "UNKNOWN_SURVEY", description="No survey has this id."
    )
    SURVEY_CLOSED = strawberry.enum_value(
        "SURVEY_CLOSED",
        description="The survey is switched off, has not started yet or has ended.",
    )
    SURVEY_ALREADY_ANSWERED = strawberry.enum_value(
        "SURVEY_ALREADY_ANSWERED",
        description="You answered this survey before; its points were earned then.",
    )
    UNKNOWN_REWARD = strawberry.enum_value(
        "UNKNOWN_REWARD", description="No reward has this id."
    )
    REWARD_INACTIVE = strawberry.enum_value(
        "REWARD_INACTIVE", description="The reward is switched off."
    )
    REWARD_IN_USE = strawberry.enum_value(
        "REWARD_IN_USE",
        description="Vouchers were issued for the reward, so it cannot be removed (switch it "
        "off instead).",
    )
    NOT_YET_AVAILABLE = strawberry.enum_value(
        "NOT_YET_AVAILABLE", description="The reward's window has not started yet."
    )
    ENDED = strawberry.enum_value("ENDED", description="The reward's window has ended.")
    NOT_ELIGIBLE_TIER = strawberry.enum_value(
        "NOT_ELIGIBLE_TIER", description="The reward is for members of a higher tier."
    )
    NOT_ELIGIBLE_SEGMENT = strawberry.enum_value(
        "NOT_ELIGIBLE_SEGMENT", description="The reward is for members of other segments."
    )
    EARLY_ACCESS = strawberry.enum_value(
        "EARLY_ACCESS",
        description="For now only members of a higher tier may redeem the reward (early "
        "access); the message says until when.",
    )
    LIMIT_REACHED = strawberry.enum_value(
        "LIMIT_REACHED", description="You hold as many of this reward's vouchers as allowed."
    )
    OUT_OF_STOCK = strawberry.enum_value(
        "OUT_OF_STOCK", description="No stock of the reward is left."
    )
    INVALID_SEGMENT = strawberry.enum_value(
        "INVALID_SEGMENT",
        description="The segment's fields are missing, out of range or contradict each other.",
    )
    UNKNOWN_SEGMENT = strawberry.enum_value(
        "UNKNOWN_SEGMENT", description="No segment has this id or name."
    )
    SEGMENT_NAME_TAKEN = strawberry.enum_value(
        "SEGMENT_NAME_TAKEN", description="Another segment has this name."
    )
    SEGMENT_IN_USE = strawberry.enum_value(
        "SEGMENT_IN_USE", description="Earning rules refer to this segment, so it cannot be "
        "removed."
    )
    INVALID_PERIOD = strawberry.enum_value(
        "INVALID_PERIOD", description="The period ends before it starts."
    )
    PERIOD_TOO_LONG = strawberry.enum_value(
        "PERIOD_TOO_LONG", description="The period is longer than the figures allow at once."
    )
    POINT_VALUE_NOT_SET = strawberry.enum_value(
        "POINT_VALUE_NOT_SET",
        description="Points have no value in this currency yet (programmePointValueSet).",
    )
    TRANSFERS_DISABLED = strawberry.enum_value(
        "TRANSFERS_DISABLED", description="The programme does not allow gifting points."
    )
    SENDER_TOO_NEW = strawberry.enum_value(
        "SENDER_TOO_NEW",
        description="Members may gift points only after the programme's minimum membership.",
    )
    TRANSFER_LIMIT_EXCEEDED = strawberry.enum_value(
        "TRANSFER_LIMIT_EXCEEDED",
        description="The gift would pass a daily or monthly cap on points sent or received.",
    )
    TRANSFER_TO_SELF = strawberry.enum_value(
        "TRANSFER_TO_SELF", description="You cannot gift points to yourself."
    )
    ALREADY_ERASED = strawberry.enum_value(
        "ALREADY_ERASED", description="The member's personal data was erased already."
    )
    WRONG_CODE = strawberry.enum_value(
        "WRONG_CODE", description="The one-time code is not right (or none was asked for)."
    )
    CODE_EXPIRED = strawberry.enum_value(
        "CODE_EXPIRED",
        description="The one-time code is too old, or was cancelled after too many wrong "
        "tries; ask for a new one.",
    )
    CODE_USED = strawberry.enum_value(
        "CODE_USED", description="The one-time code was used already; each works once."
    )
    INVALID_DRAW = strawberry.enum_value(
        "INVALID_DRAW", description="The draw's window, prizes or ways to enter are missing, "
        "out of range or contradict each other.")
    UNKNOWN_DRAW = strawberry.enum_value("UNKNOWN_DRAW", description="No draw has this id.")
    DRAW_ALREADY_CLOSED = strawberry.enum_value(
        "DRAW_ALREADY_CLOSED", description="The draw was closed already.")
    DRAW_NOT_OPEN = strawberry.enum_value(
        "DRAW_NOT_OPEN", description="The draw is not open (not yet, no more, or its "
        "entries are not for sale).")
    DRAW_TOO_FEW_ENTRANTS = strawberry.enum_value(
        "DRAW_TOO_FEW_ENTRANTS",
        description="Fewer members entered than the draw has prizes.")
    DRAW_ENTRY_LIMIT = strawberry.enum_value(
        "DRAW_ENTRY_LIMIT", description="You would pass the draw's cap of bought entries.")
    DRAW_NOT_DUE = strawberry.enum_value(
        "DRAW_NOT_DUE", description="The draw closes only at its closesAt, not before.")
    INVALID_BADGE = strawberry.enum_value(
        "INVALID_BADGE", description="The badge's fields are missing or out of range."
    )
    UNKNOWN_BADGE = strawberry.enum_value(
        "UNKNOWN_BADGE", description="No badge has this id, or it is archived where only an "
        "active badge will do."
    )
    BADGE_ALREADY_HELD = strawberry.enum_value(
        "BADGE_ALREADY_HELD", description="The member holds this badge already."
    )
    BADGE_NOT_HELD = strawberry.enum_value(
        "BADGE_NOT_HELD", description="The member does not hold this badge."
    )
    NOT_ELIGIBLE_BADGE = strawberry.enum_value(
        "NOT_ELIGIBLE_BADGE", description="The reward is for members holding badges you do "
        "not hold yet."
    )
    INVALID_LEADERBOARD = strawberry.enum_value(
        "INVALID_LEADERBOARD",
        description="The leaderboard's fields are missing, out of range or contradict each "
        "other (overlapping prizes, a challenge board without its challenge).",
    )
    UNKNOWN_LEADERBOARD = strawberry.enum_value(
        "UNKNOWN_LEADERBOARD", description="No leaderboard has this id."
    )
    DISPLAY_NAME_NOT_ALLOWED = strawberry.enum_value(
        "DISPLAY_NAME_NOT_ALLOWED",
        description="The display name is too short or long, has other characters, looks like "
        "an e-mail, is your own name or e-mail, or contains a blocked word.",
    )
    DISPLAY_NAME_TAKEN = strawberry.enum_value(
        "DISPLAY_NAME_TAKEN", description="Another member has this display name (any case)."
    )


@strawberry.type(description="An expected failure of a mutation. Nothing was changed.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable machine-readable code.")
    message: str = strawberry.field(description="What went wrong, for a person to read.")
    field: list[str] | None = strawberry.field(
        description="Path to the input that caused the error, when one did."
    )
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="For RATE_LIMITED: seconds until the next attempt may work."
    )


def user_errors(error: KizunaError) -> list[UserError]:
    """The payload errors for a domain error (a group becomes one error per problem)."""
    if isinstance(error, InputErrors):
        return [item for nested in error.errors for item in user_errors(nested)]
    retry_after = error.retry_after_seconds if isinstance(error, RateLimited) else None
    return [
        UserError(
            code=ErrorCode(error.code),
            message=error.message,
            field=list(error.field) if error.field else None,
            retry_after_seconds=retry_after,
        )
    ]


def returns_errors_in[**P, R](
    payload: Callable[..., R],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a mutation resolver so a domain error becomes `payload(errors=[...])`."""

    def decorate(resolver: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(resolver)
        async def resolve(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await resolver(*args, **kwargs)
            except KizunaError as error:
                return payload(errors=user_errors(error))

        return resolve

    return decorate
