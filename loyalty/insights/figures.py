"""The programme's figures for a period, from the roll-ups (loyalty/ledger/rollups.py): a
handful of reads whatever the number of members. Definitions: docs/analytics.md.

Days are UTC days. Flows (points earned, redeemed, …) and new members are the period's;
points outstanding and members in total are as at the end of the period's last day;
active members, members by tier and the expiry forecast are as of now.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from loyalty.collections import EARNING_RULES, REWARDS, STATS
from loyalty.earning.rules.usage import budgets_spent
from loyalty.errors import InvalidPeriod, PeriodTooLong
from loyalty.ledger.rollups import NPS_BANDS, day_period, flatten, month_period, utc_day
from store import Store

MAX_DAYS = 366
"""The longest period asked at once (a daily series of a year, leap or not)."""

FORECAST_DAYS = (30, 60, 90)
ACTIVE_DAYS = (30, 90)
TOP_REWARDS = 10


@dataclass(frozen=True, slots=True)
class PointFlows:
    """Points moved over a time, by kind of movement."""

    earned: int = 0
    redeemed: int = 0
    redemptions_cancelled: int = 0
    """Points given back when a member cancelled a reward's voucher."""
    reversed: int = 0
    """Points taken back when orders were refunded."""
    expired: int = 0
    adjusted_in: int = 0
    adjusted_out: int = 0
    transferred: int = 0
    """Points members gave each other: liability moved from one member to another,
    neither issued nor redeemed."""
    imported: int = 0
    """Opening balances brought over by `kizuna import balances`: a liability taken over
    from the previous programme, not points issued (docs/analytics.md)."""

    @classmethod
    def of(cls, counters: Mapping[str, int]) -> "PointFlows":
        return cls(
            earned=counters.get("in.EARN", 0), redeemed=counters.get("out.REDEEM", 0),
            redemptions_cancelled=counters.get("in.REVERSAL", 0),
            reversed=counters.get("out.REVERSAL", 0), expired=counters.get("out.EXPIRE", 0),
            adjusted_in=counters.get("in.ADJUST", 0), adjusted_out=counters.get("out.ADJUST", 0),
            transferred=counters.get("out.TRANSFER_OUT", 0),
            imported=counters.get("in.IMPORT", 0),
        )

    @property
    def issued(self) -> int:
        """Points given to members: earned plus credited by administrators."""
        return self.earned + self.adjusted_in

    @property
    def net_redeemed(self) -> int:
        return self.redeemed - self.redemptions_cancelled

    @property
    def redemption_rate(self) -> float | None:
        """Net redeemed ÷ issued; None when nothing was issued."""
        return self.net_redeemed / self.issued if self.issued else None

    @property
    def breakage_rate(self) -> float | None:
        """Expired ÷ issued; None when nothing was issued."""
        return self.expired / self.issued if self.issued else None


@dataclass(frozen=True, slots=True)
class Day:
    """One day of the daily series."""

    on: date
    flows: PointFlows
    outstanding: int
    """Points in members' open lots at the end of the day."""
    joined: int
    nps: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class RewardFigures:
    reward_id: str
    title: str
    redemptions: int
    """Vouchers issued in the period, less those cancelled."""
    stock: int | None
    """None: unlimited."""
    held: int
    """Vouchers issued and not cancelled, ever (what the stock is spent on)."""

    @property
    def stock_left(self) -> int | None:
        return None if self.stock is None else max(0, self.stock - self.held)


@dataclass(frozen=True, slots=True)
class CampaignBudget:
    rule_id: str
    name: str
    active: bool
    budget: int
    spent: int


@dataclass(frozen=True, slots=True)
class Figures:
    start: date
    end: date
    flows: PointFlows
    lifetime: PointFlows
    """Every movement up to the end of the period."""
    outstanding: int
    """Points members hold in open lots at the end of the period: the liability."""
    debt: int
    """Points members owe back (refunds of points already spent), at the end."""
    expiring: Mapping[int, int]
    """Points due to expire within the next N days (from today), by N."""
    members_total: int
    """Members at the end of the period."""
    members_now: int
    """Members now (what members by tier are counted against)."""
    members_new: int
    members_active: Mapping[int, int]
    """Members who earned or redeemed in the last N days, by N."""
    members_by_tier: Mapping[str, int]
    rewards: tuple[RewardFigures, ...]
    """The top redeemed in the period first, then rewards with a stock."""
    campaigns: tuple[CampaignBudget, ...]
    nps: Mapping[str, int]
    days: tuple[Day, ...]


def check_period(start: date, end: date, *, field: tuple[str, ...] = ("input",)) -> None:
    """Raises InvalidPeriod (`end` before `start`) or PeriodTooLong (over MAX_DAYS days)."""
    if end < start:
        raise InvalidPeriod("The period ends before it starts: `to` must be on or after "
                            "`from`.", field=(*field, "to"))
    if (end - start).days + 1 > MAX_DAYS:
        raise PeriodTooLong(f"Ask for at most {MAX_DAYS} days at once.", field=(*field, "to"))


async def figures(store: Store, *, start: date, end: date, now: datetime) -> Figures:
    """The figures of the days `start` to `end` (inclusive, UTC). Raises InvalidPeriod or
    PeriodTooLong."""
    check_period(start, end)
    today = utc_day(now)
    months, days, opening = await _books_through(store, start, end)
    around = await _periods(store, day_period(today - timedelta(days=max(ACTIVE_DAYS) - 1)),
                            day_period(today + timedelta(days=max(FORECAST_DAYS) - 1)))
    in_period = _sum(c for p, c in days.items() if p >= day_period(start))
    through_end = _sum((opening, in_period))  # (Counter + would drop negative counts)
    series = _series(days, start, end, opening)
    rewards = await _rewards(store, in_period)
    return Figures(
        start=start, end=end, flows=PointFlows.of(in_period),
        lifetime=PointFlows.of(through_end), outstanding=through_end["lots"],
        debt=through_end["debt"],
        expiring={n: _window(around, "expiring", today, today + timedelta(days=n - 1))
                  for n in FORECAST_DAYS},
        members_total=through_end["joined"],
        members_now=_sum(months.values())["joined"], members_new=in_period["joined"],
        members_active={n: _window(around, "active", today - timedelta(days=n - 1), today)
                        for n in ACTIVE_DAYS},
        members_by_tier=_prefixed(_sum(months.values()), "tiers."),
        rewards=rewards, campaigns=tuple(await _campaigns(store)),
        nps={band: in_period[f"nps.{band}"] for band in NPS_BANDS}, days=series,
    )


async def daily(store: Store, *, start: date, end: date) -> tuple[Day, ...]:
    """The days `start` to `end` (inclusive, UTC) one by one: two reads. Raises
    InvalidPeriod or PeriodTooLong."""
    check_period(start, end)
    _, days, opening = await _books_through(store, start, end)
    return _series(days, start, end, opening)


async def _books_through(store: Store, start: date, end: date) -> (
    tuple[dict[str, Counter[str]], dict[str, Counter[str]], Counter[str]]
):
    """Every month's roll-ups, the days from the first of `start`'s month to `end`, and
    the sum of everything before `start`."""
    first_month = start.replace(day=1)
    months = await _periods(store, "m:", "m:~")
    days = await _periods(store, day_period(first_month), day_period(end))
    opening = _sum(c for p, c in months.items() if p < month_period(first_month))
    opening.update(_sum(c for p, c in days.items() if p < day_period(start)))
    return months, days, opening


async def _periods(store: Store, first: str, last: str) -> dict[str, Counter[str]]:
    """The roll-ups of the periods `first` to `last`, their shards summed: one query."""
    found: dict[str, Counter[str]] = {}
    async for doc in store.collection(STATS).find({"_id": {"$gte": first,
                                                           "$lte": last + "#~"}}):
        found.setdefault(doc["period"], Counter()).update(dict(flatten(doc)))
    return found


def _sum(counters: Iterable[Counter[str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total


def _prefixed(counters: Mapping[str, int], prefix: str) -> dict[str, int]:
    return {name.removeprefix(prefix): value for name, value in sorted(counters.items())
            if name.startswith(prefix) and value}


def _window(periods: Mapping[str, Counter[str]], counter: str, first: date, last: date) -> int:
    return sum(c[counter] for p, c in periods.items() if day_period(first) <= p
               <= day_period(last))


def _series(days: Mapping[str, Counter[str]], start: date, end: date, opening: Counter[str]) -> (
    tuple[Day, ...]
):
    """One entry per day, with the outstanding points running on from `opening`."""
    outstanding = opening["lots"]
    series = []
    on = start
    while on <= end:
        counters = days.get(day_period(on), Counter())
        outstanding += counters["lots"]
        series.append(Day(on=on, flows=PointFlows.of(counters), outstanding=outstanding,
                          joined=counters["joined"],
                          nps={band: counters[f"nps.{band}"] for band in NPS_BANDS}))
        on += timedelta(days=1)
    return tuple(series)


async def _rewards(store: Store, period: Mapping[str, int]) -> tuple[RewardFigures, ...]:
    redemptions = _prefixed(period, "rewards.")
    top = sorted((r for r, n in redemptions.items() if n > 0),
                 key=lambda r: (-redemptions[r], r))[:TOP_REWARDS]
    cursor = store.collection(REWARDS).find(
        {"$or": [{"_id": {"$in": top}}, {"stock": {"$ne": None}}]},
        {"title": 1, "stock": 1, "redeemed": 1},
    )
    found = {doc["_id"]: RewardFigures(
        reward_id=doc["_id"], title=doc["title"], redemptions=redemptions.get(doc["_id"], 0),
        stock=doc.get("stock"), held=doc.get("redeemed", 0)) async for doc in cursor}
    ranked = [found[r] for r in top if r in found]
    stocked = sorted((f for r, f in found.items() if r not in top),
                     key=lambda f: (f.stock_left or 0, f.title))
    return tuple(ranked + stocked)


async def _campaigns(store: Store) -> list[CampaignBudget]:
    """Earning rules with a budget, with what they have given so far."""
    rules = [doc async for doc in store.collection(EARNING_RULES).find(
        {"limits.budget": {"$ne": None}}, {"name": 1, "active": 1, "limits.budget": 1})]
    spent = await budgets_spent(store, [doc["_id"] for doc in rules])
    return sorted((CampaignBudget(rule_id=doc["_id"], name=doc["name"],
                                  active=bool(doc.get("active")),
                                  budget=doc["limits"]["budget"],
                                  spent=spent.get(doc["_id"], 0)) for doc in rules),
                  key=lambda c: (not c.active, c.name))
