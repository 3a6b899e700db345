"""A member gives points to another member (docs/transfers.md).

One transaction: the sender's TRANSFER_OUT entry takes the points from their spendable lots,
soonest expiry first (ledger/posting.py `debit`), and the recipient's TRANSFER_IN entry puts
them into new lots with the expiries they had (`credit_with_expiries`): a gift cannot turn
points about to expire into fresh ones. Each entry has its event (points.transfer_sent,
points.transfer_received) and its roll-ups, written by the posting machinery like any
other movement.

The programme's rules (loyalty/programme/transfer_policy.py) are checked on what the
transaction reads: the sender's and recipient's accounts, their totals (with the counters
of points sent and received today and this month) and the sender's lots. Both totals
documents are written by the transaction, so on MongoDB two transfers touching the same
member conflict and one retries on what the other committed (the embedded engine runs
one transaction at a time): no balance is overdrawn and no cap passed by racing requests.

Idempotency: the sender's entry key `transfer:<sender>:<idempotency key>` is unique (the
recipient's is that key plus `:in`). A retry returns the first transfer, whether its own
transaction hit the unique key or was refused because the first one had taken the points
or the cap; the same key with another recipient, amount or message is IDEMPOTENCY_CONFLICT.
"""

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.collections import ACCOUNTS, MEMBER_ROLE, MEMBERS
from loyalty.errors import InsufficientPoints, UnknownMember
from loyalty.idempotency import check_key, ensure_same_payload, fingerprint
from loyalty.ledger.entries import Actor, Entry, EntryKind, Source, entry_by_key
from loyalty.ledger.lots import spendable_points
from loyalty.ledger.member_state import state_from_document
from loyalty.ledger.posting import Movement, credit_with_expiries, debit, open_lots
from loyalty.programme.settings import Programme, load_programme
from loyalty.programme.transfer_policy import (
    TransferToSelf,
    Window,
    check_caps,
    check_sender,
    counted,
    totals,
)
from store import InvalidInput, KizunaError, Session, Store, is_duplicate_key, new_id
from store.clock import Clock

MAX_MESSAGE_LENGTH = 200
SENT = "transfers_sent"
RECEIVED = "transfers_received"
"""The members document's counters {day, day_points, month, month_points} of the caps."""
SENT_REASON = "Points gift sent"
RECEIVED_REASON = "Points gift received"
_ACCOUNT_FIELDS = {"role": 1, "name": 1, "created_at": 1, "erased_at": 1, "erasure": 1}


@dataclass(frozen=True, slots=True)
class Transfer:
    sent: Entry
    """The sender's TRANSFER_OUT entry."""
    received: Entry
    """The recipient's TRANSFER_IN entry."""
    balance: int
    """The sender's spendable points right after it (a replay: after the first one)."""
    replayed: bool


def clean_message(message: str | None) -> str | None:
    """The message as the recipient will read it: Unicode composed, control and invisible
    format characters dropped, whitespace runs as one space; None when empty. Raises
    InvalidInput over MAX_MESSAGE_LENGTH characters."""
    if message is None:
        return None
    composed = unicodedata.normalize("NFC", message)
    visible = "".join(" " if char.isspace() else char for char in composed
                      if char.isspace() or unicodedata.category(char)[0] != "C")
    cleaned = " ".join(visible.split())
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        raise InvalidInput(f"Write at most {MAX_MESSAGE_LENGTH} characters.",
                           field=("input", "message"))
    return cleaned or None



@dataclass(frozen=True, slots=True)
class _Request:
    sender_id: str
    recipient_id: str
    points: int
    message: str | None
    key: str
    payload_hash: str


async def transfer_points(
    store: Store, *, sender_id: str, recipient_id: str, points: int, message: str | None,
    idempotency_key: str, clock: Clock,
) -> Transfer:
    """Move `points` from the sender's spendable points to the recipient, all or nothing.

    Raises InvalidInput (points, message, key), TransferToSelf, UnknownMember (the recipient
    is not a member, or was erased), TransfersDisabled, SenderTooNew, InsufficientPoints,
    TransferLimitExceeded or IdempotencyConflict; nothing is written then.
    """
    key = f"transfer:{sender_id}:{check_key(idempotency_key)}"
    message = clean_message(message)
    if points <= 0:
        raise InvalidInput("Gift a positive number of points.", field=("input", "points"))
    if sender_id == recipient_id:
        raise TransferToSelf("You cannot gift points to yourself.", field=("input", "to"))
    request = _Request(sender_id, recipient_id, points, message, key, fingerprint(
        {"to": recipient_id, "points": points, "message": message}))
    try:
        programme = await load_programme(store)
        return await store.transaction(
            lambda session: _transfer(store, session, request, programme, clock()))
    except KizunaError:
        # Refused on what it read: maybe because a first request with this key took the
        # points or the cap. Then this is its replay.
        first = await _first_transfer(store, request)
        if first is None:
            raise
        return first
    except Exception as error:
        if not is_duplicate_key(error):
            raise
        first = await _first_transfer(store, request)
        if first is None:
            raise
        return first


async def _transfer(
    store: Store, session: Session, request: _Request, programme: Programme, now: datetime
) -> Transfer:
    sender_account, recipient_account = await _accounts(store, session, request)
    policy = programme.transfers
    check_sender(policy, points=request.points, joined_at=sender_account.get("created_at"),
                 now=now)
    members = {doc["_id"]: doc async for doc in store.collection(MEMBERS).find(
        {"_id": {"$in": [request.sender_id, request.recipient_id]}}, session=session)}
    sender_doc = members.get(request.sender_id) or {}
    recipient_doc = members.get(request.recipient_id) or {}
    sender = state_from_document(request.sender_id, sender_doc)
    lots = [lot for lot in await open_lots(store, request.sender_id, session=session)
            if not lot.expired(now)]
    balance = max(0, spendable_points(lots, now) - sender.debt)
    if request.points > balance:
        raise InsufficientPoints(
            f"Not enough points: {balance} available, {request.points} needed.",
            field=("input", "points"))
    window = Window.at(now, programme.timezone)
    check_caps(points=request.points, daily=policy.daily_send_cap,
               monthly=policy.monthly_send_cap, so_far=totals(sender_doc.get(SENT), window),
               side="You can gift")
    check_caps(points=request.points, daily=policy.daily_receive_cap,
               monthly=policy.monthly_receive_cap,
               so_far=totals(recipient_doc.get(RECEIVED), window),
               side="This member can receive")
    sent_movement, received_movement = _movements(
        request, now, balance_after=balance - request.points,
        names=(sender_account.get("name"), recipient_account.get("name")))
    sent = await debit(store, session, sent_movement, member=sender, points=request.points,
                       lots=lots,
                       member_changes=_counted(SENT, sender_doc, window, request.points))
    expiries = {lot.id: lot.expires_at for lot in lots}
    received = await credit_with_expiries(
        store, session, received_movement,
        member=state_from_document(request.recipient_id, recipient_doc),
        taken=[(a.points, expiries[a.lot_id]) for a in sent.lots],
        member_changes=_counted(RECEIVED, recipient_doc, window, request.points))
    return Transfer(sent=sent, received=received, balance=balance - request.points,
                    replayed=False)


async def _accounts(
    store: Store, session: Session, request: _Request
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The sender's and the recipient's accounts; UnknownMember unless the recipient is a
    member who was not erased and whose erasure has not begun (read in the transaction:
    an erasure since the lookup counts; points given during one would outlive it)."""
    accounts = {doc["_id"]: doc async for doc in store.collection(ACCOUNTS).find(
        {"_id": {"$in": [request.sender_id, request.recipient_id]}}, _ACCOUNT_FIELDS,
        session=session)}
    recipient = accounts.get(request.recipient_id)
    if (recipient is None or recipient.get("role") != MEMBER_ROLE
            or recipient.get("erased_at") is not None or recipient.get("erasure")):
        raise UnknownMember("No member has this email address or referral code.",
                            field=("input", "to"))
    return accounts.get(request.sender_id) or {}, recipient


RECEIVED_SUFFIX = ":in"
"""The recipient's entry key is the sender's plus this."""


def other_side_key(key: str, kind: EntryKind) -> str:
    """The ledger key of the other entry of the gift whose entry of `kind` has `key`."""
    return key + RECEIVED_SUFFIX if kind is EntryKind.TRANSFER_OUT else key.removesuffix(
        RECEIVED_SUFFIX)


def _movements(
    request: _Request, now: datetime, *, balance_after: int,
    names: tuple[str | None, str | None],
) -> tuple[Movement, Movement]:
    """The sender's and the recipient's movements of one gift: both name the gift and the
    sender as the actor; the events also carry both members' names."""
    transfer_id = new_id()
    details = {"transfer": {"id": transfer_id, "sender": request.sender_id,
                            "recipient": request.recipient_id, "message": request.message}}
    event = {"transfer": {
        "id": transfer_id, "points": request.points, "message": request.message,
        "sender": {"id": request.sender_id, "name": names[0]},
        "recipient": {"id": request.recipient_id, "name": names[1]}}}
    source, actor = Source("TRANSFER", transfer_id), Actor("MEMBER", request.sender_id)
    sent = Movement(key=request.key, kind=EntryKind.TRANSFER_OUT, reason=SENT_REASON,
                    source=source, actor=actor, occurred_at=now, recorded_at=now,
                    payload_hash=request.payload_hash,
                    details={**details, "balance_after": balance_after}, event_data=event)
    received = Movement(key=other_side_key(request.key, EntryKind.TRANSFER_OUT),
                        kind=EntryKind.TRANSFER_IN, reason=RECEIVED_REASON, source=source,
                        actor=actor, occurred_at=now, recorded_at=now,
                        payload_hash=request.payload_hash, details=details, event_data=event)
    return sent, received


def _counted(
    name: str, doc: Mapping[str, Any], window: Window, points: int
) -> dict[str, Any]:
    return {"$set": {name: counted(doc.get(name), window, points)}}


async def _first_transfer(store: Store, request: _Request) -> Transfer | None:
    """What the first request with this key did; IdempotencyConflict if it gave another
    amount, message or recipient; None if there was none."""
    sent = await entry_by_key(store, request.key)
    if sent is None:
        return None
    ensure_same_payload(sent.payload_hash, request.payload_hash, what="points gift")
    received = await entry_by_key(store, other_side_key(request.key, EntryKind.TRANSFER_OUT))
    if received is None:
        raise RuntimeError(f"transfer {request.key} without its recipient's entry")
    return Transfer(sent=sent, received=received, balance=sent.details["balance_after"],
                    replayed=True)
