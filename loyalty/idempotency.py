"""Idempotency of external events: their ids, a payload fingerprint and the replay-or-conflict
rule."""

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from loyalty.errors import InvalidOrder
from store import IdempotencyConflict, InvalidInput

_EXTERNAL_ID = re.compile(r"^[\w.:/#@+-]{1,128}$")


def check_key(value: str) -> str:
    """A member's idempotency key (a reward redemption, a gift), trimmed; raises
    InvalidInput unless it is 1–128 of the characters external ids use."""
    cleaned = value.strip()
    if not _EXTERNAL_ID.match(cleaned):
        raise InvalidInput("Use 1–128 letters, digits or . : / # @ + - _ for the idempotency "
                           "key.", field=("input", "idempotencyKey"))
    return cleaned


def fingerprint(payload: Mapping[str, Any]) -> str:
    """A stable hash of an event's payload (key order and datetime format do not matter)."""

    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        raise TypeError(f"cannot fingerprint {type(value).__name__}")

    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=default)
    return hashlib.sha256(canonical.encode()).hexdigest()


def ensure_same_payload(stored_hash: str | None, payload_hash: str, *, what: str) -> None:
    """A replay must carry the payload of the first call; anything else is a conflict."""
    if stored_hash != payload_hash:
        raise IdempotencyConflict(
            f"This {what} was already recorded with different details.",
            field=("input",),
        )


def check_external_id(value: str, *, field: tuple[str, ...], what: str) -> str:
    cleaned = value.strip()
    if not _EXTERNAL_ID.match(cleaned):
        raise InvalidOrder(
            f"Use 1–128 letters, digits or . : / # @ + - _ for the {what}.", field=field
        )
    return cleaned
