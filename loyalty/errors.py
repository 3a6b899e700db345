"""Expected failures of the loyalty use cases, one class per stable code."""

from store.errors import InvalidInput, KizunaError, NotFound


class InvalidRule(InvalidInput):
    """An earning rule whose fields contradict each other or are out of range."""

    code = "INVALID_RULE"


class UnknownRule(NotFound):
    code = "UNKNOWN_RULE"


class UnknownMember(NotFound):
    code = "UNKNOWN_MEMBER"


class UnknownOrder(NotFound):
    code = "UNKNOWN_ORDER"


class InvalidOrder(InvalidInput):
    """An order that cannot earn: no items, non-positive total, inconsistent lines."""

    code = "INVALID_ORDER"


class RefundExceedsOrder(KizunaError):
    code = "REFUND_EXCEEDS_ORDER"


class RefundNotAllowed(KizunaError):
    """The order was recorded through another channel than the one refunding it."""

    code = "REFUND_NOT_ALLOWED"


class InsufficientPoints(KizunaError):
    code = "INSUFFICIENT_POINTS"


class InvalidPeriod(InvalidInput):
    """A period that ends before it starts."""

    code = "INVALID_PERIOD"


class PeriodTooLong(InvalidInput):
    """A period longer than the figures allow at once."""

    code = "PERIOD_TOO_LONG"


class PointValueNotSet(KizunaError):
    """Points have no value set in the currency asked for."""

    code = "POINT_VALUE_NOT_SET"
