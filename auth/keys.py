"""Ed25519 signing keys for access tokens (and, later, voucher QR payloads).

The newest key signs; older keys keep verifying until every token they signed has expired,
which is what makes rotation safe. Keys are identified by their RFC 7638 thumbprint (`kid`)
and published as a JWKS document so anyone holding it can verify offline.
"""

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

KEY_FILE_SUFFIX = ".ed25519.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the canonical JWK members."""
    canonical = json.dumps(public_jwk(public_key), separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    kid: str
    public_key: Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


class Keyring:
    """The current signing key and every key still trusted for verification."""

    def __init__(self, signing: Ed25519PrivateKey, previous: list[Ed25519PublicKey]) -> None:
        self.signing = SigningKey(key_id(signing.public_key()), signing)
        keys = [signing.public_key(), *previous]
        self._verifying = {key_id(k): VerifyingKey(key_id(k), k) for k in keys}

    def verifying_key(self, kid: str) -> Ed25519PublicKey | None:
        found = self._verifying.get(kid)
        return found.public_key if found else None

    def verifying_keys(self) -> list[Ed25519PublicKey]:
        """Every trusted public key, the signing key's first."""
        return [k.public_key for k in self._verifying.values()]

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWKS document (RFC 7517) for /.well-known/jwks.json."""
        return {
            "keys": [
                {**public_jwk(k.public_key), "kid": k.kid, "alg": "EdDSA", "use": "sig"}
                for k in self._verifying.values()
            ]
        }

    @classmethod
    def from_pem(cls, signing_pem: bytes, previous_public_pems: bytes = b"") -> "Keyring":
        """A keyring from a private key PEM and any number of concatenated public PEMs."""
        try:
            signing = serialization.load_pem_private_key(signing_pem, password=None)
        except (ValueError, TypeError) as error:
            raise ValueError("the signing key is not a readable PEM private key") from error
        if not isinstance(signing, Ed25519PrivateKey):
            raise ValueError("the signing key must be an Ed25519 private key")
        previous: list[Ed25519PublicKey] = []
        marker = b"-----END PUBLIC KEY-----"
        for block in previous_public_pems.split(marker):
            if block.strip():
                try:
                    key = serialization.load_pem_public_key(block + marker)
                except (ValueError, TypeError) as error:
                    raise ValueError("a previous key is not a readable PEM public key") from error
                if not isinstance(key, Ed25519PublicKey):
                    raise ValueError("previous keys must be Ed25519 public keys")
                previous.append(key)
        return cls(signing, previous)


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_new_key(key_dir: Path, *, now: datetime) -> Path:
    """Generate a key into `key_dir` (owner-only permissions); it becomes the signing key."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    path = key_dir / f"{now:%Y%m%dT%H%M%S%f}-{key_id(key.public_key())}{KEY_FILE_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_private_pem(key))
    return path


def load_key_dir(key_dir: Path, *, now: datetime, token_lifetime: timedelta) -> Keyring:
    """The keyring kept in `key_dir`, generating the first key when there is none.

    The newest file signs. An older key stays trusted while a token it signed can still be
    valid: until its successor has been signing for longer than `token_lifetime`.
    """
    paths = sorted(key_dir.glob(f"*{KEY_FILE_SUFFIX}")) if key_dir.exists() else []
    if not paths:
        paths = [write_new_key(key_dir, now=now)]
    keys: list[Ed25519PrivateKey] = []
    for path in paths:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        keys.append(key)
    successor_since = [
        datetime.strptime(p.name.split("-", 1)[0], "%Y%m%dT%H%M%S%f").replace(tzinfo=now.tzinfo)
        for p in paths[1:]
    ]
    previous = [
        key.public_key()
        for key, replaced_at in zip(keys[:-1], successor_since, strict=True)
        if now - replaced_at < token_lifetime
    ]
    return Keyring(keys[-1], previous)


def public_pem(key: Ed25519PublicKey) -> str:
    """The PEM of a public key, as KIZUNA_JWT_PREVIOUS_PUBLIC_KEYS expects it."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
