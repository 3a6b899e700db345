"""Download links for a member's data export: signed, short-lived, bearer-free.

A link is `/data-export/<token>`, the token an EdDSA-signed JWT (the server's signing key,
as access tokens) with `typ` "data-export", its own audience, the member as `sub`, a random
`jti` and an `exp` a few minutes ahead. Whoever holds the link can download that one
member's export until it expires, without signing in: a browser or download manager can
fetch it. Nothing is stored: the link is verified by its signature, and the export is
read from the database as it is downloaded. An access token is not a link (other `typ` and
audience), and a link is no access token.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from auth.keys import Keyring
from store.clock import Clock

ALGORITHM = "EdDSA"
LINK_TYPE = "data-export"
AUDIENCE = "kizuna-data-export"
PATH = "/data-export/"
_REQUIRED = ["iss", "aud", "sub", "exp", "iat", "typ", "jti"]
MAX_TOKEN_LENGTH = 1024


class InvalidExportLink(Exception):
    """The link is not one of ours (malformed, tampered, of another kind)."""


class ExpiredExportLink(InvalidExportLink):
    """A genuine link past its expiry."""


@dataclass(frozen=True, slots=True)
class ExportLink:
    url: str
    """Relative to the API's origin."""
    expires_at: datetime


class ExportLinks:
    def __init__(self, *, keyring: Keyring, issuer: str, lifetime: timedelta,
                 clock: Clock) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self.lifetime = lifetime
        self._clock = clock

    def issue(self, member_id: str) -> ExportLink:
        now = self._clock()
        expires_at = now + self.lifetime
        signing = self._keyring.signing
        token = jwt.encode(
            {"iss": self._issuer, "aud": AUDIENCE, "sub": member_id, "typ": LINK_TYPE,
             "iat": int(now.timestamp()), "exp": int(expires_at.timestamp()),
             "jti": secrets.token_urlsafe(16)},
            signing.private_key, algorithm=ALGORITHM, headers={"kid": signing.kid},
        )
        return ExportLink(url=PATH + token, expires_at=expires_at)

    def verify(self, token: str) -> str:
        """The member whose export `token` opens; raises ExpiredExportLink or
        InvalidExportLink."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidExportLink("malformed")
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._keyring.verifying_key(kid) if isinstance(kid, str) else None
            if key is None or header.get("alg") != ALGORITHM:
                raise InvalidExportLink("unknown signing key or algorithm")
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=self._issuer,
                # Expiry against our clock, the one clock of the code base.
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as error:
            raise InvalidExportLink(str(error)) from error
        if claims["typ"] != LINK_TYPE or not isinstance(claims["exp"], int):
            raise InvalidExportLink("not a data export link")
        if claims["exp"] <= self._clock().timestamp():
            raise ExpiredExportLink("expired")
        return str(claims["sub"])
