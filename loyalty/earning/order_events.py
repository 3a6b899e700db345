"""The events of a shop's orders: recorded (with the points it earned) and refunded (with
the points the refund took back)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from events import Event, EventType, Subject, SubjectKind


def recorded(order: Mapping[str, Any]) -> Event:
    """The event of the order document `order`, as recorded."""
    return Event(
        EventType.ORDER_RECORDED, Subject(SubjectKind.ORDER, order["_id"]),
        occurred_at=order["recorded_at"], member_id=order["member_id"],
        store_id=order["store_id"],
        data={"order": {"id": order["_id"], "total": order["total"],
                        "currency": order["currency"], "channel": order["channel"],
                        "store_id": order["store_id"], "occurred_at": order["occurred_at"]},
              "points": order["earned_points"], "entry_id": order["entry_id"]},
    )


def refunded(order: Mapping[str, Any], *, refund_id: str, amount: int, points: int,
             entry_id: str, at: datetime) -> Event:
    """The event of refunding `amount` of `order` (its document before the refund)."""
    return Event(
        EventType.ORDER_REFUNDED, Subject(SubjectKind.ORDER, order["_id"]),
        occurred_at=at, member_id=order["member_id"], store_id=order["store_id"],
        data={"order": {"id": order["_id"], "total": order["total"],
                        "currency": order["currency"],
                        "refunded_amount": order["refunded_amount"] + amount},
              "refund_id": refund_id, "amount": amount, "points": points,
              "entry_id": entry_id},
    )
