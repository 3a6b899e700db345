"""Dry runs of a rule change against recorded orders: what a new rule would have given, or
what editing or archiving an existing rule would have changed. Writes nothing.

Each order in the window is evaluated, oldest first, with the rules in force and the change
applied: a new rule beside them, an edited rule in place of its stored version (under its
own id, so priority ties break as they do live), an archived rule left out. The other rules
are there so that a multiplier has base points to multiply and an exclusive rule can block
the simulated one; only the simulated rule's own award is counted. Its limits and budget are
simulated in memory from zero at the start of the window. Orders carry no tier or segment,
so a rule that asks for one matches nothing; "first order" means the member had no order
before.

Refunds. An order is evaluated as it was recorded, and then the share of the award that its
refunds reverse is taken back, as `orderRefund` computes it (in proportion to the money
refunded): a fully refunded order earns nothing, a partly refunded one keeps the share of
the money kept. Evaluating the net amount instead would misjudge thresholds and fixed
awards, which the live engine grants on the order as paid and then reverses in proportion.
Limits count the award before refunds, since refunds do not give limits back.

What a stored rule actually earned is read from the breakdown of each order's EARN entry,
less the same refunded share, so that an unchanged rule shows no difference. (A refund
cannot take back points that had already expired; here they count as taken back.)

Round trips: the orders in batches of `BATCH`; per batch at most one read of their earns
(when comparing) and one of earlier orders (when a rule is for first orders only).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.collections import LEDGER, ORDERS
from loyalty.conditions import MemberFacts, Purchase
from loyalty.earning.refunds import points_to_reverse
from loyalty.earning.rules import usage
from loyalty.earning.rules.evaluate import evaluate
from loyalty.earning.rules.model import EarningRule, RuleUsage
from loyalty.earning.rules.store import DRAFT_ID, active_rules, get_rules
from loyalty.earning.rules.validate import Path, validate_rule
from loyalty.errors import UnknownRule
from loyalty.ledger.entries import EntryKind
from loyalty.purchases import Channel, OrderLine
from store import InputErrors, InvalidInput, KizunaError, Store

MAX_WINDOW = timedelta(days=400)
BATCH = 500
_PROJECTION = {
    "member_id": 1, "channel": 1, "total": 1, "currency": 1, "items": 1, "occurred_at": 1,
    "refunded_amount": 1, "entry_id": 1,
}


@dataclass(frozen=True, slots=True)
class NewRule:
    """Try a rule that is not stored, next to the rules in force."""

    rule: EarningRule
    field: Path = ("input", "rule")
    """Where the rule's fields are in the input (for validation errors)."""


@dataclass(frozen=True, slots=True)
class EditRule:
    """Try `rule`'s fields in place of those of the active rule `rule_id`."""

    rule_id: str
    rule: EarningRule
    field: Path = ("input", "edit")
    id_field: Path = ("input", "edit", "rule")


@dataclass(frozen=True, slots=True)
class ArchiveRule:
    """Try the rules in force without the active rule `rule_id`."""

    rule_id: str
    id_field: Path = ("input", "archive", "rule")


type RuleChange = NewRule | EditRule | ArchiveRule


@dataclass(frozen=True, slots=True)
class Comparison:
    """An edit or archive simulated against what the stored rule earned on the same orders."""

    rule: EarningRule
    """The stored rule, as it is now."""
    points_earned: int
    """What it gave the window's orders, less the share their refunds reverse."""
    points_difference: int
    """Simulated points − `points_earned`: negative when the change takes points away."""
    orders_changed: int
    """Orders for which the rule would give a different number of points."""
    members_changed: int


@dataclass(frozen=True, slots=True)
class Simulation:
    orders_matched: int
    """Orders the simulated rule would have given points for (after refunds)."""
    members_affected: int
    points: int
    """What the simulated rule would have given, less what refunds would reverse."""
    comparison: Comparison | None = None
    """For an edit or archive; None for a new rule."""


@dataclass(frozen=True, slots=True)
class _Plan:
    rules: tuple[EarningRule, ...]
    """Everything evaluated: the rules in force with the change applied."""
    simulated: EarningRule | None
    """The rule whose award counts (None when it is archived)."""
    stored: EarningRule | None
    """The rule whose actual earnings are compared (None for a new rule)."""


@dataclass(slots=True)
class _Tally:
    """The running totals and the simulated rule's in-memory limit counters."""

    rule_id: str
    orders: int = 0
    points: int = 0
    members: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    earned: int = 0
    orders_changed: int = 0
    members_changed: set[str] = field(default_factory=set)

    def usage(self, member_id: str, local_time: datetime) -> RuleUsage:
        ids = _counter_ids(self.rule_id, member_id, local_time)
        return RuleUsage(**{name: self.counters.get(cid, 0) for name, cid in ids.items()})

    def add(self, member_id: str, local_time: datetime, *, gross: int, kept: int,
            earned: int) -> None:
        """Count one order: `gross` the simulated award as recorded, `kept` what refunds
        leave of it, `earned` what the stored rule kept of its actual award."""
        if gross > 0:
            for cid in _counter_ids(self.rule_id, member_id, local_time).values():
                self.counters[cid] = self.counters.get(cid, 0) + gross
        if kept > 0:
            self.orders += 1
            self.points += kept
            self.members.add(member_id)
        self.earned += earned
        if kept != earned:
            self.orders_changed += 1
            self.members_changed.add(member_id)

    def result(self, stored: EarningRule | None) -> Simulation:
        comparison = None if stored is None else Comparison(
            rule=stored, points_earned=self.earned, points_difference=self.points - self.earned,
            orders_changed=self.orders_changed, members_changed=len(self.members_changed),
        )
        return Simulation(orders_matched=self.orders, members_affected=len(self.members),
                          points=self.points, comparison=comparison)


def _counter_ids(rule_id: str, member_id: str, local_time: datetime) -> dict[str, str]:
    day = local_time.date()
    return {
        "member_today": usage.day_id(rule_id, member_id, day),
        "member_this_month": usage.month_id(rule_id, member_id, day),
        "member_lifetime": usage.lifetime_id(rule_id, member_id),
        "budget_spent": usage.budget_id(rule_id),
    }


@dataclass(slots=True)
class _FirstOrders:
    """Which orders are their member's first, across batches read oldest first."""

    start: datetime
    needed: bool
    """False when no rule asks: then earlier orders are not read at all."""
    seen: set[str] = field(default_factory=set)
    had_orders_before: set[str] = field(default_factory=set)

    async def load(self, store: Store, batch: Sequence[Mapping[str, Any]]) -> None:
        if not self.needed:
            return
        newcomers = {doc["member_id"] for doc in batch} - self.seen
        if newcomers:
            self.had_orders_before |= set(await store.collection(ORDERS).distinct(
                "member_id",
                {"member_id": {"$in": sorted(newcomers)}, "occurred_at": {"$lt": self.start}},
            ))

    def take(self, member_id: str) -> bool:
        """Whether this member's next order is their first; counts it as seen."""
        first = member_id not in self.seen and member_id not in self.had_orders_before
        self.seen.add(member_id)
        return first


async def simulate_change(
    store: Store,
    *,
    change: RuleChange,
    start: datetime,
    end: datetime,
    timezone: ZoneInfo,
) -> Simulation:
    """What `change` would have given for the orders that occurred in [start, end), and for
    an edit or archive, the difference against what the stored rule actually earned.

    Raises, together when there are several: InvalidRule / UnknownCurrency (fields under
    the change's `field`), UnknownRule or InvalidInput for a rule that is archived (its
    `id_field`), InvalidInput for the window (`input.from`, `input.to`; at most 400 days).
    """
    plan = await _plan(store, change, start, end)
    simulated = plan.simulated
    tally = _Tally(rule_id=simulated.id if simulated else DRAFT_ID)
    firsts = _FirstOrders(start=start, needed=any(
        rule.conditions.first_order_only for rule in plan.rules))
    cursor = store.collection(ORDERS).find(
        {"occurred_at": {"$gte": start, "$lt": end}}, _PROJECTION
    ).sort([("occurred_at", 1), ("_id", 1)]).batch_size(BATCH)
    while batch := await cursor.to_list(BATCH):
        await firsts.load(store, batch)
        earned = await _earned(store, batch, plan.stored.id) if plan.stored else {}
        for doc in batch:
            member_id = doc["member_id"]
            first = firsts.take(member_id)
            local = doc["occurred_at"].astimezone(timezone)
            gross = 0
            if simulated is not None:
                awards = evaluate(
                    plan.rules, _purchase(doc),
                    MemberFacts(member_id=member_id, is_first_order=first),
                    {simulated.id: tally.usage(member_id, local)}, timezone=timezone,
                ).awards
                gross = sum(a.points for a in awards if a.rule_id == simulated.id)
            tally.add(member_id, local, gross=gross, kept=_kept(gross, doc),
                      earned=_kept(earned.get(doc.get("entry_id") or "", 0), doc))
    return tally.result(plan.stored)


async def _plan(store: Store, change: RuleChange, start: datetime, end: datetime) -> _Plan:
    """The rules to evaluate, after checking every input (all problems reported at once)."""
    errors: list[KizunaError] = []
    simulated: EarningRule | None = None
    if not isinstance(change, ArchiveRule):
        rule_id = change.rule_id if isinstance(change, EditRule) else DRAFT_ID
        try:
            simulated = replace(validate_rule(change.rule, field=change.field), id=rule_id,
                                active=True)
        except KizunaError as error:
            errors.append(error)
    in_force = await active_rules(store)
    stored: EarningRule | None = None
    if not isinstance(change, NewRule):
        try:
            stored = await _stored_rule(store, change, in_force)
        except KizunaError as error:
            errors.append(error)
    errors += _window_errors(start, end)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    replaced = {DRAFT_ID, *([stored.id] if stored else [])}
    others = tuple(rule for rule in in_force if rule.id not in replaced)
    return _Plan(rules=(*others, *([simulated] if simulated else [])), simulated=simulated,
                 stored=stored)


async def _stored_rule(
    store: Store, change: EditRule | ArchiveRule, in_force: Sequence[EarningRule]
) -> EarningRule:
    for rule in in_force:
        if rule.id == change.rule_id:
            return rule
    # Not active: one more read tells an archived rule from an unknown id.
    if change.rule_id in await get_rules(store, [change.rule_id]):
        raise InvalidInput(
            "This rule is archived: it earns nothing to change. Simulate it as a new rule "
            "to see what it would give if it came back.", field=change.id_field,
        )
    raise UnknownRule("No earning rule has this id.", field=change.id_field)


def _window_errors(start: datetime, end: datetime) -> list[KizunaError]:
    naive = [label for label, value in (("from", start), ("to", end)) if value.tzinfo is None]
    errors: list[KizunaError] = [
        InvalidInput("Give the time with its UTC offset.", field=("input", label))
        for label in naive
    ]
    if not naive and not start < end <= start + MAX_WINDOW:
        errors.append(InvalidInput(
            f"`to` must come after `from`, at most {MAX_WINDOW.days} days later.",
            field=("input", "to"),
        ))
    return errors


async def _earned(
    store: Store, batch: Sequence[Mapping[str, Any]], rule_id: str
) -> dict[str, int]:
    """The points `rule_id` gave each order of `batch`, by earn entry id, from the earns'
    breakdowns (one query; orders recorded without an entry are absent)."""
    entry_ids = [doc["entry_id"] for doc in batch if doc.get("entry_id")]
    if not entry_ids:
        return {}
    cursor = store.collection(LEDGER).find(
        {"_id": {"$in": entry_ids}, "kind": EntryKind.EARN.value}, {"breakdown": 1}
    ).batch_size(BATCH)
    return {
        entry["_id"]: sum(line["points"] for line in entry.get("breakdown", ())
                          if line["rule_id"] == rule_id)
        async for entry in cursor
    }


def _kept(points: int, order: Mapping[str, Any]) -> int:
    """What is left of `points` awarded for `order` once its refunds took their share back,
    computed as `orderRefund` computes reversals."""
    total, refunded = int(order["total"]), int(order.get("refunded_amount") or 0)
    if refunded >= total:
        return 0  # fully refunded: the order earns nothing
    return points - points_to_reverse(earned=points, total=total, refunded_before=0,
                                      refunded_now=refunded, reversed_before=0)


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
