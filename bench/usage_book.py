"""The usage counters of earning-rule limits for one member, kept in memory while their
history is built: `load_usage` and `record_usage` of loyalty.earning.rules.usage, on a
dict instead of the `rule_usage` collection (the counter ids and fields are the product's,
from its own `_counters`).

Campaign budgets are counters shared by every member; bulk seeding does not model them
(bench.population refuses rules with a budget).
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from loyalty.earning.rules.model import EarningRule, RuleUsage
from loyalty.earning.rules.usage import COUNTER_RETENTION, _counters
from loyalty.ledger.entries import RuleAward


class UsageBook:
    """Counter id → its `rule_usage` document."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    def usage(
        self, rules: Iterable[EarningRule], *, member_id: str, local_date: date
    ) -> dict[str, RuleUsage]:
        """What `load_usage` would read: each limited rule's counters for that day."""
        wanted = {rule.id: _counters(rule, member_id, local_date) for rule in rules}
        return {
            rule_id: RuleUsage(**{
                name: self.documents.get(counter_id, {}).get("points", 0)
                for name, counter_id, _, _ in counters
            })
            for rule_id, counters in wanted.items()
            if counters
        }

    def record(
        self, awards: Sequence[RuleAward], rules: Iterable[EarningRule], *, member_id: str,
        local_date: date,
    ) -> None:
        """What `record_usage` upserts: each award's points on its rule's counters."""
        by_id = {rule.id: rule for rule in rules}
        for award in awards:
            rule = by_id.get(award.rule_id)
            if rule is None or award.points <= 0:
                continue
            for _, counter_id, counter_member, expiry_day in _counters(
                rule, member_id, local_date
            ):
                doc = self.documents.get(counter_id)
                if doc is None:
                    doc = {"_id": counter_id, "points": 0, "rule_id": rule.id,
                           "member_id": counter_member}
                    if expiry_day is not None:
                        doc["expires_at"] = (
                            datetime.combine(expiry_day, time(), tzinfo=UTC) + COUNTER_RETENTION
                        )
                    self.documents[counter_id] = doc
                doc["points"] += award.points
