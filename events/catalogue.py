"""The event catalogue: every kind of event Kizuna tells the outside world about, and the
record each one is stored as. docs/events.md documents each type's body."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from store import new_id

SCHEMA_VERSION = 1
"""The version of every body below; a change a receiver could trip on raises it."""


WEBHOOKS_PENDING = "webhooks"
"""On a new event, `PENDING` until its webhook deliveries exist (events/webhook_delivery.py).
A string, not a boolean: an equality with a string is what every engine answers from an
index (store/engine.py, override 3)."""
PENDING = "PENDING"
SECOND = "second"
"""The event id's second (its first 8 hex digits), indexed: the live feed polls the last
few seconds by equality on it rather than by a range of ids (store/engine.py answers an
equality from an index, a range of ids by reading the collection)."""


class EventType(StrEnum):
    MEMBER_REGISTERED = "member.registered"
    POINTS_EARNED = "points.earned"
    POINTS_SPENT = "points.spent"
    POINTS_REVERSED = "points.reversed"
    POINTS_ADJUSTED = "points.adjusted"
    POINTS_EXPIRED = "points.expired"
    TIER_CHANGED = "tier.changed"
    VOUCHER_ISSUED = "voucher.issued"
    VOUCHER_REDEEMED = "voucher.redeemed"
    VOUCHER_VOIDED = "voucher.voided"
    VOUCHER_CANCELLED = "voucher.cancelled"
    REWARD_OUT_OF_STOCK = "reward.out_of_stock"
    ORDER_RECORDED = "order.recorded"
    ORDER_REFUNDED = "order.refunded"
    SURVEY_ANSWERED = "survey.answered"
    POINTS_TRANSFER_SENT = "points.transfer_sent"
    POINTS_TRANSFER_RECEIVED = "points.transfer_received"
    MEMBER_ERASED = "member.erased"
    MEMBER_UPDATED = "member.updated"
    MEMBER_EMAIL_CHANGE_REQUESTED = "member.email_change_requested"
    MEMBER_EMAIL_CHANGED = "member.email_changed"
    MEMBER_PASSWORD_CHANGED = "member.password_changed"  # noqa: S105 - a name
    MEMBER_PASSWORD_RESET_REQUESTED = "member.password_reset_requested"  # noqa: S105 - a name
    MEMBER_CONSENT_CHANGED = "member.consent_changed"
    MEMBER_IMPORTED = "member.imported"
    POINTS_IMPORTED = "points.imported"
    DRAW_CLOSED = "draw.closed"
    DRAW_CREATED = "draw.created"
    DRAW_WON = "draw.won"
    BADGE_EARNED = "badge.earned"
    BADGE_REVOKED = "badge.revoked"
    LEADERBOARD_PRIZE_AWARDED = "leaderboard.prize_awarded"
    CHALLENGE_PROGRESSED = "challenge.progressed"
    CHALLENGE_COMPLETED = "challenge.completed"
    CHALLENGE_REVOKED = "challenge.revoked"


class SubjectKind(StrEnum):
    """What an event is about: `kizuna verify` finds each subject's events by it."""

    MEMBER = "member"
    LEDGER_ENTRY = "ledger_entry"
    VOUCHER = "voucher"
    REWARD = "reward"
    ORDER = "order"
    SURVEY_RESPONSE = "survey_response"
    DRAW = "draw"
    CHALLENGE = "challenge"


@dataclass(frozen=True, slots=True)
class FromDocument:
    """A value of a staged event read from the document the conditional write changes
    (a dotted path), as it stands after the write: what the writer could not know before,
    such as the member of a voucher found by its code."""

    path: str


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    id: str | FromDocument


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable event. `id` is stable: a redelivery or a replay carries the same one."""

    type: EventType
    subject: Subject
    occurred_at: datetime
    member_id: str | FromDocument | None
    data: Mapping[str, Any]
    store_id: str | None = None
    id: str = field(default_factory=new_id)

    def resolved(self, document: Mapping[str, Any]) -> "Event":
        """This event with its `FromDocument` values read from `document`, as the write that
        stages it on `document` would read them."""
        return Event(
            type=self.type, occurred_at=self.occurred_at, store_id=self.store_id, id=self.id,
            subject=Subject(self.subject.kind, _resolved(self.subject.id, document)),
            member_id=_resolved(self.member_id, document),
            data=_resolved(dict(self.data), document),
        )

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.id, "type": self.type.value, "version": SCHEMA_VERSION,
            "occurred_at": self.occurred_at, "member_id": self.member_id,
            "store_id": self.store_id,
            "subject": {"kind": self.subject.kind.value, "id": self.subject.id},
            "data": dict(self.data),
            WEBHOOKS_PENDING: PENDING,
            SECOND: self.id[:8],
        }


def _resolved(value: Any, document: Mapping[str, Any]) -> Any:
    if isinstance(value, FromDocument):
        found: Any = document
        for name in value.path.split("."):
            found = found[name]
        return found
    if isinstance(value, dict):
        return {key: _resolved(item, document) for key, item in value.items()}
    return value


def event_from_document(doc: Mapping[str, Any]) -> Event:
    return Event(
        id=doc["_id"], type=EventType(doc["type"]),
        subject=Subject(SubjectKind(doc["subject"]["kind"]), doc["subject"]["id"]),
        occurred_at=doc["occurred_at"], member_id=doc.get("member_id"),
        store_id=doc.get("store_id"), data=doc.get("data", {}),
    )
