"""What a member sees of their points: balance, pending, debt, what expires soon."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from loyalty.ledger.lots import pending_points
from loyalty.ledger.snapshot import MemberSnapshot

EXPIRY_HORIZONS_DAYS = (30, 60, 90)


@dataclass(frozen=True, slots=True)
class Expiring:
    points: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PointsSummary:
    balance: int
    """Spendable now (never negative)."""
    pending: int
    """Earned but held until the return window closes."""
    debt: int
    lifetime_earned: int
    expiring: tuple[Expiring, ...]
    """Spendable or pending points with an expiry, grouped by expiry instant, soonest first."""

    def expiring_within(self, now: datetime, days: int) -> int:
        horizon = now + timedelta(days=days)
        return sum(e.points for e in self.expiring if e.expires_at <= horizon)


def points_summary(snapshot: MemberSnapshot, now: datetime) -> PointsSummary:
    lots = snapshot.live_lots(now)
    member = snapshot.state
    expiring: dict[datetime, int] = defaultdict(int)
    for lot in lots:
        if lot.expires_at is not None:
            expiring[lot.expires_at] += lot.remaining
    return PointsSummary(
        balance=snapshot.balance(now),
        pending=pending_points(lots, now),
        debt=member.debt,
        lifetime_earned=member.lifetime_earned,
        expiring=tuple(Expiring(p, at) for at, p in sorted(expiring.items())),
    )
