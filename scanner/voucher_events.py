"""The events of a voucher's life: issued, redeemed, voided, cancelled (docs/events.md).

Each body says what a member's screen or a till's second screen needs without another
query: the voucher's id, its new status and its title. The voucher's code is never in an
event: it is the bearer's credential and receivers have no use for it.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from events import Event, EventType, FromDocument, Subject, SubjectKind


def _voucher(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], "status": doc["status"], "title": doc["benefit"]["title"],
            "kind": doc["benefit"]["kind"], "expires_at": doc["expires_at"]}


def _changed_voucher(status: str) -> dict[str, Any]:
    """The summary of the voucher a conditional write changes (to `status`), read from it."""
    return {"id": FromDocument("_id"), "status": status,
            "title": FromDocument("benefit.title"), "kind": FromDocument("benefit.kind"),
            "expires_at": FromDocument("expires_at")}


_CHANGED = Subject(SubjectKind.VOUCHER, FromDocument("_id"))
_HOLDER = FromDocument("member_id")


def issued(doc: Mapping[str, Any]) -> Event:
    return Event(
        EventType.VOUCHER_ISSUED, Subject(SubjectKind.VOUCHER, doc["_id"]),
        occurred_at=doc["issued_at"], member_id=doc["member_id"],
        data={"voucher": _voucher(doc), "source": dict(doc["source"])},
    )


def redeemed(redemption: Mapping[str, Any], *, status: str) -> Event:
    """The event of the write that redeems a voucher with `redemption` (to `status`)."""
    return Event(
        EventType.VOUCHER_REDEEMED, _CHANGED, occurred_at=redemption["redeemed_at"],
        member_id=_HOLDER, store_id=redemption["store_id"],
        data={"voucher": _changed_voucher(status),
              "channel": redemption["channel"], "store_id": redemption["store_id"],
              "staff_id": redemption["redeemed_by"],
              "order_reference": redemption["order_reference"],
              "order_total": redemption["order_total"],
              "idempotency_key": redemption["idempotency_key"]},
    )


def voided(redemption: Mapping[str, Any], *, by: str, reason: str, at: datetime,
           status: str) -> Event:
    """The event of the write by which the manager `by` voids `redemption` (the voucher
    goes back to `status`)."""
    return Event(
        EventType.VOUCHER_VOIDED, _CHANGED, occurred_at=at, member_id=_HOLDER,
        store_id=redemption["store_id"],
        data={"voucher": _changed_voucher(status),
              "store_id": redemption["store_id"], "staff_id": by, "reason": reason,
              "idempotency_key": redemption["idempotency_key"]},
    )


def cancelled(*, at: datetime, status: str) -> Event:
    """The event of the write by which a member cancels a voucher (to `status`)."""
    return Event(
        EventType.VOUCHER_CANCELLED, _CHANGED, occurred_at=at, member_id=_HOLDER,
        data={"voucher": _changed_voucher(status)},
    )
