"""A dry run of a draft rule against recorded orders: what it would have given. Writes
nothing.

The draft is evaluated over each order in the window, oldest first, next to `others` (the
rules in force, so that a multiplier has base points to multiply and an exclusive rule can
block it) — only the draft's own award is counted. Its limits and budget are simulated in
memory from zero at the start of the window. Orders carry no tier or segment, so a draft
that asks for one matches nothing; "first order" means the member had no order before.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.collections import ORDERS
from loyalty.rules import usage
from loyalty.rules.evaluate import evaluate
from loyalty.rules.model import (
    Channel,
    EarningRule,
    MemberFacts,
    OrderLine,
    Purchase,
    RuleUsage,
)
from loyalty.rules.store import DRAFT_ID
from loyalty.rules.validate import validate_rule
from store import InputErrors, InvalidInput, KizunaError, Store

MAX_WINDOW = timedelta(days=400)
BATCH = 500
_PROJECTION = {
    "member_id": 1, "channel": 1, "total": 1, "currency": 1, "items": 1, "occurred_at": 1,
}


@dataclass(frozen=True, slots=True)
class Simulation:
    orders_matched: int
    """Orders the draft would have given points for."""
    members_affected: int
    points: int


@dataclass(slots=True)
class _Tally:
    """The running totals and the draft's in-memory limit counters."""

    orders: int = 0
    points: int = 0
    members: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def usage(self, member_id: str, occurred: datetime) -> RuleUsage:
        ids = _counter_ids(member_id, occurred)
        return RuleUsage(**{name: self.counters.get(cid, 0) for name, cid in ids.items()})

    def add(self, member_id: str, occurred: datetime, points: int) -> None:
        self.orders += 1
        self.points += points
        self.members.add(member_id)
        for cid in _counter_ids(member_id, occurred).values():
            self.counters[cid] = self.counters.get(cid, 0) + points


def _counter_ids(member_id: str, local_time: datetime) -> dict[str, str]:
    day = local_time.date()
    return {
        "member_today": usage.day_id(DRAFT_ID, member_id, day),
        "member_this_month": usage.month_id(DRAFT_ID, member_id, day),
        "member_lifetime": usage.lifetime_id(DRAFT_ID, member_id),
        "budget_spent": usage.budget_id(DRAFT_ID),
    }


async def simulate_rule(
    store: Store,
    draft: EarningRule,
    *,
    start: datetime,
    end: datetime,
    timezone: ZoneInfo,
    others: Sequence[EarningRule] = (),
) -> Simulation:
    """What `draft` would have given for the orders that occurred in [start, end).

    Raises InvalidRule / UnknownCurrency (fields under `input.rule`) or InvalidInput for
    the window (`input.from`, `input.to`; at most 400 days); reads orders in batches.
    """
    rule = _check(draft, start, end)
    rules = [*(other for other in others if other.id != DRAFT_ID), rule]
    tally = _Tally()
    had_orders_before: set[str] = set()
    seen: set[str] = set()
    cursor = store.collection(ORDERS).find(
        {"occurred_at": {"$gte": start, "$lt": end}}, _PROJECTION
    ).sort([("occurred_at", 1), ("_id", 1)]).batch_size(BATCH)
    while batch := await cursor.to_list(BATCH):
        if rule.conditions.first_order_only:
            newcomers = {doc["member_id"] for doc in batch} - seen
            had_orders_before |= await _members_with_orders_before(store, newcomers, start)
        for doc in batch:
            member_id = doc["member_id"]
            first = member_id not in seen and member_id not in had_orders_before
            seen.add(member_id)
            local = doc["occurred_at"].astimezone(timezone)
            awards = evaluate(
                rules, _purchase(doc), MemberFacts(member_id=member_id, is_first_order=first),
                {DRAFT_ID: tally.usage(member_id, local)}, timezone=timezone,
            ).awards
            points = sum(a.points for a in awards if a.rule_id == DRAFT_ID)
            if points > 0:
                tally.add(member_id, local, points)
    return Simulation(
        orders_matched=tally.orders, members_affected=len(tally.members), points=tally.points
    )


def _check(draft: EarningRule, start: datetime, end: datetime) -> EarningRule:
    errors: list[KizunaError] = []
    rule = draft
    try:
        rule = replace(validate_rule(draft, field=("input", "rule")), id=DRAFT_ID, active=True)
    except KizunaError as error:
        errors.append(error)
    naive = [label for label, value in (("from", start), ("to", end)) if value.tzinfo is None]
    errors += [InvalidInput("Give the time with its UTC offset.", field=("input", label))
               for label in naive]
    if not naive and not start < end <= start + MAX_WINDOW:
        errors.append(InvalidInput(
            f"`to` must come after `from`, at most {MAX_WINDOW.days} days later.",
            field=("input", "to"),
        ))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return rule


async def _members_with_orders_before(
    store: Store, member_ids: set[str], start: datetime
) -> set[str]:
    if not member_ids:
        return set()
    found = await store.collection(ORDERS).distinct(
        "member_id", {"member_id": {"$in": sorted(member_ids)}, "occurred_at": {"$lt": start}}
    )
    return set(found)


def _purchase(doc: Mapping[str, Any]) -> Purchase:
    return Purchase(
        order_id=str(doc["_id"]), channel=Channel(doc.get("channel", Channel.ONLINE)),
        total=int(doc["total"]), currency=doc["currency"],
        lines=tuple(
            OrderLine(sku=item["sku"], category=item.get("category"),
                      quantity=int(item["quantity"]), unit_price=int(item["unit_price"]))
            for item in doc.get("items", ())
        ),
        occurred_at=doc["occurred_at"],
    )
