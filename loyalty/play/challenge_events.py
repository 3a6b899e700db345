"""The events of challenges: progress moved, completed, revoked (recorded in the writer's
transaction, see events.record)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from events import Event, EventType, Subject, SubjectKind
from loyalty.play.challenges import Challenge
from loyalty.play.progress import ProgressChange


def progressed(moved: Sequence[tuple[Challenge, ProgressChange]], *, member_id: str,
               cause: dict[str, Any], at: datetime) -> Event:
    """One event for all the challenges one order, action or refund moved (an order that
    counts for five challenges writes one event, not five)."""
    return Event(
        EventType.CHALLENGE_PROGRESSED, Subject(SubjectKind.MEMBER, member_id),
        occurred_at=at, member_id=member_id,
        data={"cause": cause, "progress": [
            {"challenge": _challenge(challenge), "period": change.period,
             "before": change.before, "after": change.after, "target": change.target,
             "completed": change.completed}
            for challenge, change in moved]},
    )


def completed(challenge: Challenge, *, member_id: str, period: str, round: int,
              reward: dict[str, Any], at: datetime) -> Event:
    return Event(
        EventType.CHALLENGE_COMPLETED, Subject(SubjectKind.CHALLENGE, challenge.id),
        occurred_at=at, member_id=member_id,
        data={"challenge": _challenge(challenge), "period": period, "round": round,
              "reward": reward},
    )


def revoked(challenge: Challenge, *, member_id: str, period: str, round: int,
            points_taken_back: int, badges_revoked: list[str], at: datetime) -> Event:
    return Event(
        EventType.CHALLENGE_REVOKED, Subject(SubjectKind.CHALLENGE, challenge.id),
        occurred_at=at, member_id=member_id,
        data={"challenge": _challenge(challenge), "period": period, "round": round,
              "points_taken_back": points_taken_back, "badges_revoked": badges_revoked},
    )


def _challenge(challenge: Challenge) -> dict[str, Any]:
    return {"id": challenge.id, "title": challenge.title, "kind": challenge.kind.value}
