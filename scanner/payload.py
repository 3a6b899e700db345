"""Signed QR payloads: a voucher a scanner can verify offline with the JWKS document.

The payload is a compact JWS (a JWT): header `{"alg":"EdDSA"}`, claims
`{"v": voucher id, "c": canonical code, "exp": voucher expiry (Unix seconds)}`, signed with
the server's current Ed25519 key (the one published at /.well-known/jwks.json). The header
carries no `kid` and no `typ`: that keeps the token near 200 characters, a QR of version 10
or less, and a verifier simply tries each EdDSA key of the JWKS (there are one or two).
See docs/qr-payload.md.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from auth.keys import Keyring
from scanner import codes
from scanner.errors import InvalidSignature

ALGORITHM = "EdDSA"
MAX_PAYLOAD_LENGTH = 512


@dataclass(frozen=True, slots=True)
class VoucherClaims:
    voucher_id: str
    code: str
    expires_at: datetime


class VoucherTokens:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def sign(self, *, voucher_id: str, code: str, expires_at: datetime) -> str:
        claims = {"v": voucher_id, "c": code, "exp": int(expires_at.timestamp())}
        return jwt.encode(
            claims, self._keyring.signing.private_key, algorithm=ALGORITHM,
            headers={"typ": None},
        )

    def verify(self, payload: str) -> VoucherClaims:
        """The claims of a token signed by a trusted key; raises InvalidSignature.

        Expiry is not checked here: an expired voucher's token is still genuine, and the
        cashier should hear "expired", not "invalid"."""
        token = payload.strip()
        if not token or len(token) > MAX_PAYLOAD_LENGTH:
            raise InvalidSignature("This QR code is not a Kizuna voucher.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidSignature("This QR code is not a Kizuna voucher.") from error
        if header.get("alg") != ALGORITHM:
            raise InvalidSignature("This QR code is not a Kizuna voucher.")
        for key in self._keyring.verifying_keys():
            try:
                claims = jwt.decode(
                    token, key, algorithms=[ALGORITHM],
                    options={"require": ["v", "c", "exp"], "verify_exp": False},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as error:
                raise InvalidSignature("This QR code is not a Kizuna voucher.") from error
            return _claims(claims)
        raise InvalidSignature("This voucher's signature does not match any of our keys.")


def _claims(claims: dict[str, object]) -> VoucherClaims:
    voucher_id, code, expiry = claims.get("v"), claims.get("c"), claims.get("exp")
    if not (isinstance(voucher_id, str) and isinstance(code, str) and isinstance(expiry, int)):
        raise InvalidSignature("This QR code is not a Kizuna voucher.")
    try:
        canonical = codes.normalize(code)
    except codes.MalformedCode as error:
        raise InvalidSignature("This QR code is not a Kizuna voucher.") from error
    return VoucherClaims(voucher_id, canonical, datetime.fromtimestamp(expiry, UTC))
