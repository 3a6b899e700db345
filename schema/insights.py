"""The programme's figures (liability, flows, rates, forecast, members, rewards, NPS) and
what points are worth, for administrators. Definitions: docs/analytics.md."""

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Self

import strawberry
from strawberry import Info, relay

from loyalty.insights import point_values
from loyalty.insights.figures import (
    CampaignBudget,
    Day,
    Figures,
    PointFlows,
    RewardFigures,
    check_period,
    daily,
    figures,
)
from loyalty.insights.point_values import PointValue
from loyalty.money import Money
from loyalty.programme.settings import load_programme
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import IsAdmin
from schema.shared import INPUT

FROM = strawberry.argument(name="from", description="The period's first day (UTC).")
TO = strawberry.argument(description="The period's last day (UTC), at most 366 days after "
                         "`from` counting both.")


@strawberry.type(name="Money", description="An amount of money.")
class MoneyType:
    amount: int = strawberry.field(description="In minor units (cents).")
    currency: str = strawberry.field(description="ISO 4217 code.")

    @classmethod
    def of(cls, money: Money) -> Self:
        return cls(amount=money.amount, currency=money.currency)


@strawberry.type(name="PointValue", description="What points are worth in a currency.")
class PointValueType:
    currency: str = strawberry.field(description="ISO 4217 code.")
    points: int = strawberry.field(description="This many points…")
    amount: int = strawberry.field(description="…are worth this many minor units.")

    @classmethod
    def of(cls, value: PointValue) -> Self:
        return cls(currency=value.currency, points=value.points, amount=value.amount)


@strawberry.type(description="Points moved over a time, by kind of movement.")
class PointFlowStats:
    earned: int = strawberry.field(description="Earned on orders, actions, surveys, gifts.")
    redeemed: int = strawberry.field(description="Spent on rewards.")
    redemptions_cancelled: int = strawberry.field(
        description="Given back because members cancelled a reward's voucher.")
    reversed: int = strawberry.field(description="Taken back because orders were refunded.")
    expired: int = strawberry.field(description="Expired unused (breakage).")
    adjusted_in: int = strawberry.field(description="Credited by administrators.")
    adjusted_out: int = strawberry.field(description="Debited by administrators.")
    transferred: int = strawberry.field(
        description="Gifted from one member to another: moved, neither issued nor redeemed.")
    issued: int = strawberry.field(description="earned + adjustedIn.")
    imported: int = strawberry.field(
        description="Opening balances imported from a previous programme (not issued).")
    net_redeemed: int = strawberry.field(description="redeemed − redemptionsCancelled.")
    redemption_rate: float | None = strawberry.field(
        description="netRedeemed ÷ issued (null when nothing was issued).")
    breakage_rate: float | None = strawberry.field(
        description="expired ÷ issued (null when nothing was issued).")

    @classmethod
    def of(cls, flows: PointFlows) -> Self:
        return cls(
            earned=flows.earned, redeemed=flows.redeemed,
            redemptions_cancelled=flows.redemptions_cancelled, reversed=flows.reversed,
            expired=flows.expired, adjusted_in=flows.adjusted_in,
            adjusted_out=flows.adjusted_out, transferred=flows.transferred,
            issued=flows.issued, imported=flows.imported,
            net_redeemed=flows.net_redeemed, redemption_rate=flows.redemption_rate,
            breakage_rate=flows.breakage_rate,
        )


@strawberry.type(description="Points due to expire soon.")
class ExpiryForecast:
    within_days: int = strawberry.field(description="From today (UTC) through this many days.")
    points: int = strawberry.field(description="Points that expire then unless spent.")
    value: MoneyType | None = strawberry.field(description="Their value in `currency`.")


@strawberry.type(description="Members holding a tier now.")
class TierCount:
    tier_id: relay.GlobalID = strawberry.field(description="The tier.")
    name: str = strawberry.field(description="Its name (its id when it left the ladder).")
    members: int = strawberry.field(description="Members holding it now.")


@strawberry.type(description="The programme's members.")
class MemberStats:
    total: int = strawberry.field(description="Members at the end of the period.")
    new: int = strawberry.field(description="Members who joined in the period.")
    active_30_days: int = strawberry.field(
        name="active30Days", description="Members who earned or redeemed points in the last "
        "30 days (as of now).")
    active_90_days: int = strawberry.field(
        name="active90Days", description="Members who earned or redeemed points in the last "
        "90 days (as of now).")
    by_tier: list[TierCount] = strawberry.field(description="Members per tier, now.")
    without_tier: int = strawberry.field(description="Members without a tier, now (members "
                                         "now less those holding a tier).")


@strawberry.type(description="A reward's redemptions and stock.")
class RewardStats:
    reward_id: relay.GlobalID = strawberry.field(description="The reward.")
    title: str = strawberry.field(description="Its title.")
    redemptions: int = strawberry.field(
        description="Vouchers issued in the period less those cancelled.")
    stock: int | None = strawberry.field(description="Its stock (null: unlimited).")
    stock_left: int | None = strawberry.field(description="Stock not yet taken by vouchers.")

    @classmethod
    def of(cls, reward: RewardFigures) -> Self:
        return cls(reward_id=relay.GlobalID("Reward", reward.reward_id), title=reward.title,
                   redemptions=reward.redemptions, stock=reward.stock,
                   stock_left=reward.stock_left)


@strawberry.type(description="A campaign (earning rule) with a points budget.")
class CampaignBudgetStats:
    rule_id: relay.GlobalID = strawberry.field(description="The earning rule.")
    name: str = strawberry.field(description="Its name.")
    active: bool = strawberry.field(description="Whether it is switched on.")
    budget: int = strawberry.field(description="Points it may give in total.")
    spent: int = strawberry.field(description="Points it has given so far.")
    left: int = strawberry.field(description="Points it may still give.")

    @classmethod
    def of(cls, campaign: CampaignBudget) -> Self:
        return cls(rule_id=relay.GlobalID("EarningRule", campaign.rule_id), name=campaign.name,
                   active=campaign.active, budget=campaign.budget, spent=campaign.spent,
                   left=max(0, campaign.budget - campaign.spent))


@strawberry.type(description="Net Promoter Score of the survey answers.")
class NpsStats:
    score: float | None = strawberry.field(
        description="% promoters − % detractors, −100 to 100 (null without answers).")
    promoters: int = strawberry.field(description="Answers of 9 or 10.")
    passives: int = strawberry.field(description="Answers of 7 or 8.")
    detractors: int = strawberry.field(description="Answers of 0 to 6.")
    responses: int = strawberry.field(description="All answers.")

    @classmethod
    def of(cls, bands: Mapping[str, int]) -> Self:
        total = sum(bands.values())
        promoters, detractors = bands.get("promoters", 0), bands.get("detractors", 0)
        return cls(score=100 * (promoters - detractors) / total if total else None,
                   promoters=promoters, passives=bands.get("passives", 0),
                   detractors=detractors, responses=total)


@strawberry.type(description="The programme's figures for a period (docs/analytics.md).")
class ProgrammeStats:
    from_: date = strawberry.field(name="from", description="The period's first day (UTC).")
    to: date = strawberry.field(description="The period's last day (UTC).")
    points: PointFlowStats = strawberry.field(description="Points moved in the period.")
    lifetime: PointFlowStats = strawberry.field(
        description="Points moved since the programme began, through `to`.")
    points_outstanding: int = strawberry.field(
        description="Points members hold at the end of `to` (pending ones included): the "
        "programme's liability.")
    points_outstanding_value: MoneyType | None = strawberry.field(
        description="The liability in `currency` at its point value (null without one).")
    point_value: PointValueType | None = strawberry.field(
        description="The point value used (null without `currency`).")
    debt: int = strawberry.field(
        description="Points members owe back (refunds of points already spent), at the end.")
    expiry_forecast: list[ExpiryForecast] = strawberry.field(
        description="Points due to expire in the next 30, 60 and 90 days.")
    members: MemberStats = strawberry.field(description="Members.")
    rewards: list[RewardStats] = strawberry.field(
        description="The ten most redeemed rewards of the period, then every reward with a "
        "stock, least left first.")
    campaigns: list[CampaignBudgetStats] = strawberry.field(
        description="Earning rules with a budget, active first.")
    nps: NpsStats = strawberry.field(description="Survey answers given in the period.")


@strawberry.type(description="Result of programmeStats.")
class ProgrammeStatsResult:
    stats: ProgrammeStats | None = strawberry.field(default=None, description="The figures.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="One day of the programme's figures.")
class ProgrammeStatsDay:
    on: date = strawberry.field(name="date", description="The day (UTC).")
    points: PointFlowStats = strawberry.field(description="Points moved that day.")
    points_outstanding: int = strawberry.field(description="Points held at the day's end.")
    new_members: int = strawberry.field(description="Members who joined that day.")
    nps: NpsStats = strawberry.field(description="Survey answers given that day.")

    @classmethod
    def of(cls, day: Day) -> Self:
        return cls(on=day.on, points=PointFlowStats.of(day.flows),
                   points_outstanding=day.outstanding, new_members=day.joined,
                   nps=NpsStats.of(day.nps))


@strawberry.type(description="Result of programmeStatsDaily.")
class ProgrammeStatsDailyResult:
    days: list[ProgrammeStatsDay] = strawberry.field(
        default_factory=list, description="Every day of the period, in order.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="What points are worth in a currency.")
class ProgrammePointValueSetInput:
    currency: str = strawberry.field(description="ISO 4217 code.")
    points: int = strawberry.field(default=100, description="This many points (1–1,000,000)…")
    amount: int | None = strawberry.field(
        description="…are worth this many minor units; null removes the currency's value.")


@strawberry.type(description="Result of programmePointValueSet.")
class ProgrammePointValueSetPayload:
    point_values: list[PointValueType] = strawberry.field(
        default_factory=list, description="Every currency's point value now.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


async def _stats(info: Info[Context, None], start: date, end: date, currency: str | None) -> (
    ProgrammeStats
):
    store = info.context.store
    check_period(start, end, field=())
    value = (await point_values.point_value(store, currency, field=("currency",))
             if currency is not None else None)
    found = await figures(store, start=start, end=end, now=info.context.services.clock())
    tiers = {tier.id: tier.name for tier in (await load_programme(store)).tiers}
    # Every tier of the ladder, with none holding it, then any that left the ladder.
    return _programme_stats(found, value, tiers)


def _programme_stats(found: Figures, value: PointValue | None, tiers: Mapping[str, str]) -> (
    ProgrammeStats
):
    def money(points: int) -> MoneyType | None:
        return MoneyType.of(value.of(points)) if value is not None else None

    by_tier = {tier: found.members_by_tier.get(tier, 0) for tier in tiers}
    by_tier |= {tier: n for tier, n in found.members_by_tier.items() if tier not in tiers}
    return ProgrammeStats(
        from_=found.start, to=found.end, points=PointFlowStats.of(found.flows),
        lifetime=PointFlowStats.of(found.lifetime), points_outstanding=found.outstanding,
        points_outstanding_value=money(found.outstanding),
        point_value=PointValueType.of(value) if value is not None else None, debt=found.debt,
        expiry_forecast=[ExpiryForecast(within_days=days, points=points, value=money(points))
                         for days, points in sorted(found.expiring.items())],
        members=MemberStats(
            total=found.members_total, new=found.members_new,
            active_30_days=found.members_active[30], active_90_days=found.members_active[90],
            by_tier=[TierCount(tier_id=relay.GlobalID("Tier", tier), name=tiers.get(tier, tier),
                               members=count) for tier, count in by_tier.items()],
            without_tier=found.members_now - sum(by_tier.values()),
        ),
        rewards=[RewardStats.of(reward) for reward in found.rewards],
        campaigns=[CampaignBudgetStats.of(campaign) for campaign in found.campaigns],
        nps=NpsStats.of(found.nps),
    )


@strawberry.type
class InsightQueries:
    @strawberry.field(description="The programme's figures for a period: liability, points "
                      "moved, redemption and breakage rates, expiry forecast, members, "
                      "rewards, campaigns and NPS (docs/analytics.md). A handful of reads "
                      "whatever the number of members.", permission_classes=[IsAdmin])
    @returns_errors_in(ProgrammeStatsResult)
    async def programme_stats(
        self, info: Info[Context, None], from_: Annotated[date, FROM],
        to: Annotated[date, TO],
        currency: Annotated[str | None, strawberry.argument(
            description="Also give money figures in this ISO 4217 currency, at its point "
            "value (programmePointValueSet).")] = None,
    ) -> ProgrammeStatsResult:
        return ProgrammeStatsResult(stats=await _stats(info, from_, to, currency))

    @strawberry.field(description="The programme's figures day by day, for charts.",
                      permission_classes=[IsAdmin])
    @returns_errors_in(ProgrammeStatsDailyResult)
    async def programme_stats_daily(
        self, info: Info[Context, None], from_: Annotated[date, FROM],
        to: Annotated[date, TO],
    ) -> ProgrammeStatsDailyResult:
        check_period(from_, to, field=())
        found = await daily(info.context.store, start=from_, end=to)
        return ProgrammeStatsDailyResult(days=[ProgrammeStatsDay.of(day) for day in found])

    @strawberry.field(description="What points are worth, per currency.",
                      permission_classes=[IsAdmin])
    async def point_values(self, info: Info[Context, None]) -> list[PointValueType]:
        return [PointValueType.of(v) for v in await point_values.point_values(info.context.store)]


@strawberry.type
class InsightMutations:
    @strawberry.mutation(description="Set what points are worth in a currency (the "
                         "liability's money value), or remove it.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(ProgrammePointValueSetPayload)
    async def programme_point_value_set(
        self, info: Info[Context, None], input: Annotated[ProgrammePointValueSetInput, INPUT]
    ) -> ProgrammePointValueSetPayload:
        store = info.context.store
        await point_values.set_point_value(store, currency=input.currency, points=input.points,
                                           amount=input.amount,
                                           clock=info.context.services.clock,
                                           audit=info.context.audit)
        return ProgrammePointValueSetPayload(
            point_values=[PointValueType.of(v) for v in await point_values.point_values(store)])
