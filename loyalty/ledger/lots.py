"""Lots: earned points with an expiry, consumed soonest-expiry-first (pure policy)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

_FAR_FUTURE = datetime.max


@dataclass(frozen=True, slots=True)
class OpenLot:
    id: str
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    order_id: str | None = None

    def spendable(self, now: datetime) -> bool:
        return self.available_at <= now and not self.expired(now)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Allocation:
    lot_id: str
    points: int


def consumption_order(lots: Sequence[OpenLot], *, prefer_order: str | None = None) -> list[OpenLot]:
    """Soonest expiry first (never-expiring last), then oldest; a reversal takes the lots
    of its own order (`prefer_order`) before any other."""
    return sorted(
        lots,
        key=lambda lot: (
            lot.order_id != prefer_order if prefer_order else False,
            lot.expires_at.replace(tzinfo=None) if lot.expires_at else _FAR_FUTURE,
            lot.earned_at.replace(tzinfo=None),
            lot.id,
        ),
    )


def allocate(
    lots: Sequence[OpenLot],
    points: int,
    *,
    now: datetime,
    include_pending: bool = False,
    prefer_order: str | None = None,
) -> tuple[list[Allocation], int]:
    """Take `points` from `lots`; returns the allocations and the shortfall (points that no
    lot could cover). Expired lots are never used; pending ones only when asked."""
    allocations: list[Allocation] = []
    left = points
    for lot in consumption_order(lots, prefer_order=prefer_order):
        if left == 0:
            break
        usable = not lot.expired(now) and (include_pending or lot.available_at <= now)
        if not usable or lot.remaining <= 0:
            continue
        taken = min(lot.remaining, left)
        allocations.append(Allocation(lot.id, taken))
        left -= taken
    return allocations, left


def spendable_points(lots: Sequence[OpenLot], now: datetime) -> int:
    return sum(lot.remaining for lot in lots if lot.spendable(now))


def pending_points(lots: Sequence[OpenLot], now: datetime) -> int:
    return sum(lot.remaining for lot in lots if lot.available_at > now and not lot.expired(now))
