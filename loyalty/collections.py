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
- surveys: {_id, name, question, points, active, starts_at, ends_at, created_at,
  updated_at} (see loyalty/surveys.py)
- survey_responses: {_id, survey_id, member_id, score (0–10), comment, submitted_at, points,
  entry_id}; unique (member_id, survey_id): one answer per member and survey
- programme: one document {_id: "programme"} with the programme's settings, including
  the tiers [{id, name, threshold, earn_multiplier, perks}], `tiers_version` and
  `tier_policy` {metric, window, window_months, grace_days}
- members also keep `tier` {id, since, manual, review_at} and monthly qualifying buckets
  `qualifying` {"YYYY-MM": {points, spend}} (see loyalty/tiers.py)
"""

MEMBERS = "members"
LEDGER = "ledger"
LOTS = "lots"
ORDERS = "orders"
EARNING_RULES = "earning_rules"
RULE_USAGE = "rule_usage"
PROGRAMME = "programme"
SURVEYS = "surveys"
SURVEY_RESPONSES = "survey_responses"
