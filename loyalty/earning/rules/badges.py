"""Earning rules and badges: a rule may ask the member to hold badges (a condition) and may
grant one when it gives points on an order or action.

A rule grants its badge when it is in the event's breakdown, i.e. when it gave points: the
same test that says it applied (a rule whose limits are used up, or whose formula gives
nothing, does not apply and grants nothing). The grant is `award_badge` in the order's or
action's own transaction, so it is once-only like the points: of concurrent orders, one
grants the badge and records `badge.earned`, the others find it held.
"""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from loyalty.badges.awards import BadgeSource, award_badge
from loyalty.badges.catalogue import require_badges
from loyalty.earning.rules.model import EarningRule, Evaluation
from store import Session, Store

RULE = "RULE"


async def with_badges_checked(store: Store, rule: EarningRule) -> EarningRule:
    """The rule after checking the badges it names exist and are active (UnknownBadge with
    the input's path otherwise); one query, none when it names no badge."""
    badges = await require_badges(store, rule.conditions.badges,
                                  field=("input", "conditions", "badgeIds"))
    if rule.grants_badge is not None:
        await require_badges(store, [rule.grants_badge], field=("input", "grantsBadgeId"))
    return replace(rule, conditions=replace(rule.conditions, badges=badges))


def badges_named(rules: Iterable[EarningRule]) -> frozenset[str]:
    """Badges any of `rules` asks for or grants."""
    found: set[str] = set()
    for rule in rules:
        found |= rule.conditions.badges
        if rule.grants_badge is not None:
            found.add(rule.grants_badge)
    return frozenset(found)


async def grant_rule_badges(
    store: Store, session: Session, *, rules: Sequence[EarningRule], evaluation: Evaluation,
    member_id: str, held: Iterable[str], now: datetime,
) -> tuple[str, ...]:
    """Award the badges of the rules that gave points in `evaluation` and that the member
    does not hold yet (`held`, as the transaction read the member); the badge ids awarded.
    No command at all when no applying rule grants a badge."""
    by_id = {rule.id: rule for rule in rules}
    already = set(held)
    awarded: list[str] = []
    for award in evaluation.awards:
        rule = by_id.get(award.rule_id)
        if rule is None or rule.grants_badge is None or rule.grants_badge in already:
            continue
        already.add(rule.grants_badge)
        if await award_badge(store, session, member_id=member_id, badge_id=rule.grants_badge,
                             source=BadgeSource(RULE, rule.id), reason=rule.name, now=now):
            awarded.append(rule.grants_badge)
    return tuple(awarded)
