"""Expected failures of prize draws, one class per stable code (schema/errors.py ErrorCode)."""

from store.errors import InvalidInput, KizunaError, NotFound


class InvalidDraw(InvalidInput):
    """A draw whose fields are missing, out of range or contradict each other (a window
    that ends before it starts, no prize, no way to enter)."""

    code = "INVALID_DRAW"


class UnknownDraw(NotFound):
    code = "UNKNOWN_DRAW"


class DrawAlreadyClosed(KizunaError):
    code = "DRAW_ALREADY_CLOSED"


class DrawNotOpen(KizunaError):
    """Entries are bought only while the draw is open (not before, not after, and only in
    a draw that sells them)."""

    code = "DRAW_NOT_OPEN"


class DrawTooFewEntrants(KizunaError):
    """An administrator closing a draw with fewer entrants than prizes."""

    code = "DRAW_TOO_FEW_ENTRANTS"


class DrawNotDue(KizunaError):
    """An administrator closing a draw before its closes_at: whoever knows the seed could
    otherwise close it the moment a favoured entrant would win."""

    code = "DRAW_NOT_DUE"


class DrawEntryLimit(KizunaError):
    """The purchase would pass the draw's cap of bought entries per member."""

    code = "DRAW_ENTRY_LIMIT"
