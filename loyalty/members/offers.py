"""Personal offers: the rewards and campaigns most worth a member's attention, each with a
one-line reason, ranked by a deterministic score from their own data.

What raises an offer (highest first):
- a reward they can get now with points that expire within 30 days ("use them before …");
- a campaign that gives extra points in their favourite category;
- a reward they can get now;
- a reward they can almost afford (at most a quarter of its cost missing);
- any other limited-time campaign that applies to every order.
Ties go to the cheaper reward, then to the id, so the same data always gives the same list.

Those are personal: they come from the member's purchases (favourite category) and points
(balance, what expires), so a member sees them only with the PERSONALISATION consent.
Without it, `general_offers` gives the list every member gets alike, from nothing about
them: the limited-time campaigns that apply to every order, then the rewards open to every
member (no tier, segment or tier-priced cost), cheapest first.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from loyalty import member_dates
from loyalty.earning.rules.model import EarningRule, FormulaKind, TriggerKind
from loyalty.ledger.lots import OpenLot, spendable_points
from loyalty.rewards.policy import Reward, RewardView
from loyalty.segments.policy import category_key

EXPIRING_WITHIN = timedelta(days=30)
ALMOST_AFFORDABLE = 0.25
MAX_OFFERS = 20


class OfferKind(StrEnum):
    REWARD = "REWARD"
    CAMPAIGN = "CAMPAIGN"


@dataclass(frozen=True, slots=True)
class Offer:
    kind: OfferKind
    title: str
    explanation: str
    score: int
    reward_id: str | None = None
    rule_id: str | None = None


def _reward_offer(
    view: RewardView, *, expiring: int, expiring_at: datetime | None, timezone: ZoneInfo
) -> Offer | None:
    reward = view.reward
    title = reward.draft.title
    if not view.eligible:
        return None
    if view.affordable and expiring_at is not None and view.cost <= expiring:
        expiry = member_dates.local_day(expiring_at, timezone)
        return Offer(OfferKind.REWARD, title,
                     f"Use {view.cost} of your {expiring} points that expire on {expiry}.", 400,
                     reward_id=reward.id)
    if view.affordable:
        return Offer(OfferKind.REWARD, title,
                     f"You have enough points: it costs {view.cost}.", 300, reward_id=reward.id)
    if view.cost and view.shortfall <= view.cost * ALMOST_AFFORDABLE:
        closeness = 100 - view.shortfall * 100 // view.cost
        return Offer(OfferKind.REWARD, title,
                     f"Only {view.shortfall} more points to get it.", 100 + closeness,
                     reward_id=reward.id)
    return None


def _campaign_offer(
    rule: EarningRule, *, favourites: frozenset[str], now: datetime, timezone: ZoneInfo
) -> Offer | None:
    conditions = rule.conditions
    if rule.trigger is not TriggerKind.ORDER or not rule.active or rule.budget_used_up:
        return None
    if (conditions.starts_at and conditions.starts_at > now) or (
        conditions.ends_at and conditions.ends_at <= now
    ):
        return None
    # The same last day as the rule's `howToEarn`: an exclusive end, in the programme's zone.
    until = (f" until {member_dates.ends(conditions.ends_at, timezone)}"
             if conditions.ends_at else "")
    liked = sorted(c for c in conditions.categories_include if category_key(c) in favourites)
    if liked:
        return Offer(OfferKind.CAMPAIGN, rule.name,
                     f"{rule.description or rule.name} — on {liked[0]}, your favourite "
                     f"category{until}.", 350, rule_id=rule.id)
    limited = conditions.ends_at is not None or rule.formula.kind is FormulaKind.MULTIPLIER
    if limited and not conditions.categories_include and not (
        conditions.tiers or conditions.segments
    ):
        return Offer(OfferKind.CAMPAIGN, rule.name, f"{rule.description or rule.name}{until}.",
                     90, rule_id=rule.id)
    return None


def rank_offers(
    views: Sequence[RewardView], rules: Sequence[EarningRule], *, lots: Sequence[OpenLot],
    favourites: frozenset[str], now: datetime, limit: int, timezone: ZoneInfo,
) -> list[Offer]:
    """The member's best offers, at most `limit`; dates in the explanations are in
    `timezone` (the programme's) and say so."""
    soon = [lot for lot in lots if lot.expires_at is not None
            and lot.expires_at <= now + EXPIRING_WITHIN and lot.available_at <= now]
    expiring = sum(lot.remaining for lot in soon)
    expiring_at = min((lot.expires_at for lot in soon if lot.expires_at), default=None)
    offers = [
        offer for view in views
        if (offer := _reward_offer(view, expiring=min(expiring, spendable_points(lots, now)),
                                   expiring_at=expiring_at, timezone=timezone)) is not None
    ] + [
        offer for rule in rules
        if (offer := _campaign_offer(rule, favourites=favourites, now=now,
                                     timezone=timezone)) is not None
    ]
    costs = {view.reward.id: view.cost for view in views}
    offers.sort(key=lambda o: (-o.score, costs.get(o.reward_id or "", 0),
                               o.reward_id or o.rule_id or ""))
    return offers[:limit]


GENERAL_REWARD_SCORE = 50


def general_offers(
    rewards: Sequence[Reward], rules: Sequence[EarningRule], *, now: datetime, limit: int,
    timezone: ZoneInfo,
) -> list[Offer]:
    """The offers for a member who did not consent to personalisation: the same for every
    member, whatever their history (see the module's docstring), at most `limit`."""
    campaigns = [offer for rule in rules
                 if (offer := _campaign_offer(rule, favourites=frozenset(), now=now,
                                              timezone=timezone)) is not None]
    open_to_all = sorted((r for r in rewards if not r.draft.uses_tiers and not r.draft.segments),
                         key=lambda r: (r.draft.cost, r.id))
    offers = [Offer(OfferKind.REWARD, r.draft.title,
                    f"Open to every member, for {r.draft.cost} points.", GENERAL_REWARD_SCORE,
                    reward_id=r.id) for r in open_to_all]
    campaigns.sort(key=lambda o: o.rule_id or "")
    return (campaigns + offers)[:limit]
