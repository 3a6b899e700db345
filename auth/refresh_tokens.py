"""Refresh tokens: opaque, stored hashed, rotated on every use, reuse revokes the family.

A family is one sign-in on one device. Every refresh replaces the presented token with a
new one of the same family; presenting a token that was already replaced means it leaked
(or the client is confused), so the whole family is revoked and the device signs in again.
A revoked family's access tokens stop working too (see auth/revocations.py).

Each token of a family carries what was recorded when the family began (the sign-in): its
time, the client's user agent, address and the device name the app gave, so the member can
recognise their sign-ins (`sessions`) and end any of them.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auth.collections import REFRESH_TOKENS
from auth.errors import InvalidToken
from auth.revocations import SessionRevocations
from store import NotFound, ReturnDocument, Session, Store
from store.clock import Clock

_FIELD = ("input", "refreshToken")
MAX_USER_AGENT = 256
MAX_DEVICE_NAME = 64
MAX_LISTED = 100
"""The most sign-ins `sessions` lists (the most recently used)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    token: str
    family_id: str
    account_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignInClient:
    """What is recorded of the client at sign-in (shown to the member, never trusted)."""

    user_agent: str = ""
    address: str = ""
    device_name: str | None = None

    def fields(self) -> dict[str, Any]:
        name = " ".join((self.device_name or "").split())[:MAX_DEVICE_NAME]
        return {"user_agent": self.user_agent[:MAX_USER_AGENT],
                "client_address": self.address[:64], "device_name": name or None}


@dataclass(frozen=True, slots=True)
class SignInSession:
    """One sign-in: a refresh-token family that is still alive."""

    id: str
    """The family id."""
    signed_in_at: datetime
    last_used_at: datetime
    """The sign-in or the last refresh (an access token is used without a record)."""
    user_agent: str
    client_address: str
    device_name: str | None
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

    async def issue(
        self, account_id: str, *, family_id: str | None = None,
        client: SignInClient | None = None, sign_in: dict[str, Any] | None = None,
    ) -> IssuedRefreshToken:
        """A new token: of a new family (a sign-in from `client`), or of `family_id`
        carrying its sign-in's record `sign_in` on."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        family = family_id or secrets.token_hex(12)
        expires_at = now + self._lifetime
        recorded = sign_in or {"signed_in_at": now, **(client or SignInClient()).fields()}
        await self._tokens.insert_one(
            {
                "_id": _digest(token),
                "family_id": family,
                "account_id": account_id,
                "created_at": now,
                "expires_at": expires_at,
                "rotated_at": None,
                "revoked_at": None,
                **recorded,
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
        sign_in = {key: spent.get(key) for key in
                   ("signed_in_at", "user_agent", "client_address", "device_name")}
        sign_in["signed_in_at"] = sign_in["signed_in_at"] or spent["created_at"]
        return await self.issue(spent["account_id"], family_id=spent["family_id"],
                                sign_in=sign_in)

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

    async def revoke_all(
        self, account_id: str, *, except_family: str | None = None,
        session: Session | None = None,
    ) -> int:
        """End every live sign-in of the account but `except_family` (the caller's own):
        their refresh tokens and access tokens stop working. Returns how many ended. With
        `session`, in the caller's transaction (a password change and the sign-outs it
        means commit together)."""
        live = self._tokens.find({"account_id": account_id, "rotated_at": None,
                                  "revoked_at": None, "expires_at": {"$gt": self._clock()}},
                                 {"family_id": 1}, session=session)
        families = list(dict.fromkeys(
            [doc["family_id"] async for doc in live if doc["family_id"] != except_family]))
        for family in families:
            await self._revocations.revoke(family, session=session)
        if families:
            await self._tokens.update_many(
                {"account_id": account_id, "family_id": {"$in": families}, "revoked_at": None},
                {"$set": {"revoked_at": self._clock()}}, session=session)
        return len(families)

    async def sessions(self, account_id: str) -> list[SignInSession]:
        """The account's live sign-ins, most recently used first (at most MAX_LISTED):
        each family's current token, neither spent, revoked nor expired."""
        cursor = self._tokens.find({
            "account_id": account_id, "rotated_at": None, "revoked_at": None,
            "expires_at": {"$gt": self._clock()}}).sort("created_at", -1).limit(MAX_LISTED)
        return [SignInSession(
            id=doc["family_id"], signed_in_at=doc.get("signed_in_at") or doc["created_at"],
            last_used_at=doc["created_at"], user_agent=doc.get("user_agent") or "",
            client_address=doc.get("client_address") or "", device_name=doc.get("device_name"),
            expires_at=doc["expires_at"]) async for doc in cursor]

    async def revoke_session(self, account_id: str, family_id: str) -> None:
        """End the account's sign-in `family_id`; raises NotFound when it is not one of the
        account's (another member's sign-in is not found either)."""
        found = await self._tokens.find_one({"account_id": account_id, "family_id": family_id},
                                            {"_id": 1})
        if found is None:
            raise NotFound("You have no sign-in with this id.", field=("input", "session"))
        await self.revoke_family(family_id)
