"""Counters behind rule limits and campaign budgets, read and written inside the earn's
transaction.

One document per counter, with a deterministic `_id`:
    {rule_id}|m|{member_id}|d|{YYYY-MM-DD}   points the rule gave the member that day
    {rule_id}|m|{member_id}|mo|{YYYY-MM}     … that month
    {rule_id}|m|{member_id}|life             … ever
    {rule_id}|budget                         points the rule gave everyone
shaped {_id, rule_id, member_id, points, expires_at?}. Days and months are those of
the event in the programme's time zone.

Why this holds under concurrency: the earn reads the counters and then increments those of
every rule that gave points, in one transaction. On a replica set two transactions that
increment the same counter conflict (first committer wins); PyMongo's `with_transaction`
retries the loser, which re-reads the counter and is capped by what is left. The embedded
server runs transactions one at a time, which is stricter still.

Day and month counters carry `expires_at` (a TTL index removes them) long after their
period: far enough that an order back-dated to that period still finds its counter.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from loyalty.collections import EARNING_RULES, RULE_USAGE
from loyalty.earning.rules.model import EarningRule, RuleUsage
from loyalty.ledger.entries import RuleAward
from store import IndexSpec, Session, Store, UpdateOne

# Longer than any back-dating an order or action may have (a year).
COUNTER_RETENTION = timedelta(days=400)

INDEXES = (
    IndexSpec(RULE_USAGE, (("expires_at", 1),), name="expiry", expire_after_seconds=0),
)


def day_id(rule_id: str, member_id: str, local_date: date) -> str:
    return f"{rule_id}|m|{member_id}|d|{local_date.isoformat()}"


def month_id(rule_id: str, member_id: str, local_date: date) -> str:
    return f"{rule_id}|m|{member_id}|mo|{local_date:%Y-%m}"


def lifetime_id(rule_id: str, member_id: str) -> str:
    return f"{rule_id}|m|{member_id}|life"


def budget_id(rule_id: str) -> str:
    return f"{rule_id}|budget"


def _counters(
    rule: EarningRule, member_id: str, local_date: date
) -> list[tuple[str, str, str | None, date | None]]:
    """(field of RuleUsage, counter id, member id, expiry day) for each limit the rule has."""
    limits, rid = rule.limits, rule.id
    counters: list[tuple[str, str, str | None, date | None]] = []
    if limits.per_member_per_day is not None:
        counters.append((
            "member_today", day_id(rid, member_id, local_date), member_id,
            local_date + timedelta(days=1),
        ))
    if limits.per_member_per_month is not None:
        counters.append((
            "member_this_month", month_id(rid, member_id, local_date), member_id,
            _next_month(local_date),
        ))
    if limits.per_member_lifetime is not None:
        counters.append(("member_lifetime", lifetime_id(rid, member_id), member_id, None))
    if limits.budget is not None:
        counters.append(("budget_spent", budget_id(rid), None, None))
    return counters


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


async def load_usage(
    store: Store,
    session: Session,
    rules: Iterable[EarningRule],
    *,
    member_id: str,
    local_date: date,
) -> dict[str, RuleUsage]:
    """What each rule with a limit already gave, as of now in `session`'s transaction:
    one query for all counters, none when no rule has a limit. Rules without limits are
    absent from the result (evaluation reads that as nothing used)."""
    wanted = {rule.id: _counters(rule, member_id, local_date) for rule in rules}
    ids = [counter[1] for counters in wanted.values() for counter in counters]
    if not ids:
        return {}
    cursor = store.collection(RULE_USAGE).find(
        {"_id": {"$in": ids}}, {"points": 1}, session=session
    )
    points = {doc["_id"]: int(doc["points"]) async for doc in cursor}
    return {
        rule_id: RuleUsage(**{name: points.get(cid, 0) for name, cid, _, _ in counters})
        for rule_id, counters in wanted.items()
        if counters
    }


async def record_usage(
    store: Store,
    session: Session,
    awards: Sequence[RuleAward],
    rules: Iterable[EarningRule],
    *,
    member_id: str,
    local_date: date,
    usage: Mapping[str, RuleUsage],
) -> None:
    """Add each award's points to its rule's counters, in `session`'s transaction (one
    bulk write; nothing when no awarded rule has a limit). A campaign whose budget this
    award uses up is marked so in the same transaction: it is no longer offered to members
    (`usage` is what `load_usage` read before the award)."""
    by_id = {rule.id: rule for rule in rules}
    operations: list[UpdateOne] = []
    used_up: list[str] = []
    for award in awards:
        rule = by_id.get(award.rule_id)
        if rule is None or award.points <= 0:
            continue
        budget = rule.limits.budget
        before = usage.get(rule.id, RuleUsage()).budget_spent
        if budget is not None and before + award.points >= budget:
            used_up.append(rule.id)
        for _, counter_id, counter_member, expiry_day in _counters(rule, member_id, local_date):
            on_insert: dict[str, object] = {"rule_id": rule.id, "member_id": counter_member}
            if expiry_day is not None:
                on_insert["expires_at"] = (
                    datetime.combine(expiry_day, time(), tzinfo=UTC) + COUNTER_RETENTION
                )
            operations.append(UpdateOne(
                {"_id": counter_id},
                {"$inc": {"points": award.points}, "$setOnInsert": on_insert},
                upsert=True,
            ))
    if operations:
        await store.collection(RULE_USAGE).bulk_write(operations, ordered=True, session=session)
    if used_up:
        await store.collection(EARNING_RULES).update_many(
            {"_id": {"$in": used_up}}, {"$set": {"budget_used_up": True}}, session=session
        )
        store.reads.forget(EARNING_RULES)


async def budgets_spent(store: Store, rule_ids: Sequence[str]) -> dict[str, int]:
    """Points each rule's budget has given so far (rules without a counter are absent)."""
    if not rule_ids:
        return {}
    cursor = store.collection(RULE_USAGE).find(
        {"_id": {"$in": [budget_id(rid) for rid in rule_ids]}}, {"points": 1, "rule_id": 1}
    )
    return {doc["rule_id"]: int(doc["points"]) async for doc in cursor}
