"""Expected failures of voucher and member-card use cases, one class per stable code."""

from store.errors import InvalidInput, KizunaError, NotFound


class VoucherNotFound(NotFound):
    """No voucher has this code or id (or the caller may not see it)."""


class InvalidSignature(KizunaError):
    """A QR payload that is not a voucher token signed by one of our keys."""

    code = "INVALID_SIGNATURE"


class InvalidCode(InvalidInput):
    """A typed code with a wrong check character or symbols outside the alphabet."""

    code = "INVALID_CODE"


class VoucherExpired(KizunaError):
    code = "EXPIRED"


class AlreadyRedeemed(KizunaError):
    code = "ALREADY_REDEEMED"


class VoucherCancelled(KizunaError):
    code = "CANCELLED"


class WrongStore(KizunaError):
    """The voucher is restricted to other stores."""

    code = "WRONG_STORE"


class WrongChannel(KizunaError):
    """The voucher is restricted to the other channel (online or in store)."""

    code = "WRONG_CHANNEL"


class OrderTotalTooLow(KizunaError):
    code = "ORDER_TOTAL_TOO_LOW"


class RedemptionVoided(KizunaError):
    """A retry of a redemption that a manager has voided since."""

    code = "REDEMPTION_VOIDED"


class NotRedeemed(KizunaError):
    """Only a redeemed voucher's redemption can be voided."""

    code = "NOT_REDEEMED"


class VoidWindowClosed(KizunaError):
    code = "VOID_WINDOW_CLOSED"


class ManagerRequired(KizunaError):
    """Voiding a redemption needs a manager of the store where it happened."""

    code = "MANAGER_REQUIRED"


class InvalidCardToken(KizunaError):
    """A member-card token that is malformed, unknown or too old (a screenshot)."""

    code = "INVALID_CARD_TOKEN"
