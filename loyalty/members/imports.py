"""Opening balances and tiers (`kizuna import balances`): the rows of a balances file, checked
against what the database holds and applied a batch at a time (docs/import.md).

A member gets one opening balance, ever: the first row applied marks their members document
with `opening_balance` {file, line, payload_hash, at}. The same row again (a re-run, a resumed
import) changes nothing; another row for the same member is refused (ALREADY_IMPORTED). The
points are an IMPORT ledger entry (loyalty/ledger/openings.py) and the tier a move
"Imported" (loyalty/tiers/moves.py), written with the mark in one transaction.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from loyalty.collections import MEMBERS
from loyalty.ledger.adjustments import MAX_ADJUSTMENT
from loyalty.ledger.entry_events import write_entries
from loyalty.ledger.openings import Opening, opening_writes, write_lots
from loyalty.programme.settings import Programme
from loyalty.programme.tier_rules import Tier
from loyalty.tiers.moves import imported_tiers
from store import Document, InvalidInput, KizunaError, Session, Store, UpdateOne
from store.errors import InvalidDate

NEVER = "never"
"""The `expires_at` of points that never expire."""


class NegativeBalance(KizunaError):
    code = "NEGATIVE_BALANCE"


class UnknownTier(KizunaError):
    code = "UNKNOWN_TIER"


class UnknownMember(KizunaError):
    code = "UNKNOWN_MEMBER"


class AlreadyImported(KizunaError):
    """The member has an opening balance from another row."""

    code = "ALREADY_IMPORTED"


@dataclass(frozen=True, slots=True)
class ImportedBalance:
    """One valid row of a balances file."""

    external_id: str
    points: int
    expires_at: datetime | None
    by_policy: bool
    """No expiry given: the programme's earning policy, from the import."""
    tier: Tier | None
    line: int
    payload_hash: str


def balance_from_row(row: Mapping[str, str], *, external_id: str, line: int,
                     programme: Programme, now: datetime) -> ImportedBalance:
    """The balance a row gives; raises InvalidInput, InvalidDate, NegativeBalance or
    UnknownTier (the first problem)."""
    points = _points(row.get("points", ""))
    expiry_text = row.get("expires_at", "").strip()
    by_policy = not expiry_text
    expiry = None if by_policy or expiry_text.lower() == NEVER else _expiry(
        expiry_text, programme, now)
    tier = _tier(row.get("tier", ""), programme)
    payload = {"points": points, "tier": tier.id if tier else None,
               "expires_at": expiry.isoformat() if expiry else expiry_text.lower() or None}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return ImportedBalance(external_id=external_id, points=points, expires_at=expiry,
                           by_policy=by_policy, tier=tier, line=line, payload_hash=digest)


def _points(text: str) -> int:
    cleaned = text.strip()
    try:
        points = int(cleaned) if cleaned else 0
    except ValueError:
        raise InvalidInput(f"points must be a whole number, not {cleaned!r}.",
                           field=("points",)) from None
    if points < 0:
        raise NegativeBalance(f"An opening balance cannot be negative ({points}).",
                              field=("points",))
    if points > MAX_ADJUSTMENT:
        raise InvalidInput(f"An opening balance is at most {MAX_ADJUSTMENT} points.",
                           field=("points",))
    return points


def _expiry(text: str, programme: Programme, now: datetime) -> datetime:
    """A time, or a date: its end in the programme's time zone (points valid through it)."""
    try:
        if "T" in text or " " in text:
            parsed = datetime.fromisoformat(text)
            at = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        else:
            day = date.fromisoformat(text)
            at = datetime.combine(day + timedelta(days=1), time(), programme.timezone)
    except (ValueError, OverflowError):
        raise InvalidDate(f"expires_at must be a date, a time or `never`, not {text!r}.",
                          field=("expires_at",)) from None
    at = at.astimezone(UTC)
    if at <= now:
        raise InvalidDate(f"These points expired already ({text}).", field=("expires_at",))
    return at


def _tier(text: str, programme: Programme) -> Tier | None:
    wanted = text.strip().casefold()
    if not wanted:
        return None
    for tier in programme.tiers:
        if wanted in (tier.id.casefold(), tier.name.casefold()):
            return tier
    names = ", ".join(tier.name for tier in programme.tiers) or "none: the programme has none"
    raise UnknownTier(f"No tier {text.strip()!r} (tiers: {names}).", field=("tier",))


_BEFORE = {"points": 1, "debt": 1, "tier.id": 1, "opening_balance.payload_hash": 1}


async def members_before(store: Store, session: Session | None, member_ids: Sequence[str]) -> (
    dict[str, Document]
):
    """The members documents of a batch (≤ 250 ids) as they are: one query."""
    cursor = store.collection(MEMBERS).find({"_id": {"$in": list(member_ids)}}, _BEFORE,
                                            session=session)
    return {doc["_id"]: doc async for doc in cursor}


def is_new(balance: ImportedBalance, before: Document | None) -> bool:
    """Whether the row is still to apply (True) or applied before (False); raises
    AlreadyImported when another row gave the member their opening balance."""
    if before is None or "opening_balance" not in before:
        return True
    if before["opening_balance"].get("payload_hash") == balance.payload_hash:
        return False
    raise AlreadyImported("This member has an opening balance from another row already; "
                          "adjust their points instead.", field=("external_id",))


async def apply_balances(
    store: Store, session: Session, rows: Sequence[tuple[str, ImportedBalance]], *,
    before: Mapping[str, Document], file: str, programme: Programme, now: datetime,
) -> None:
    """Apply new rows (member id, balance; checked with `is_new`) in the caller's
    transaction: the lots, one update per member (its mark, points and tier), the IMPORT
    and TIER entries with their events and roll-ups."""
    if not rows:
        return
    changes: dict[str, dict[str, dict[str, Any]]] = {
        member_id: {"$set": {"opening_balance": {
            "file": file, "line": balance.line, "payload_hash": balance.payload_hash,
            "at": now}}} for member_id, balance in rows}
    openings = opening_writes([Opening(
        member_id=member_id, key=f"import:{balance.external_id}", points=balance.points,
        expires_at=balance.expires_at, by_policy=balance.by_policy,
        source_id=balance.external_id, payload_hash=balance.payload_hash,
        details={"file": file, "line": balance.line},
    ) for member_id, balance in rows if balance.points > 0], before=before,
        programme=programme, now=now)
    for member_id, increments in openings.increments.items():
        changes[member_id]["$inc"] = {k: v for k, v in increments.items() if v}
    tiers = imported_tiers([
        (member_id, balance.tier, ((before.get(member_id) or {}).get("tier") or {}).get("id"))
        for member_id, balance in rows if balance.tier is not None],
        programme=programme, now=now)
    for member_id, fields, _, _ in tiers:
        changes[member_id]["$set"].update(fields)
    await write_lots(store, session, openings)
    await store.collection(MEMBERS).bulk_write(
        [UpdateOne({"_id": member_id}, update, upsert=True)
         for member_id, update in changes.items()], ordered=False, session=session)
    await write_entries(store, session, [
        *openings.entries, *((entry, None, tally) for _, _, entry, tally in tiers)])
