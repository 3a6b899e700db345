"""Refresh tokens: opaque, stored hashed, rotated on every use, reuse revokes the family.

A family is one sign-in on one device. Every refresh replaces the presented token with a
new one of the same family; presenting a token that was already replaced means it leaked
(or the client is confused), so the whole family is revoked and the device signs in again.
A revoked family's access tokens stop working too (see auth/revocations.py).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from auth.collections import REFRESH_TOKENS
from auth.errors import InvalidToken
from auth.revocations import SessionRevocations
from store import ReturnDocument, Store
from store.clock import Clock

_FIELD = ("input", "refreshToken")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    token: str
    family_id: str
    account_id: str
    expires_at: datetime


class RefreshTokens:
    def __init__(
        self, store: Store, *, lifetime: timedelta, clock: Clock,
        revocations: SessionRevocations,
    ) -> None:
        self._tokens = store.collection(REFRESH_TOKENS)
        self._lifetime = lifetime
        self._clock = clock
        self._revocations = revocations

    async def issue(self, account_id: str, *, family_id: str | None = None) -> IssuedRefreshToken:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        family = family_id or secrets.token_hex(12)
        expires_at = now + self._lifetime
        await self._tokens.insert_one(
            {
                "_id": _digest(token),
                "family_id": family,
                "account_id": account_id,
                "created_at": now,
                "expires_at": expires_at,
                "rotated_at": None,
                "revoked_at": None,
            }
        )
        return IssuedRefreshToken(token, family, account_id, expires_at)

    async def rotate(self, token: str) -> IssuedRefreshToken:
        """Spend `token` and return its successor; raises InvalidToken (and revokes the
        family) when the token was already spent."""
        now = self._clock()
        spent = await self._tokens.find_one_and_update(
            {"_id": _digest(token), "rotated_at": None, "revoked_at": None,
             "expires_at": {"$gt": now}},
            {"$set": {"rotated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if spent is None:
            known = await self._tokens.find_one({"_id": _digest(token)})
            if known is not None and known["rotated_at"] is not None:
                await self.revoke_family(known["family_id"])
                raise InvalidToken(
                    "This refresh token was already used; sign in again.", field=_FIELD
                )
            raise InvalidToken("This refresh token is not valid; sign in again.", field=_FIELD)
        return await self.issue(spent["account_id"], family_id=spent["family_id"])

    async def revoke(self, token: str) -> str:
        """Revoke the family of `token` (sign out); returns the family id."""
        known = await self._tokens.find_one({"_id": _digest(token)}, {"family_id": 1})
        if known is None:
            raise InvalidToken("This refresh token is not valid.", field=_FIELD)
        await self.revoke_family(known["family_id"])
        family_id: str = known["family_id"]
        return family_id

    async def revoke_family(self, family_id: str) -> None:
        """End the sign-in: its refresh tokens and its access tokens stop working."""
        await self._revocations.revoke(family_id)
        await self._tokens.update_many(
            {"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": self._clock()}}
        )

    async def revoke_all(self, account_id: str, *, except_family: str | None = None) -> int:
        """End every sign-in of the account (but `except_family`, the caller's own, when
        given): their refresh tokens and access tokens stop working. Returns how many
        sign-ins ended."""
        query: dict[str, object] = {"account_id": account_id, "revoked_at": None}
        families = {doc["family_id"] async for doc in self._tokens.find(query, {"family_id": 1})}
        if except_family is not None:
            families.discard(except_family)
        for family_id in sorted(families):
            await self.revoke_family(family_id)
        return len(families)
