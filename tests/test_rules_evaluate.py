"""Earning-rule evaluation: pure policy, no database."""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.conditions import Action, Conditions, MemberFacts, Purchase
from loyalty.earning.rules.evaluate import evaluate
from loyalty.earning.rules.model import (
    EarningRule,
    Evaluation,
    Formula,
    FormulaKind,
    Limits,
    Rounding,
    RuleUsage,
    Stacking,
    TriggerKind,
)
from loyalty.purchases import Channel, OrderLine

PARIS = ZoneInfo("Europe/Paris")
SATURDAY = datetime(2025, 11, 29, 12, 0, tzinfo=UTC)
MEMBER = MemberFacts(member_id="m1")
PER_EURO = Formula(FormulaKind.PER_CURRENCY_UNIT, points=1, per_amount_minor=100)
DOUBLE = Formula(FormulaKind.MULTIPLIER, factor=2.0)


def rule(rule_id: str = "base", **changes: object) -> EarningRule:
    base = EarningRule(
        id=rule_id, name=rule_id.title(), description="", trigger=TriggerKind.ORDER,
        action_type=None, conditions=Conditions(currency="EUR"), formula=PER_EURO,
        limits=Limits(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def order(total: int = 10_000, **changes: object) -> Purchase:
    base = Purchase(
        order_id="o1", channel=Channel.ONLINE, total=total, currency="EUR",
        lines=(OrderLine(sku="SKU-1", category="shoes", quantity=1, unit_price=total),),
        occurred_at=SATURDAY,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(
    rules: list[EarningRule],
    event: Purchase | Action | None = None,
    member: MemberFacts = MEMBER,
    usage: dict[str, RuleUsage] | None = None,
) -> Evaluation:
    return evaluate(rules, event or order(), member, usage or {}, timezone=PARIS)


def points_by_rule(evaluation: Evaluation) -> dict[str, int]:
    return {award.rule_id: award.points for award in evaluation.awards}


def test_one_point_per_euro_spent_rounds_down_by_default() -> None:
    assert points_by_rule(run([rule()], order(12_399))) == {"base": 123}


@pytest.mark.parametrize(
    ("amount", "rounding", "expected"),
    [
        (249, Rounding.DOWN, 2), (249, Rounding.NEAREST, 2), (249, Rounding.UP, 3),
        (250, Rounding.DOWN, 2), (250, Rounding.NEAREST, 3), (250, Rounding.UP, 3),
        (200, Rounding.DOWN, 2), (200, Rounding.NEAREST, 2), (200, Rounding.UP, 2),
    ],
)
def test_rounding_modes_are_exact(amount: int, rounding: Rounding, expected: int) -> None:
    formula = replace(PER_EURO, rounding=rounding)
    assert run([rule(formula=formula)], order(amount)).points == expected


def test_points_per_larger_amount_use_integer_arithmetic() -> None:
    # 3 points per €7: €100 → 42.857… points.
    formula = Formula(FormulaKind.PER_CURRENCY_UNIT, points=3, per_amount_minor=700,
                      rounding=Rounding.NEAREST)
    assert run([rule(formula=formula)]).points == 43


def test_fixed_points_for_a_matching_action_only() -> None:
    review = rule("review", trigger=TriggerKind.ACTION, action_type="REVIEW",
                  conditions=Conditions(), formula=Formula(FormulaKind.FIXED, points=50))
    action = Action(type="REVIEW", reference="r1", occurred_at=SATURDAY)
    assert points_by_rule(run([review, rule()], action)) == {"review": 50}
    assert run([review], replace(action, type="SURVEY")).awards == ()
    assert run([review], order()).awards == ()


def test_double_points_campaign_doubles_the_base_points() -> None:
    campaign = rule("weekend", formula=DOUBLE, conditions=Conditions(), priority=10)
    result = run([rule(), campaign])
    assert points_by_rule(result) == {"weekend": 100, "base": 100}
    assert result.points == 200


def test_two_multipliers_each_add_on_the_same_base_without_compounding() -> None:
    one_and_half = rule("half", formula=Formula(FormulaKind.MULTIPLIER, factor=1.5),
                        conditions=Conditions())
    double = rule("double", formula=DOUBLE, conditions=Conditions())
    assert run([rule(), one_and_half, double]).points == 100 + 50 + 100


def test_multiplier_factor_is_read_as_the_decimal_typed() -> None:
    # 1.1 as a binary float is a hair above 1.1: rounding UP must not add a phantom point.
    tenth = rule("tenth", formula=Formula(FormulaKind.MULTIPLIER, factor=1.1,
                                          rounding=Rounding.UP), conditions=Conditions())
    assert points_by_rule(run([rule(), tenth], order(1_000))) == {"base": 10, "tenth": 1}


def test_exclusive_rule_that_applies_stops_lower_priority_rules() -> None:
    exclusive = rule("vip", priority=5, stacking=Stacking.EXCLUSIVE,
                     formula=Formula(FormulaKind.FIXED, points=500))
    lower = rule("base", priority=0)
    higher = rule("early", priority=9, formula=Formula(FormulaKind.FIXED, points=7))
    assert points_by_rule(run([lower, exclusive, higher])) == {"early": 7, "vip": 500}


def test_exclusive_rule_that_does_not_apply_blocks_nothing() -> None:
    exclusive = rule("vip", priority=5, stacking=Stacking.EXCLUSIVE,
                     conditions=Conditions(tiers=frozenset({"GOLD"})),
                     formula=Formula(FormulaKind.FIXED, points=500))
    assert points_by_rule(run([rule(), exclusive])) == {"base": 100}


def test_exclusive_campaign_with_spent_budget_does_not_switch_off_the_base_rule() -> None:
    exclusive = rule("promo", priority=5, stacking=Stacking.EXCLUSIVE,
                     limits=Limits(budget=1000), formula=Formula(FormulaKind.FIXED, points=50))
    spent = {"promo": RuleUsage(budget_spent=1000)}
    assert points_by_rule(run([rule(), exclusive], usage=spent)) == {"base": 100}


def test_category_filter_earns_on_eligible_lines_only() -> None:
    lines = (
        OrderLine(sku="SHOE-1", category="shoes", quantity=2, unit_price=3_000),
        OrderLine(sku="SOCK-1", category="socks", quantity=1, unit_price=1_000),
        OrderLine(sku="SHOE-2", category="shoes", quantity=1, unit_price=2_000),
    )
    shoes = rule("shoes", formula=replace(PER_EURO, points=5),
                 conditions=Conditions(currency="EUR", categories_include=frozenset({"shoes"}),
                                       skus_exclude=frozenset({"SHOE-2"})))
    assert points_by_rule(run([shoes], order(9_000, lines=lines))) == {"shoes": 300}


def test_filtered_rule_does_not_apply_without_an_eligible_line() -> None:
    bonus = rule("bags", formula=Formula(FormulaKind.FIXED, points=20),
                 conditions=Conditions(categories_include=frozenset({"bags"})))
    assert run([bonus]).awards == ()
    excluded = rule("no-shoes", conditions=Conditions(
        currency="EUR", categories_exclude=frozenset({"shoes"})))
    assert run([excluded]).awards == ()


def test_included_categories_or_skus_select_lines() -> None:
    lines = (
        OrderLine(sku="A", category="shoes", quantity=1, unit_price=1_000),
        OrderLine(sku="B", category="hats", quantity=1, unit_price=2_000),
        OrderLine(sku="C", category=None, quantity=1, unit_price=4_000),
    )
    either = rule(conditions=Conditions(currency="EUR", categories_include=frozenset({"shoes"}),
                                        skus_include=frozenset({"C"})))
    assert run([either], order(7_000, lines=lines)).points == 50


@pytest.mark.parametrize(
    ("conditions", "event", "member", "applies"),
    [
        (Conditions(currency="USD"), order(), MEMBER, False),
        (Conditions(currency="EUR", min_total=10_000), order(10_000), MEMBER, True),
        (Conditions(currency="EUR", min_total=10_001), order(10_000), MEMBER, False),
        (Conditions(channels=frozenset({"STORE"})), order(), MEMBER, False),
        (Conditions(channels=frozenset({"STORE"})), order(channel=Channel.STORE), MEMBER, True),
        (Conditions(tiers=frozenset({"GOLD"})), order(), replace(MEMBER, tier="GOLD"), True),
        (Conditions(tiers=frozenset({"GOLD"})), order(), replace(MEMBER, tier="SILVER"), False),
        (Conditions(segments=frozenset({"a", "b"})), order(),
         replace(MEMBER, segments=frozenset({"b", "c"})), True),
        (Conditions(segments=frozenset({"a"})), order(), MEMBER, False),
        (Conditions(first_order_only=True), order(), MEMBER, False),
        (Conditions(first_order_only=True), order(), replace(MEMBER, is_first_order=True), True),
        (Conditions(starts_at=SATURDAY), order(), MEMBER, True),
        (Conditions(ends_at=SATURDAY), order(), MEMBER, False),
        (Conditions(ends_at=SATURDAY + timedelta(seconds=1)), order(), MEMBER, True),
        (Conditions(starts_at=SATURDAY + timedelta(seconds=1)), order(), MEMBER, False),
    ],
)
def test_conditions_must_all_hold(
    conditions: Conditions, event: Purchase, member: MemberFacts, applies: bool
) -> None:
    fixed = rule(conditions=conditions, formula=Formula(FormulaKind.FIXED, points=10))
    assert run([fixed], event, member).points == (10 if applies else 0)


def test_weekdays_are_read_in_the_programme_time_zone() -> None:
    # Sunday 23:30 UTC is Monday 00:30 in Paris.
    late_sunday = order(occurred_at=datetime(2025, 11, 30, 23, 30, tzinfo=UTC))
    monday = rule("mon", conditions=Conditions(currency="EUR", weekdays=frozenset({1})))
    sunday = rule("sun", conditions=Conditions(currency="EUR", weekdays=frozenset({7})))
    assert points_by_rule(run([monday, sunday], late_sunday)) == {"mon": 100}


def test_limits_cap_the_award_and_mark_it_capped() -> None:
    capped = rule(limits=Limits(per_member_per_day=50, per_member_per_month=500,
                                per_member_lifetime=1_000, budget=10_000))
    (award,) = run([capped], usage={"base": RuleUsage(member_today=30)}).awards
    assert (award.points, award.capped) == (20, True)
    (award,) = run([capped], usage={"base": RuleUsage(member_this_month=490)}).awards
    assert (award.points, award.capped) == (10, True)
    (award,) = run([capped], order(1_000)).awards
    assert (award.points, award.capped) == (10, False)
    assert run([capped], usage={"base": RuleUsage(budget_spent=10_000)}).awards == ()


def test_inactive_rules_give_nothing() -> None:
    assert run([rule(active=False)]).awards == ()


# --- properties ------------------------------------------------------------------------

CATEGORIES = ["shoes", "socks", "bags"]
SKUS = ["A", "B", "C", "D"]
small_sets = st.frozensets(st.sampled_from(CATEGORIES), max_size=2)
limit = st.none() | st.integers(min_value=0, max_value=300)

formulas = st.one_of(
    st.builds(Formula, kind=st.just(FormulaKind.FIXED), points=st.integers(0, 200)),
    st.builds(Formula, kind=st.just(FormulaKind.PER_CURRENCY_UNIT),
              points=st.integers(0, 10), per_amount_minor=st.integers(1, 1_000),
              rounding=st.sampled_from(Rounding)),
    st.builds(Formula, kind=st.just(FormulaKind.MULTIPLIER),
              factor=st.sampled_from([1.1, 1.25, 1.5, 2.0, 3.0, 10.0]),
              rounding=st.sampled_from(Rounding)),
)
conditions = st.builds(
    Conditions,
    currency=st.sampled_from([None, "EUR", "USD"]),
    min_total=st.none() | st.integers(0, 20_000),
    categories_include=small_sets, categories_exclude=small_sets,
    skus_exclude=st.frozensets(st.sampled_from(SKUS), max_size=1),
    channels=st.frozensets(st.sampled_from(["ONLINE", "STORE"]), max_size=1),
    weekdays=st.frozensets(st.integers(1, 7), max_size=3),
)
rule_bodies = st.tuples(
    formulas, conditions,
    st.builds(Limits, per_member_per_day=limit, per_member_per_month=limit,
              per_member_lifetime=limit, budget=limit),
    st.integers(-2, 2), st.sampled_from(Stacking), st.booleans(),
)
usages = st.builds(RuleUsage, member_today=st.integers(0, 300),
                   member_this_month=st.integers(0, 300), member_lifetime=st.integers(0, 300),
                   budget_spent=st.integers(0, 300))
lines = st.lists(
    st.builds(OrderLine, sku=st.sampled_from(SKUS), category=st.sampled_from(CATEGORIES),
              quantity=st.integers(1, 3), unit_price=st.integers(0, 5_000)),
    min_size=1, max_size=4,
).map(tuple)
purchases = st.builds(
    Purchase, order_id=st.just("o"), channel=st.sampled_from(Channel),
    total=st.integers(0, 20_000), currency=st.sampled_from(["EUR", "USD"]), lines=lines,
    occurred_at=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 1, 1),
                             timezones=st.just(UTC)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[EarningRule], Purchase, dict[str, RuleUsage]]:
    bodies = draw(st.lists(rule_bodies, min_size=1, max_size=6))
    rules = [
        rule(f"r{index}", formula=formula, conditions=cond, limits=limits, priority=priority,
             stacking=stacking, active=active)
        for index, (formula, cond, limits, priority, stacking, active) in enumerate(bodies)
    ]
    usage = {r.id: draw(usages) for r in rules if draw(st.booleans())}
    return rules, draw(purchases), usage


def _rank(r: EarningRule) -> tuple[int, str]:
    return (-r.priority, r.id)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_points_are_never_negative_and_zero_awards_are_omitted(
    scenario: tuple[list[EarningRule], Purchase, dict[str, RuleUsage]],
) -> None:
    rules, event, usage = scenario
    result = run(rules, event, usage=usage)
    assert all(award.points > 0 for award in result.awards)
    assert result.points >= 0
    ids = [award.rule_id for award in result.awards]
    assert len(ids) == len(set(ids))
    assert set(ids) <= {r.id for r in rules if r.active}


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_limits_are_never_exceeded(
    scenario: tuple[list[EarningRule], Purchase, dict[str, RuleUsage]],
) -> None:
    rules, event, usage = scenario
    by_id = {r.id: r for r in rules}
    for award in run(rules, event, usage=usage).awards:
        limits, used = by_id[award.rule_id].limits, usage.get(award.rule_id, RuleUsage())
        for cap, before in (
            (limits.per_member_per_day, used.member_today),
            (limits.per_member_per_month, used.member_this_month),
            (limits.per_member_lifetime, used.member_lifetime),
            (limits.budget, used.budget_spent),
        ):
            if cap is not None:
                assert before + award.points <= cap


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_the_order_rules_are_given_in(
    scenario: tuple[list[EarningRule], Purchase, dict[str, RuleUsage]], shuffler: random.Random
) -> None:
    rules, event, usage = scenario
    shuffled = list(rules)
    shuffler.shuffle(shuffled)
    assert run(shuffled, event, usage=usage) == run(rules, event, usage=usage)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_rule_ranked_below_an_applied_exclusive_rule_gives_points(
    scenario: tuple[list[EarningRule], Purchase, dict[str, RuleUsage]],
) -> None:
    rules, event, usage = scenario
    by_id = {r.id: r for r in rules}
    awarded = [by_id[a.rule_id] for a in run(rules, event, usage=usage).awards]
    for exclusive in (r for r in awarded if r.stacking is Stacking.EXCLUSIVE):
        assert all(_rank(r) <= _rank(exclusive) for r in awarded)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_each_multiplier_adds_its_factor_of_the_base_points(
    scenario: tuple[list[EarningRule], Purchase, dict[str, RuleUsage]],
) -> None:
    rules, event, usage = scenario
    by_id = {r.id: r for r in rules}
    result = run(rules, event, usage=usage)
    base = sum(a.points for a in result.awards
               if by_id[a.rule_id].formula.kind is not FormulaKind.MULTIPLIER)
    for award in result.awards:
        formula = by_id[award.rule_id].formula
        if formula.kind is FormulaKind.MULTIPLIER and not award.capped:
            exact = base * (Fraction(str(formula.factor)) - 1)
            assert abs(award.points - exact) < 1
