"""Rule limits and campaign budgets, counted in the earn's transaction."""

import asyncio
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from api.state import AppState
from loyalty.collections import RULE_USAGE
from loyalty.conditions import Action, Conditions, MemberFacts
from loyalty.earning.rules.evaluate import evaluate
from loyalty.earning.rules.model import EarningRule, Formula, FormulaKind, Limits, TriggerKind
from loyalty.earning.rules.usage import budget_id, load_usage, record_usage
from loyalty.ledger.entries import RuleAward
from store import Session, Store

UTC_ZONE = ZoneInfo("UTC")


def review_rule(rule_id: str, points: int, limits: Limits) -> EarningRule:
    return EarningRule(
        id=rule_id, name=rule_id, description="", trigger=TriggerKind.ACTION,
        action_type="REVIEW", conditions=Conditions(),
        formula=Formula(FormulaKind.FIXED, points=points), limits=limits,
    )


async def earn(
    store: Store, rules: list[EarningRule], *, member_id: str, day: date
) -> tuple[RuleAward, ...]:
    """What an earn use case does: read counters, evaluate, add to counters — one
    transaction."""
    event = Action(type="REVIEW", reference=f"{member_id}-{day}",
                   occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC))

    async def work(session: Session) -> tuple[RuleAward, ...]:
        usage = await load_usage(store, session, rules, member_id=member_id, local_date=day)
        awards = evaluate(rules, event, MemberFacts(member_id=member_id), usage,
                          timezone=UTC_ZONE).awards
        await record_usage(store, session, awards, rules, member_id=member_id, local_date=day,
                           usage=usage)
        return awards

    return await store.transaction(work)


async def test_campaign_budget_is_never_exceeded_by_concurrent_earns(state: AppState) -> None:
    store = state.services.store
    campaign = review_rule("campaign", 30, Limits(budget=1_000))
    results = await asyncio.gather(*(
        earn(store, [campaign], member_id=f"m{i}", day=date(2026, 3, 1)) for i in range(60)
    ))
    given = [award.points for awards in results for award in awards]
    assert sum(given) == 1_000  # 60 × 30 asked for: exactly the budget was given
    assert sum(1 for awards in results if awards and awards[0].capped) == 1
    counter = await store.collection(RULE_USAGE).find_one({"_id": budget_id("campaign")})
    assert counter is not None and counter["points"] == 1_000


async def test_concurrent_earns_of_one_member_respect_the_daily_limit(state: AppState) -> None:
    store = state.services.store
    rule = review_rule("daily", 40, Limits(per_member_per_day=100))
    results = await asyncio.gather(*(
        earn(store, [rule], member_id="ann", day=date(2026, 3, 1)) for _ in range(10)
    ))
    assert sum(a.points for awards in results for a in awards) == 100


async def test_day_month_and_lifetime_limits_across_events(state: AppState) -> None:
    store = state.services.store
    rule = review_rule("capped", 40, Limits(per_member_per_day=100, per_member_per_month=250,
                                            per_member_lifetime=300))
    days = [date(2026, 3, 1)] * 3 + [date(2026, 3, 2)] * 3 + [date(2026, 3, 3)] * 2 + [
        date(2026, 4, 1)] * 2
    given = [
        sum(a.points for a in await earn(store, [rule], member_id="ann", day=day))
        for day in days
    ]
    # Day: 40 40 20 | 40 40 20 | month reaches 250: 40 10 | April: lifetime 300 leaves 50.
    assert given == [40, 40, 20, 40, 40, 20, 40, 10, 40, 10]
    assert sum(a.points for a in await earn(store, [rule], member_id="ann",
                                            day=date(2026, 4, 2))) == 0
    # Another member has limits of their own.
    assert sum(a.points for a in await earn(store, [rule], member_id="bob",
                                            day=date(2026, 3, 1))) == 40


async def test_counters_written_in_a_transaction_are_read_back_in_it(state: AppState) -> None:
    store = state.services.store
    rule = review_rule("r", 10, Limits(per_member_per_day=100, budget=500))
    day = date(2026, 3, 1)

    async def work(session: Session) -> tuple[int, int]:
        award = RuleAward(rule_id="r", rule_name="r", points=25)
        await record_usage(store, session, [award], [rule], member_id="ann", local_date=day,
                           usage={})
        usage = await load_usage(store, session, [rule], member_id="ann", local_date=day)
        return usage["r"].member_today, usage["r"].budget_spent

    assert await store.transaction(work) == (25, 25)


async def test_rules_without_limits_cost_no_query(state: AppState) -> None:
    store = state.services.store
    unlimited = review_rule("free", 10, Limits())

    async def work(session: Session) -> int:
        before = store.commands.by_name.get("find", 0)
        usage = await load_usage(store, session, [unlimited], member_id="ann",
                                 local_date=date(2026, 3, 1))
        await record_usage(store, session, [RuleAward("free", "free", 10)], [unlimited],
                           member_id="ann", local_date=date(2026, 3, 1), usage=usage)
        assert usage == {}
        return store.commands.by_name.get("find", 0) - before

    assert await store.transaction(work) == 0
    assert await store.collection(RULE_USAGE).count_documents({}) == 0


async def test_daily_counters_expire_long_after_their_day(state: AppState) -> None:
    store = state.services.store
    rule = review_rule("r", 10, Limits(per_member_per_day=100, per_member_lifetime=900))
    await earn(store, [rule], member_id="ann", day=date(2026, 3, 1))
    day = await store.collection(RULE_USAGE).find_one({"_id": {"$regex": r"\|d\|"}})
    life = await store.collection(RULE_USAGE).find_one({"_id": {"$regex": r"\|life$"}})
    assert day is not None and day["expires_at"] > datetime(2027, 3, 1, tzinfo=UTC)
    assert life is not None and "expires_at" not in life
