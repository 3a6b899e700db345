"""Pure ledger policy: lot consumption order, expiry dates, refund proportions."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from loyalty.earning.refunds import points_to_reverse
from loyalty.ledger.expiry_policy import available_at, expires_at
from loyalty.ledger.lots import OpenLot, allocate, pending_points, spendable_points
from loyalty.programme.settings import ExpiryKind, Programme

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def lot(lot_id: str, remaining: int, *, expires_in_days: int | None, pending_days: int = 0,
        earned_days_ago: int = 10, order_id: str | None = None) -> OpenLot:
    return OpenLot(
        id=lot_id, remaining=remaining, earned_at=NOW - timedelta(days=earned_days_ago),
        available_at=NOW + timedelta(days=pending_days),
        expires_at=NOW + timedelta(days=expires_in_days) if expires_in_days is not None else None,
        order_id=order_id,
    )


def test_spending_takes_the_soonest_expiring_lot_first() -> None:
    lots = [lot("late", 100, expires_in_days=300), lot("soon", 50, expires_in_days=20),
            lot("never", 70, expires_in_days=None), lot("mid", 30, expires_in_days=100)]
    allocations, shortfall = allocate(lots, 120, now=NOW)
    assert [(a.lot_id, a.points) for a in allocations] == [("soon", 50), ("mid", 30),
                                                          ("late", 40)]
    assert shortfall == 0


def test_pending_and_expired_lots_are_not_spendable() -> None:
    lots = [lot("pending", 100, expires_in_days=300, pending_days=5),
            lot("expired", 40, expires_in_days=-1), lot("ok", 10, expires_in_days=30)]
    allocations, shortfall = allocate(lots, 30, now=NOW)
    assert [(a.lot_id, a.points) for a in allocations] == [("ok", 10)]
    assert shortfall == 20
    assert spendable_points(lots, NOW) == 10
    assert pending_points(lots, NOW) == 100
    with_pending, short = allocate(lots, 30, now=NOW, include_pending=True)
    assert short == 0 and [a.lot_id for a in with_pending] == ["ok", "pending"]


def test_a_reversal_takes_its_own_orders_lot_first() -> None:
    lots = [lot("other", 100, expires_in_days=10), lot("mine", 40, expires_in_days=300,
                                                      order_id="o-1")]
    allocations, _ = allocate(lots, 60, now=NOW, prefer_order="o-1", include_pending=True)
    assert [(a.lot_id, a.points) for a in allocations] == [("mine", 40), ("other", 20)]


@given(
    remaining=st.lists(st.integers(min_value=0, max_value=500), min_size=0, max_size=8),
    expiry=st.lists(st.one_of(st.none(), st.integers(min_value=-5, max_value=400)),
                    min_size=8, max_size=8),
    points=st.integers(min_value=0, max_value=3000),
)
def test_allocation_never_takes_more_than_asked_or_than_a_lot_holds(
    remaining: list[int], expiry: list[int | None], points: int
) -> None:
    lots = [lot(str(i), r, expires_in_days=expiry[i]) for i, r in enumerate(remaining)]
    allocations, shortfall = allocate(lots, points, now=NOW)
    by_id = {x.id: x for x in lots}
    assert sum(a.points for a in allocations) + shortfall == points
    assert all(0 < a.points <= by_id[a.lot_id].remaining for a in allocations)
    assert shortfall == max(0, points - spendable_points(lots, NOW))
    used = [by_id[a.lot_id] for a in allocations]
    # Every lot used before the last one expires no later than any unused spendable lot.
    unused = [x for x in lots if x.spendable(NOW) and x.remaining > 0
              and x.id not in {a.lot_id for a in allocations}]
    for u in used[:-1]:
        for other in unused:
            if u.expires_at and other.expires_at:
                assert u.expires_at <= other.expires_at


def test_points_expire_twelve_months_after_earning() -> None:
    programme = Programme(expiry_kind=ExpiryKind.MONTHS_AFTER_EARNING, expiry_months=12)
    earned = datetime(2026, 1, 31, 18, 0, tzinfo=UTC)
    assert expires_at(earned, programme) == datetime(2027, 1, 31, 18, 0, tzinfo=UTC)
    # The 31st of a short month clamps to its last day.
    one_month = Programme(expiry_kind=ExpiryKind.MONTHS_AFTER_EARNING, expiry_months=1)
    assert expires_at(earned, one_month) == datetime(2026, 2, 28, 18, 0, tzinfo=UTC)


def test_points_expire_at_the_end_of_the_nth_month_in_the_programme_timezone() -> None:
    programme = Programme(timezone_name="Europe/Paris", expiry_kind=ExpiryKind.END_OF_NTH_MONTH,
                          expiry_months=3)
    # 23:30 UTC on 31 March is already 1 April in Paris: April + 3 months → end of July.
    earned = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert expires_at(earned, programme) == datetime(2026, 7, 31, 22, 0, tzinfo=UTC)
    assert expires_at(earned, Programme(expiry_kind=ExpiryKind.NEVER)) is None


def test_pending_period_delays_availability() -> None:
    earned = datetime(2026, 3, 1, tzinfo=UTC)
    assert available_at(earned, Programme(pending_days=14)) == datetime(2026, 3, 15, tzinfo=UTC)


def test_partial_refunds_add_up_to_exactly_what_the_order_earned() -> None:
    earned, total = 97, 10_000
    reversed_so_far = refunded = 0
    for part in (3_333, 3_333, 3_334):
        points = points_to_reverse(earned=earned, total=total, refunded_before=refunded,
                                   refunded_now=part, reversed_before=reversed_so_far)
        refunded += part
        reversed_so_far += points
    assert reversed_so_far == earned


@given(parts=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=20),
       earned=st.integers(min_value=0, max_value=100_000))
def test_reversals_never_exceed_the_points_earned(parts: list[int], earned: int) -> None:
    total = sum(parts)
    done = reversed_so_far = 0
    for part in parts:
        reversed_so_far += points_to_reverse(earned=earned, total=total, refunded_before=done,
                                             refunded_now=part, reversed_before=reversed_so_far)
        done += part
        assert reversed_so_far <= earned
    assert reversed_so_far == earned
