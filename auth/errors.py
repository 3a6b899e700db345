"""Expected failures of the auth use cases, each with a stable code."""

from store.errors import KizunaError


class InvalidEmail(KizunaError):
    code = "INVALID_EMAIL"


class WeakPassword(KizunaError):
    code = "WEAK_PASSWORD"


class EmailTaken(KizunaError):
    code = "EMAIL_TAKEN"


class InvalidCredentials(KizunaError):
    """Unknown email or wrong password: deliberately indistinguishable."""

    code = "INVALID_CREDENTIALS"


class InvalidToken(KizunaError):
    """A refresh token that is unknown, expired, revoked or reused."""

    code = "INVALID_TOKEN"


class StoreCodeTaken(KizunaError):
    code = "STORE_CODE_TAKEN"


class AlreadyErased(KizunaError):
    """The member's personal data was erased already."""

    code = "ALREADY_ERASED"


class WrongCode(KizunaError):
    """A one-time code that does not match (or no code was asked for)."""

    code = "WRONG_CODE"


class CodeExpired(KizunaError):
    """A one-time code past its lifetime, or cancelled after too many wrong tries."""

    code = "CODE_EXPIRED"


class CodeUsed(KizunaError):
    """A one-time code that was used already (each works once)."""

    code = "CODE_USED"
