"""Signing in, refreshing and signing out: the token use cases."""

from dataclasses import dataclass, field
from datetime import timedelta

from auth.accounts import Account, find_credentials, get_account
from auth.attempts import AttemptLimit, AttemptLimiter
from auth.codes import CodePolicy
from auth.errors import InvalidCredentials, InvalidToken
from auth.passwords import Passwords
from auth.refresh_tokens import IssuedRefreshToken, RefreshTokens, SignInClient
from auth.revocations import SessionRevocations
from auth.roles import Principal
from auth.tokens import AccessTokens, InvalidAccessToken, IssuedAccessToken
from auth.validation import normalize_email
from store import KizunaError, Store


class SignInEnded(InvalidAccessToken):
    """The token is genuine but its sign-in was ended (signed out, or its refresh token
    was stolen)."""


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """Failed sign-ins per account and per client address; registrations per address."""

    per_account: AttemptLimit = field(
        default_factory=lambda: AttemptLimit(5, timedelta(minutes=15))
    )
    per_client: AttemptLimit = field(
        default_factory=lambda: AttemptLimit(30, timedelta(minutes=15))
    )
    registrations_per_client: AttemptLimit = field(
        default_factory=lambda: AttemptLimit(20, timedelta(hours=1))
    )


@dataclass(frozen=True, slots=True)
class TokenPair:
    account: Account
    access: IssuedAccessToken
    refresh: IssuedRefreshToken


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Everything the token use cases need, built once by the composition root."""

    store: Store
    passwords: Passwords
    access_tokens: AccessTokens
    refresh_tokens: RefreshTokens
    revocations: SessionRevocations
    attempts: AttemptLimiter
    limits: AttemptLimits
    codes: CodePolicy = field(default_factory=CodePolicy)
    """One-time codes: password reset, e-mail change (auth/codes.py)."""


def _email_key(email: str) -> str:
    try:
        return normalize_email(email)
    except KizunaError:
        return email.strip().lower()


async def sign_in(
    auth: Authenticator, *, email: str, password: str, client_address: str,
    client: SignInClient | None = None,
) -> TokenPair:
    """Check the password and issue a token pair.

    Raises RateLimited after too many failures for this account or client address (or
    while the server has too many passwords to check), and InvalidCredentials (never saying
    which part was wrong) otherwise.
    """
    normalized = _email_key(email)
    limits = {
        f"account:{normalized}": auth.limits.per_account,
        f"client:{client_address}": auth.limits.per_client,
    }
    # A place in the password line first: a flood refused for want of one costs no
    # database work and counts as no attempt.
    async with auth.passwords.turn(client=client_address):
        counters = await auth.attempts.reserve(limits)
        found = await find_credentials(auth.store, normalized)
        account, password_hash = found if found else (None, None)
        matches = await auth.passwords.verify(password_hash, password)
    if not matches or account is None:
        raise InvalidCredentials("The email or password is incorrect.")
    await auth.attempts.release(counters)
    recorded = client or SignInClient(address=client_address)
    return await _pair(auth, account, await auth.refresh_tokens.issue(account.id,
                                                                      client=recorded))


def authenticate(auth: Authenticator, access_token: str) -> Principal:
    """Who presents `access_token`: it must verify and its sign-in must not have ended.
    Raises InvalidAccessToken (SignInEnded for a sign-in that was ended)."""
    principal = auth.access_tokens.verify(access_token)
    if auth.revocations.is_revoked(principal.session_id):
        raise SignInEnded("This sign-in has ended; sign in again.")
    return principal


async def refresh(auth: Authenticator, *, refresh_token: str) -> TokenPair:
    """Rotate `refresh_token` into a new pair; raises InvalidToken (reuse revokes the family)."""
    rotated = await auth.refresh_tokens.rotate(refresh_token)
    account = await get_account(auth.store, rotated.account_id)
    if account is None:
        await auth.refresh_tokens.revoke_family(rotated.family_id)
        raise InvalidToken("This account no longer exists.", field=("input", "refreshToken"))
    return await _pair(auth, account, rotated)


async def sign_out(auth: Authenticator, *, refresh_token: str) -> None:
    """Revoke the sign-in (token family) that `refresh_token` belongs to."""
    await auth.refresh_tokens.revoke(refresh_token)


async def _pair(auth: Authenticator, account: Account, refresh: IssuedRefreshToken) -> TokenPair:
    access = auth.access_tokens.issue(account.principal(session_id=refresh.family_id))
    return TokenPair(account=account, access=access, refresh=refresh)
