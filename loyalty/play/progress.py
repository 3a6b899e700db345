"""What one event did to a member's challenges: the vocabulary challenges share with the
leaderboards that rank by a challenge's progress."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProgressChange:
    """A challenge's progress moved for one member in one period by one event."""

    challenge_id: str
    period: str
    """The challenge's period key ("all" for a once-only challenge, "2026-W49", "2026-12")."""
    before: int
    after: int
    target: int
    completed: bool
    """This event completed the challenge for the period (exactly one event does)."""
