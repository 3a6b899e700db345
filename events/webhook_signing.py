"""Standard Webhooks signatures (https://www.standardwebhooks.com): receivers verify them
with any Standard Webhooks library and the endpoint's `whsec_…` secret.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature HMAC-SHA256
with the secret's bytes, base64, prefixed `v1,`. During a secret rotation the header carries
one signature per live secret, separated by spaces, so a receiver holding either verifies.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_header(secrets_in_use: Sequence[str], *, message_id: str, timestamp: int,
                     body: bytes) -> str:
    """The `webhook-signature` value: one `v1,<signature>` per secret."""
    content = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest())
        .decode()
        for secret in secrets_in_use
    )


def headers(secrets_in_use: Sequence[str], *, message_id: str, timestamp: int,
            body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_use, message_id=message_id,
                                              timestamp=timestamp, body=body),
    }
