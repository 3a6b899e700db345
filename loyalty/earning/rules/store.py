"""Earning rules in MongoDB: administrators change them at run time, no deploy needed.

Document shape (collection `earning_rules`):
    {_id, name, description, trigger, action_type, priority, stacking, active,
     conditions {min_total, currency, categories_include [..], categories_exclude [..],
                 skus_include [..], skus_exclude [..], channels [..], tiers [..],
                 segments [..], first_order_only, starts_at, ends_at, weekdays [..],
                 badges [..]},
     grants_badge (a badge id or null),
     formula {kind, points, per_amount_minor, factor, rounding},
     limits {per_member_per_day, per_member_per_month, per_member_lifetime, budget},
     created_at, updated_at, archived_at}

No in-process cache of active rules: the query is one indexed read of a small collection,
while a cache would be module-level mutable state and would let another app instance earn
on a rule an administrator has already archived. Every earn reads the rules as they are.
"""

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from events import audit as audit_log
from events.audit import Audit, Target
from loyalty.collections import EARNING_RULES
from loyalty.conditions import Conditions
from loyalty.earning.rules import usage
from loyalty.earning.rules.badges import with_badges_checked
from loyalty.earning.rules.model import (
    EarningRule,
    Formula,
    FormulaKind,
    Limits,
    Rounding,
    Stacking,
    TriggerKind,
)
from loyalty.earning.rules.validate import validate_rule
from loyalty.errors import UnknownRule
from loyalty.segments.definitions import rule_references
from store import Document, IndexSpec, Store, new_id
from store.clock import Clock
from store.pagination import Page, fetch_page

DRAFT_ID = "draft"
"""The id of a rule that is not stored (a draft being validated or simulated)."""

RULE = "EarningRule"
"""The rules' type in the audit trail (their GraphQL node type)."""

INDEXES = (
    IndexSpec(EARNING_RULES, (("active", 1), ("priority", -1)), name="active_by_priority"),
    *usage.INDEXES,  # the counters' TTL: one tuple for the composition root to register
)


async def create_rule(
    store: Store, *, draft: EarningRule, clock: Clock, audit: Audit | None
) -> EarningRule:
    """Store a new, active rule from `draft` (its id, active flag and creation time are
    ignored), audited as `audit`; raises InvalidRule, UnknownCurrency or InputErrors,
    writing nothing."""
    now = clock()
    rule = replace(await _validated(store, draft), id=new_id(), active=True, created_at=now)
    await audit_log.insert(
        store, audit, operation="earningRuleCreate", target=Target(RULE, rule.id),
        collection=EARNING_RULES, document={**to_document(rule), "updated_at": now}, at=now)
    store.reads.forget(EARNING_RULES)
    return rule


async def update_rule(
    store: Store, *, rule_id: str, draft: EarningRule, clock: Clock, audit: Audit | None
) -> EarningRule:
    """Replace every field of the rule with those of `draft`, keeping its id, active flag
    and creation time; raises UnknownRule or the validation errors, writing nothing."""
    rule = await _validated(store, draft)
    fields = {
        key: value for key, value in to_document(rule).items()
        if key not in {"_id", "active", "created_at"}
    }
    # A new budget may leave room again (or none): the flag follows what was spent.
    spent = (await usage.budgets_spent(store, [rule_id])).get(rule_id, 0)
    used_up = rule.limits.budget is not None and spent >= rule.limits.budget
    return await _change(store, rule_id, {**fields, "budget_used_up": used_up},
                         clock=clock, audit=audit, operation="earningRuleUpdate")


async def _validated(store: Store, draft: EarningRule) -> EarningRule:
    """`validate_rule` with the tiers and segments its conditions name checked to exist."""
    tiers, segments = await rule_references(
        store, tiers=draft.conditions.tiers, segments=draft.conditions.segments
    )
    return await with_badges_checked(store, validate_rule(draft, tiers=tiers, segments=segments))


async def archive_rule(
    store: Store, *, rule_id: str, clock: Clock, audit: Audit | None
) -> EarningRule:
    """Stop the rule from earning (it stays listed for the record); raises UnknownRule."""
    return await _change(store, rule_id, {"active": False, "archived_at": clock()},
                         clock=clock, audit=audit, operation="earningRuleArchive")


async def activate_rule(
    store: Store, *, rule_id: str, clock: Clock, audit: Audit | None
) -> EarningRule:
    """Let an archived rule earn again; raises UnknownRule."""
    return await _change(store, rule_id, {"active": True, "archived_at": None},
                         clock=clock, audit=audit, operation="earningRuleActivate")


async def _change(
    store: Store, rule_id: str, fields: Mapping[str, Any], *, clock: Clock,
    audit: Audit | None, operation: str,
) -> EarningRule:
    now = clock()
    doc = await audit_log.update(
        store, audit, operation=operation, target=Target(RULE, rule_id),
        collection=EARNING_RULES, fields={**fields, "updated_at": now}, at=now)
    store.reads.forget(EARNING_RULES)
    if doc is None:
        raise UnknownRule("No earning rule has this id.", field=("input", "rule"))
    return from_document(doc)


async def get_rules(store: Store, rule_ids: list[str]) -> dict[str, EarningRule]:
    """The stored rules among `rule_ids`, by id (one query)."""
    cursor = store.collection(EARNING_RULES).find({"_id": {"$in": rule_ids}})
    return {doc["_id"]: from_document(doc) async for doc in cursor}


async def list_rules(
    store: Store, *, first: int, after_id: str | None
) -> tuple[list[EarningRule], Page]:
    """Every rule, archived ones too, newest first (keyset pages of up to 100)."""
    page = await fetch_page(
        store.collection(EARNING_RULES), filter={}, first=first, after_id=after_id,
        descending=True,
    )
    return [from_document(doc) for doc in page.documents], page


async def active_rules(store: Store) -> tuple[EarningRule, ...]:
    """The rules that may earn, highest priority first (including campaigns that have not
    started or have ended: evaluation checks their dates at the event's time)."""
    cursor = store.collection(EARNING_RULES).find({"active": True}).sort(
        [("priority", -1), ("_id", 1)]
    )
    return tuple([from_document(doc) async for doc in cursor])


async def rules_on_offer(store: Store, *, now: datetime) -> list[EarningRule]:
    """Active rules that have not ended by `now` nor spent their budget: the ways to earn a
    member can still use."""
    return [rule for rule in await active_rules(store) if still_on_offer(rule, now)]


def still_on_offer(rule: EarningRule, now: datetime) -> bool:
    """Whether a member can still earn by `rule` from `now` on (as far as dates and budget
    say; its other conditions are the member's business)."""
    return rule.active and not rule.budget_used_up and (
        rule.conditions.ends_at is None or rule.conditions.ends_at > now
    )


def to_document(rule: EarningRule) -> Document:
    c, f, lim = rule.conditions, rule.formula, rule.limits
    return {
        "_id": rule.id, "name": rule.name, "description": rule.description,
        "trigger": rule.trigger.value, "action_type": rule.action_type,
        "priority": rule.priority, "stacking": rule.stacking.value, "active": rule.active,
        "created_at": rule.created_at,
        "conditions": {
            "min_total": c.min_total, "currency": c.currency,
            "categories_include": sorted(c.categories_include),
            "categories_exclude": sorted(c.categories_exclude),
            "skus_include": sorted(c.skus_include), "skus_exclude": sorted(c.skus_exclude),
            "channels": sorted(c.channels), "tiers": sorted(c.tiers),
            "segments": sorted(c.segments), "first_order_only": c.first_order_only,
            "starts_at": c.starts_at, "ends_at": c.ends_at, "weekdays": sorted(c.weekdays),
            "badges": sorted(c.badges),
        },
        "grants_badge": rule.grants_badge,
        "formula": {
            "kind": f.kind.value, "points": f.points, "per_amount_minor": f.per_amount_minor,
            "factor": f.factor, "rounding": f.rounding.value,
        },
        "limits": {
            "per_member_per_day": lim.per_member_per_day,
            "per_member_per_month": lim.per_member_per_month,
            "per_member_lifetime": lim.per_member_lifetime, "budget": lim.budget,
        },
    }


def from_document(doc: Mapping[str, Any]) -> EarningRule:
    c, f, lim = doc["conditions"], doc["formula"], doc["limits"]
    return EarningRule(
        id=doc["_id"], name=doc["name"], description=doc["description"],
        trigger=TriggerKind(doc["trigger"]), action_type=doc["action_type"],
        priority=doc["priority"], stacking=Stacking(doc["stacking"]), active=doc["active"],
        created_at=doc.get("created_at"), budget_used_up=doc.get("budget_used_up", False),
        conditions=Conditions(
            min_total=c["min_total"], currency=c["currency"],
            categories_include=frozenset(c["categories_include"]),
            categories_exclude=frozenset(c["categories_exclude"]),
            skus_include=frozenset(c["skus_include"]),
            skus_exclude=frozenset(c["skus_exclude"]),
            channels=frozenset(c["channels"]), tiers=frozenset(c["tiers"]),
            segments=frozenset(c["segments"]), first_order_only=c["first_order_only"],
            starts_at=c["starts_at"], ends_at=c["ends_at"], weekdays=frozenset(c["weekdays"]),
            badges=frozenset(c.get("badges", ())),
        ),
        grants_badge=doc.get("grants_badge"),
        formula=Formula(
            kind=FormulaKind(f["kind"]), points=f["points"],
            per_amount_minor=f["per_amount_minor"], factor=float(f["factor"]),
            rounding=Rounding(f["rounding"]),
        ),
        limits=Limits(
            per_member_per_day=lim["per_member_per_day"],
            per_member_per_month=lim["per_member_per_month"],
            per_member_lifetime=lim["per_member_lifetime"], budget=lim["budget"],
        ),
    )
