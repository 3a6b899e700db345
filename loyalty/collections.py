"""Names of the collections `loyalty` owns.

Document shapes (all ids are strings; times are UTC; money is integer minor units):
- members: {_id (= account id), points (Σ ledger entries), debt, lifetime_earned,
  orders_count, first_order_at}
- ledger: immutable entries {_id, member_id, kind, points (signed), reason, source {type, id},
  actor {type, id}, occurred_at, recorded_at, breakdown [{rule_id, rule_name, points, capped}],
  lots [{lot_id, points}], available_at}
- lots: {_id, member_id, entry_id, earned, remaining, earned_at, available_at, expires_at,
  order_id, expired_at}
- orders: {_id (= the shop's order id), member_id, channel, total, currency,
  items [{sku, category, quantity, unit_price}], occurred_at, recorded_at, store_id,
  payload_hash, earned_points, entry_id, refunded_amount, reversed_points}
- earning_rules: see loyalty/rules/store.py
- rule_usage: per-rule counters for limits and budgets, see loyalty/rules/usage.py
- programme: one document {_id: "programme"} with the programme's settings
"""

MEMBERS = "members"
LEDGER = "ledger"
LOTS = "lots"
ORDERS = "orders"
EARNING_RULES = "earning_rules"
RULE_USAGE = "rule_usage"
PROGRAMME = "programme"
