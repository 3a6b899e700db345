"""The programme's set-up, written as an administrator would through GraphQL: settings,
stores and their staff, tiers, rewards, earning rules and campaigns, segments, a survey,
the birthday and referral gifts, and the shop system's API key."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from api.demo.catalogue import (
    CURRENCY,
    EMAIL_DOMAIN,
    MUTATIONS,
    SHOPS,
    TIERS,
    TIMEZONE,
)
from api.demo.client import DemoClient, DemoFailure


@dataclass(frozen=True, slots=True)
class StaffMember:
    name: str
    email: str
    store_code: str
    store_name: str
    manager: bool


@dataclass(frozen=True, slots=True)
class Reward:
    id: str
    title: str
    cost: int
    min_tier: str | None


@dataclass(frozen=True, slots=True)
class Programme:
    staff: tuple[StaffMember, ...]
    rewards: tuple[Reward, ...]
    survey_id: str
    shop_key: str
    """The shop system's API key (ORDERS_WRITE): tills and the web shop record orders."""


async def create(client: DemoClient, field: str, input: dict[str, Any], *, token: str) -> (
    dict[str, Any]
):
    payload = await client.payload(field, MUTATIONS[field], input, token=token)
    if payload is None:  # no expected refusal was given
        raise DemoFailure(f"{field} refused")
    return payload


def staff_email(name: str) -> str:
    ascii_name = name.lower().translate(str.maketrans("éèàç", "eeac")).replace(" ", ".")
    return f"{ascii_name}@{EMAIL_DOMAIN}"


async def set_up(client: DemoClient, *, token: str, staff_password: str, now: datetime,
                 live_until: datetime) -> Programme:
    """Create the programme at `now` (a year ago); its current campaign runs until
    `live_until` (after the demo's end, so it is live when you look)."""
    async def made(field: str, input: dict[str, Any]) -> dict[str, Any]:
        return await create(client, field, input, token=token)

    await made("programmeUpdate", {"timezone": TIMEZONE, "pointsExpiry": "MONTHS_AFTER_EARNING",
                                   "expiryMonths": 6})
    staff: list[StaffMember] = []
    for shop in SHOPS:
        created = (await made("storeCreate", {"code": shop.code, "name": shop.name,
                                              "timezone": TIMEZONE}))["store"]
        for name, manager in ((shop.manager, True), (shop.clerk, False)):
            await made("staffCreate", {"email": staff_email(name), "password": staff_password,
                                       "name": name, "store": created["id"],
                                       "manager": manager})
            staff.append(StaffMember(name, staff_email(name), shop.code, shop.name, manager))
    tier_ids: dict[str, str] = {}
    for name, threshold, multiplier, perks in TIERS:
        tier = (await made("tierCreate", {"name": name, "threshold": threshold,
                                          "earnMultiplier": multiplier, "perks": perks}))["tier"]
        tier_ids[name] = tier["id"]
    rewards = tuple([await _reward(made, plan, tier_ids) for plan in _REWARDS])
    for rule in _rules(now, live_until):
        await made("earningRuleCreate", rule)
    for segment in _SEGMENTS:
        await made("segmentCreate", segment)
    survey = (await made("surveyCreate", {
        "name": "How was your visit?", "points": 25,
        "question": "How likely are you to recommend Kizuna Coffee to a friend?"}))["survey"]
    await made("birthdayGiftSet", {"gift": {"voucher": {
        "kind": "FREE_PRODUCT", "title": "A birthday cake on us", "productSku": "CHEESECAKE",
        "validDays": 30}}, "daysBefore": 0})
    await made("referralRewardSet", {"referrer": {"points": 200}, "referee": {"points": 100}})
    key = await made("apiKeyCreate", {"name": "Tills and web shop", "scopes": ["ORDERS_WRITE"]})
    return Programme(staff=tuple(staff), rewards=rewards, survey_id=survey["id"],
                     shop_key=key["secret"])


# (title, description, kind, value fields, cost, stock, min tier)
_REWARDS: tuple[tuple[str, str, str, dict[str, Any], int, int | None, str | None], ...] = (
    ("A coffee on us", "Any espresso-based drink, any size.", "FREE_PRODUCT",
     {"productSku": "CAPPUCCINO"}, 300, None, None),
    ("€5 off", "€5 off an order of €15 or more.", "AMOUNT_OFF",
     {"amountOff": 500, "currency": CURRENCY, "minOrderTotal": 1500}, 600, None, None),
    ("Kizuna mug", "Our stoneware mug, while stocks last.", "FREE_PRODUCT",
     {"productSku": "MUG"}, 1200, 60, None),
    ("10% off beans", "10% off coffee beans, for Silver and Gold.", "PERCENT_OFF",
     {"percentOff": 10}, 900, None, "Silver"),
    ("Barista workshop", "Two hours behind the bar with our head barista.", "EXPERIENCE",
     {}, 3000, 12, "Gold"),
)


async def _reward(made: Any, plan: tuple[str, str, str, dict[str, Any], int, int | None,
                                         str | None], tier_ids: dict[str, str]) -> Reward:
    title, description, kind, values, cost, stock, min_tier = plan
    reward = (await made("rewardCreate", {
        "title": title, "description": description, "kind": kind, **values, "cost": cost,
        "stock": stock, "minTierId": tier_ids[min_tier] if min_tier else None,
        "voucherValidDays": 60}))["reward"]
    return Reward(id=reward["id"], title=title, cost=cost, min_tier=min_tier)


def _rules(now: datetime, live_until: datetime) -> list[dict[str, Any]]:
    summer = now + timedelta(days=200)
    return [
        {"name": "Points on everything", "description": "1 point per euro spent.",
         "trigger": "ORDER", "conditions": {"currency": CURRENCY},
         "formula": {"kind": "PER_CURRENCY_UNIT", "points": 1, "perAmountMinor": 100}},
        {"name": "Welcome bonus", "description": "100 points on your first order.",
         "trigger": "ORDER", "conditions": {"firstOrderOnly": True},
         "formula": {"kind": "FIXED", "points": 100}},
        {"name": "Beans bonus", "description": "25 extra points with a bag of beans.",
         "trigger": "ORDER", "conditions": {"categoriesInclude": ["coffee-beans"]},
         "formula": {"kind": "FIXED", "points": 25}},
        {"name": "Summer double points", "description": "Double points for two summer weeks.",
         "trigger": "ORDER", "priority": 10,
         "conditions": {"startsAt": summer.isoformat(),
                        "endsAt": (summer + timedelta(days=14)).isoformat()},
         "formula": {"kind": "MULTIPLIER", "factor": 2.0}},
        {"name": "Winter warmers: double points",
         "description": "Double points on every order until the end of the campaign.",
         "trigger": "ORDER", "priority": 10,
         "conditions": {"startsAt": (live_until - timedelta(days=30)).isoformat(),
                        "endsAt": live_until.isoformat()},
         "formula": {"kind": "MULTIPLIER", "factor": 2.0}, "limits": {"budget": 60_000}},
    ]


_SEGMENTS = (
    {"name": "LAPSED", "description": "No order for three months.",
     "conditions": {"lapsedDays": 90}},
    {"name": "REGULARS", "description": "Six orders or more in the last three months.",
     "conditions": {"frequency": {"minimum": 6, "months": 3}}},
    {"name": "BIG_SPENDERS", "description": "€150 or more in the last twelve months.",
     "conditions": {"monetary": {"minimum": 15_000, "months": 12}}},
    {"name": "BEAN_LOVERS", "description": "Coffee beans are what they buy most.",
     "conditions": {"favouriteCategory": "coffee-beans"}},
    {"name": "BIRTHDAY_THIS_MONTH", "description": "Their birthday is this month.",
     "conditions": {"birthdayThisMonth": True}},
)
