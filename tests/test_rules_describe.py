"""Rule texts members read: pure, no database."""

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from loyalty.conditions import Conditions
from loyalty.earning.rules.describe import describe_rule, money
from loyalty.earning.rules.model import EarningRule, Formula, FormulaKind, Limits, TriggerKind

PARIS = ZoneInfo("Europe/Paris")
BASE = EarningRule(
    id="r", name="Base", description="", trigger=TriggerKind.ORDER, action_type=None,
    conditions=Conditions(currency="EUR"),
    formula=Formula(FormulaKind.PER_CURRENCY_UNIT, points=1, per_amount_minor=100),
    limits=Limits(),
)


def text(**changes: object) -> str:
    return describe_rule(replace(BASE, **changes), timezone=PARIS)  # type: ignore[arg-type]


def test_base_rule_reads_as_points_per_currency_unit_spent() -> None:
    assert text() == "Earn 1 point per €1 spent"


def test_category_rule_with_monthly_cap() -> None:
    assert text(
        formula=replace(BASE.formula, points=5),
        conditions=Conditions(currency="EUR", categories_include=frozenset({"shoes"})),
        limits=Limits(per_member_per_month=500),
    ) == "Earn 5 points per €1 on shoes (up to 500 points a month)"


def test_action_rule_names_the_action() -> None:
    assert text(
        trigger=TriggerKind.ACTION, action_type="REVIEW", conditions=Conditions(),
        formula=Formula(FormulaKind.FIXED, points=50),
    ) == "Earn 50 points for a review"
    assert text(
        trigger=TriggerKind.ACTION, action_type="PHOTO_CONTEST", conditions=Conditions(),
        formula=Formula(FormulaKind.FIXED, points=1),
    ) == "Earn 1 point for photo contest"


def test_weekend_double_points_shows_local_days_with_an_exclusive_end() -> None:
    # Sat 29 Nov 00:00 to Mon 1 Dec 00:00, Paris time (UTC+1).
    assert text(
        formula=Formula(FormulaKind.MULTIPLIER, factor=2.0),
        conditions=Conditions(starts_at=datetime(2025, 11, 28, 23, tzinfo=UTC),
                              ends_at=datetime(2025, 11, 30, 23, tzinfo=UTC)),
    ) == "Double points on orders from Sat 29 Nov 2025 to Sun 30 Nov 2025 (Europe/Paris time)"


def test_first_order_bonus_with_threshold_and_limits() -> None:
    assert text(
        formula=Formula(FormulaKind.FIXED, points=100),
        conditions=Conditions(currency="EUR", min_total=5_000, first_order_only=True),
        limits=Limits(per_member_per_day=100, per_member_lifetime=1_000, budget=50_000),
    ) == ("Earn 100 points on your first order of €50 or more "
          "(up to 100 points a day and 1,000 in total, while the campaign budget lasts)")


def test_channel_tier_and_weekend_qualifiers() -> None:
    assert text(
        conditions=Conditions(currency="JPY", channels=frozenset({"STORE"}),
                              tiers=frozenset({"Gold"}), weekdays=frozenset({6, 7})),
    ) == "Earn 1 point per ¥100 spent in store for Gold members at weekends"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [(100, "EUR", "€1"), (250, "USD", "$2.50"), (123_456, "GBP", "£1,234.56"),
     (100, "JPY", "¥100"), (100_000, "CHF", "CHF 1,000"), (1_500, "KWD", "KWD 1.500")],
)
def test_money_uses_symbols_for_common_currencies(
    amount: int, currency: str, expected: str
) -> None:
    assert money(amount, currency) == expected
