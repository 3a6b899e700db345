"""Short-lived access tokens: EdDSA-signed JWTs with every registered claim required."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from auth.keys import Keyring
from auth.roles import ApiKeyScope, Principal, Role
from store.clock import Clock

ALGORITHM = "EdDSA"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "typ"]
_CLOCK_SKEW_SECONDS = 30


class InvalidAccessToken(Exception):
    """The bearer token cannot be trusted (malformed, tampered, expired or of another kind)."""


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_at: datetime


class AccessTokens:
    """Issues and verifies access tokens for one issuer and audience."""

    def __init__(
        self,
        *,
        keyring: Keyring,
        issuer: str,
        audience: str,
        lifetime: timedelta,
        clock: Clock,
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self.lifetime = lifetime
        self._clock = clock

    def issue(self, principal: Principal) -> IssuedAccessToken:
        now = self._clock()
        expires_at = now + self.lifetime
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": principal.subject_id,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "typ": ACCESS_TOKEN_TYPE,
            "role": principal.role.value,
        }
        if principal.store_id:
            claims["store"] = principal.store_id
        if principal.session_id:
            claims["sid"] = principal.session_id
        signing = self._keyring.signing
        token = jwt.encode(
            claims,
            signing.private_key,
            algorithm=ALGORITHM,
            headers={"kid": signing.kid, "typ": "at+jwt"},
        )
        return IssuedAccessToken(token=token, expires_at=expires_at)

    def verify(self, token: str) -> Principal:
        """The principal the token was issued to; raises InvalidAccessToken otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._keyring.verifying_key(kid) if isinstance(kid, str) else None
            if key is None or header.get("alg") != ALGORITHM:
                raise InvalidAccessToken("unknown signing key or algorithm")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                # Expiry is checked below against our clock, the one clock of the code base.
                options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
            )
            if claims["typ"] != ACCESS_TOKEN_TYPE:
                raise InvalidAccessToken("not an access token")
            now = self._clock().timestamp()
            if not isinstance(claims["exp"], int) or claims["exp"] <= now:
                raise InvalidAccessToken("expired")
            if not isinstance(claims["iat"], int) or claims["iat"] > now + _CLOCK_SKEW_SECONDS:
                raise InvalidAccessToken("issued in the future")
            role = Role(claims["role"])
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            raise InvalidAccessToken(str(error)) from error
        if role is Role.INTEGRATION:
            raise InvalidAccessToken("integrations authenticate with API keys")
        return Principal(
            subject_id=str(claims["sub"]),
            role=role,
            store_id=claims.get("store"),
            scopes=frozenset[ApiKeyScope](),
            session_id=claims.get("sid"),
        )
