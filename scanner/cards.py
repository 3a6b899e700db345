"""Rotating member-card tokens: a QR that a screenshot cannot reuse for long.

Each member has a card: {_id: card id (16 Crockford symbols, 80 random bits), member_id,
secret (20 random bytes, base32), created_at}. The token shown in the app is
`KZC` + card id + an 8-digit code computed TOTP-style (RFC 6238 with HMAC-SHA256) from the
secret and the current 30-second step. A scan accepts the current and the previous step,
so a token works for 30 to 60 seconds. Upper-case letters and digits only: the QR uses
the compact alphanumeric mode.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from scanner.codes import ALPHABET
from scanner.collections import MEMBER_CARDS
from scanner.errors import InvalidCardToken
from store import ReturnDocument, Store, is_duplicate_key
from store.clock import Clock

STEP_SECONDS = 30
PREFIX = "KZC"
CARD_ID_LENGTH = 16
DIGITS = 8
TOKEN_LENGTH = len(PREFIX) + CARD_ID_LENGTH + DIGITS


@dataclass(frozen=True, slots=True)
class CardToken:
    token: str
    expires_at: datetime
    refresh_in_seconds: int


def _code(secret: bytes, step: int) -> str:
    """RFC 4226 dynamic truncation of HMAC-SHA256(secret, step)."""
    digest = hmac.new(secret, step.to_bytes(8, "big"), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def _step(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


async def member_card(store: Store, *, member_id: str, clock: Clock) -> CardToken:
    """The member's current card token, creating their card on first use (one round trip)."""
    cards = store.collection(MEMBER_CARDS)
    try:
        card = await cards.find_one_and_update(
            {"member_id": member_id},
            {"$setOnInsert": {
                "_id": "".join(secrets.choice(ALPHABET) for _ in range(CARD_ID_LENGTH)),
                "secret": base64.b32encode(secrets.token_bytes(20)).decode(),
                "created_at": clock(),
            }},
            upsert=True, return_document=ReturnDocument.AFTER,
        )
    except Exception as error:
        if not is_duplicate_key(error):
            raise
        # Two first requests raced on the unique member index: the other one created it.
        card = await cards.find_one({"member_id": member_id})
    assert card is not None  # noqa: S101 - upserted just above
    now = clock()
    step = _step(now)
    expires_at = datetime.fromtimestamp((step + 1) * STEP_SECONDS, UTC)
    return CardToken(
        token=PREFIX + card["_id"] + _code(base64.b32decode(card["secret"]), step),
        expires_at=expires_at,
        refresh_in_seconds=max(1, int((expires_at - now).total_seconds())),
    )


async def card_holder(store: Store, *, token: str, clock: Clock) -> str:
    """The member id behind a current card token; raises InvalidCardToken for a malformed,
    unknown or stale one (older than the previous step)."""
    cleaned = token.strip().upper()
    card_id = cleaned[len(PREFIX) : len(PREFIX) + CARD_ID_LENGTH]
    code = cleaned[len(PREFIX) + CARD_ID_LENGTH :]
    if (
        len(cleaned) != TOKEN_LENGTH or not cleaned.startswith(PREFIX)
        or any(c not in ALPHABET for c in card_id) or not code.isdigit()
    ):
        raise InvalidCardToken("This is not a Kizuna member card.", field=("input", "token"))
    card = await store.collection(MEMBER_CARDS).find_one({"_id": card_id})
    if card is not None:
        secret = base64.b32decode(card["secret"])
        step = _step(clock())
        if any(hmac.compare_digest(_code(secret, s), code) for s in (step, step - 1)):
            return str(card["member_id"])
    raise InvalidCardToken(
        "This member card is not valid or has expired: ask the member to show the card "
        "in the app again.",
        field=("input", "token"),
    )


async def card_member(store: Store, typed: str) -> str | None:
    """The member whose card is `typed`: a card id, or a whole scanned token (its code is
    not checked: this finds a card, it admits no one). None when it is neither or unknown;
    one query, none for text that cannot be a card."""
    cleaned = "".join(typed.split()).upper()
    if cleaned.startswith(PREFIX) and len(cleaned) == TOKEN_LENGTH:
        cleaned = cleaned[len(PREFIX) : len(PREFIX) + CARD_ID_LENGTH]
    if len(cleaned) != CARD_ID_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    card = await store.collection(MEMBER_CARDS).find_one({"_id": cleaned}, {"member_id": 1})
    return str(card["member_id"]) if card else None


async def card_ids(store: Store, member_ids: list[str]) -> dict[str, str]:
    """The card id of each of these members that has a card; one query."""
    cursor = store.collection(MEMBER_CARDS).find(
        {"member_id": {"$in": member_ids}}, {"member_id": 1})
    return {doc["member_id"]: doc["_id"] async for doc in cursor}
