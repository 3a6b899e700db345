"""The audit record of a write that moves a member's points (an order, a refund, an action,
an adjustment, a tier set by hand): recorded in the ledger write's own transaction."""

from collections.abc import Mapping
from typing import Any

from events.audit import Audit, Target
from loyalty.ledger.entries import Entry
from loyalty.ledger.member_state import MemberState
from store import Session, Store


def record_entry(
    audit: Audit | None, store: Store, session: Session, *, operation: str, target: Target,
    member: MemberState, entry: Entry, details: Mapping[str, Any] | None = None,
) -> None:
    """Record `operation` (which wrote `entry` for `member`, as read in the transaction
    before it) on `target`: the balance and debt before and after, the entry, and
    `details` (what the operation was given). Nothing when `audit` is None."""
    if audit is None:
        return
    points = member.points + entry.points  # the balance is Σ entries, debt apart
    debt = member.debt + entry.debt_incurred - entry.debt_settled
    after = {
        "points": points, "debt": debt,
        "entry": {"id": entry.id, "kind": entry.kind.value, "points": entry.points,
                  "reason": entry.reason},
        **(details or {}),
    }
    audit.record(store, session, operation=operation, target=target, at=entry.recorded_at,
                 before={"points": member.points, "debt": member.debt}, after=after,
                 member_id=member.member_id)
