"""Names of the collections `loyalty` owns.

Document shapes (all ids are strings; times are UTC; money is integer minor units):
- members: {_id (= account id), points (Σ ledger entries), debt, lifetime_earned,
  orders_count, first_order_at, last_activity_at (the last earn or redemption)}
- ledger: immutable entries {_id, member_id, kind, points (signed), reason, source {type, id},
  actor {type, id}, occurred_at, recorded_at, breakdown [{rule_id, rule_name, points, capped}],
  lots [{lot_id, points}], available_at}
- lots: {_id, member_id, entry_id, earned, remaining, earned_at, available_at, expires_at,
  order_id, expired_at}
- orders: {_id (= the shop's order id), member_id, channel, total, currency,
  items [{sku, category, quantity, unit_price}], occurred_at, recorded_at, store_id,
  payload_hash, earned_points, entry_id, refunded_amount, reversed_points}
- earning_rules: see loyalty/earning/rules/store.py
- rule_usage: per-rule counters for limits and budgets, see loyalty/earning/rules/usage.py
- surveys: {_id, name, question, points, active, starts_at, ends_at, created_at,
  updated_at} (see loyalty/engagement/surveys.py)
- survey_responses: {_id, survey_id, member_id, score (0–10), comment, submitted_at, points,
  entry_id}; unique (member_id, survey_id): one answer per member and survey
- programme: one document {_id: "programme"} with the programme's settings, including
  the tiers [{id, name, threshold, earn_multiplier, perks}], `tiers_version` and
  `tier_policy` {metric, window, window_months, grace_days}
- members also keep `tier` {id, since, manual, review_at} and monthly qualifying buckets
  `qualifying` {"YYYY-MM": {points, spend, orders}} (see loyalty/programme/tier_rules.py), and for
  segments `last_order_at`, `spend_total` and `category_spend` {<category key>: amount}
  (see loyalty/segments/policy.py); for rewards `reward_counts` {<reward id>: vouchers held};
  the badges held `badges` {<badge id>: {earned_at, source, source_id, reason}} (see
  loyalty/badges/awards.py; the catalogue is the `badges` collection,
  loyalty/badges/catalogue.py)
- rewards: {_id, title, description, kind, amount_off, percent_off, currency, product_sku,
  image_url, cost, tier_costs [{tier_id, cost}], stock (null = unlimited), redeemed
  (vouchers held: issued and not cancelled), issued (ever), per_member_limit, min_tier_id,
  segments, early_access_until, early_access_min_tier_id, active, active_from, active_to,
  voucher_valid_days, channels, min_order_total, created_at, updated_at}
  (see loyalty/rewards/catalogue.py)
- segments: {_id, name (unique), description, conditions {last_order_within_days,
  lapsed_days, frequency {minimum, months}, monetary {minimum, months}, birthday_month,
  birthday_this_month, tiers [..], favourite_category}, created_at, updated_at}
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
REWARDS = "rewards"
GIFTS = "gifts"
"""One document per gift given, `_id` = its once-only key ("birthday:<member>:<year>",
"referral:<referee>:referrer|referee") {member_id, occasion, gift, status (GRANTED | PENDING),
entry_id, voucher_id, created_at, granted_at, details} (see loyalty/engagement/gifts.py).
Members also keep `referral_code` (unique) and `referred_by` {member_id, code, at, order_id,
rewarded_at} (see loyalty/engagement/referrals.py), and the counters of the gifting caps
`transfers_sent` / `transfers_received` {day, day_points, month, month_points} (see
loyalty/members/transfers.py)."""
GIFT_SETTINGS = "gift_settings"
"""{_id: "birthday" | "referral", …, updated_at} (see loyalty/engagement/gifts.py)."""
SEGMENTS = "segments"
STATS = "stats"
"""The programme's daily and monthly roll-ups (see loyalty/ledger/rollups.py)."""
ACCOUNTS = "accounts"
"""Owned by `auth`, which loyalty may not import: segments read only a member's `birthday`
(an ISO date) and `role` there; gifts read `role`, `name`, `created_at` and `erased_at`."""
MEMBER_ROLE = "MEMBER"
"""auth's Role.MEMBER, as stored in an account's `role`."""
LEADERBOARDS = "leaderboards"
"""Board definitions {_id, name, description, metric, challenge_id, period, places,
prizes [{from_rank, to_rank, gift}], active, created_at, updated_at} (see
loyalty/play/leaderboards.py). Members who joined keep `leaderboard` {name, key, joined_at}
(their display name; `key` unique)."""
LEADERBOARD_SCORES = "leaderboard_scores"
"""{_id, board, period, member, score, reached_at, name} (see
loyalty/play/leaderboard_scores.py)."""
LEADERBOARD_PERIODS = "leaderboard_periods"
"""Closed periods {_id: "<board>:<period>", board, period, closed_at, winners
[{rank, member_id, score, gift_key}]} (see loyalty/play/leaderboard_prizes.py)."""
