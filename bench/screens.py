"""What a member's app reads, shared by `home`, `me`, `scale` and `soak`: the home screen
(name, points, tier and its progress, the first ACTIVE vouchers, personal offers) and the
points screen (points summary and the first page of history)."""

VOUCHER_PAGE, OFFERS = 10, 5
HOME_QUERY = (
    "query Home { me { name "
    "points { balance pending expiringSoon { points expiresAt } } "
    "tier { current { name earnMultiplier perks } next { name } manual "
    "progress { qualifying required remaining windowEndsAt } "
    "keepBy { qualifying required remaining windowEndsAt } } "
    f"vouchers(first: {VOUCHER_PAGE}, status: ACTIVE) "
    "{ edges { node { id code title status expiresAt } } } "
    f"offers(first: {OFFERS}) {{ kind title explanation rewardId ruleId }} }} }}"
)
ME_PAGE = 20
ME_QUERY = (
    "query Me { me { name points { balance pending lifetimeEarned "
    "expiringSoon { points expiresAt } } "
    f"history(first: {ME_PAGE}) {{ edges {{ node {{ kind points reason occurredAt "
    "breakdown { ruleName points } } } pageInfo { hasNextPage endCursor } } } }"
)
