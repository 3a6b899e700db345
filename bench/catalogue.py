"""The programme a member's home screen shows, set up through the API by an administrator:
a ladder of three tiers, three segments and a catalogue of thirty rewards.

- Tiers (`tierCreate`; qualifying points earned in a rolling 12 months): Silver 500 ×1.25,
  Gold 2,000 ×1.5, Platinum 5,000 ×2. Tiers of the same name already there are reused.
- Segments (`segmentCreate`): BIG_SPENDERS (€500 spent in 12 months), BIRTHDAY_MONTH (born
  this month), SHOE_LOVERS (favourite category `shoes`). A name already taken is reused.
- Rewards (`rewardCreate`): costs from 100 to 20,000 points, so every member has some they
  can afford, some almost and most far off; three have tier prices (Gold, Platinum), two a
  minimum tier, three are limited to a segment; all have a stock. The three cheapest are
  the ones members redeem while seeding (`CHEAP_REWARDS`).
"""

from dataclasses import dataclass
from typing import Any

import httpx

from bench.graphql import BenchError, GraphQLRequest, execute

TIERS = (
    ("Silver", 500, 1.25, "Free shipping on every order"),
    ("Gold", 2000, 1.5, "Free shipping, early access to sales"),
    ("Platinum", 5000, 2.0, "Free shipping, early access, a personal shopper"),
)
BIG_SPENDERS, BIRTHDAY_MONTH, SHOE_LOVERS = "BIG_SPENDERS", "BIRTHDAY_MONTH", "SHOE_LOVERS"
SEGMENTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        BIG_SPENDERS,
        "Spent €500 or more in the last 12 months",
        {"monetary": {"minimum": 50_000, "months": 12}},
    ),
    (BIRTHDAY_MONTH, "Born this month", {"birthdayThisMonth": True}),
    (SHOE_LOVERS, "Spend most on shoes", {"favouriteCategory": "shoes"}),
)
# title, cost, kind, amount off (minor units) / percent off / product SKU
REWARDS: tuple[tuple[str, int, str, int | str | None], ...] = (
    ("Free coffee", 100, "FREE_PRODUCT", "COFFEE"),
    ("Free shipping", 150, "FREE_SHIPPING", None),
    ("€2 off", 200, "AMOUNT_OFF", 200),
    ("€3 off", 250, "AMOUNT_OFF", 300),
    ("Free socks", 300, "FREE_PRODUCT", "SOCKS-3"),
    ("5% off", 400, "PERCENT_OFF", 5),
    ("€5 off", 500, "AMOUNT_OFF", 500),
    ("Canvas tote bag", 600, "FREE_PRODUCT", "TOTE-1"),
    ("€7 off", 750, "AMOUNT_OFF", 700),
    ("€10 off", 900, "AMOUNT_OFF", 1000),
    ("10% off", 1000, "PERCENT_OFF", 10),
    ("Birthday treat: €12 off", 1200, "AMOUNT_OFF", 1200),
    ("Shoe care kit", 1400, "FREE_PRODUCT", "SHOE-CARE"),
    ("€15 off", 1600, "AMOUNT_OFF", 1500),
    ("Leather wallet", 1800, "FREE_PRODUCT", "WALLET-1"),
    ("€20 off", 2000, "AMOUNT_OFF", 2000),
    ("15% off", 2250, "PERCENT_OFF", 15),
    ("€25 off", 2500, "AMOUNT_OFF", 2500),
    ("Members' lounge pass", 3000, "FREE_PRODUCT", "LOUNGE"),
    ("€35 off", 3500, "AMOUNT_OFF", 3500),
    ("Big spender: €50 off", 4000, "AMOUNT_OFF", 5000),
    ("20% off", 4500, "PERCENT_OFF", 20),
    ("€50 off", 5000, "AMOUNT_OFF", 5000),
    ("Weekend bag", 6000, "FREE_PRODUCT", "BAG-WKND"),
    ("Private shopping evening", 7500, "FREE_PRODUCT", "PRIVATE-EVE"),
    ("€100 off", 9000, "AMOUNT_OFF", 10000),
    ("Sneakers of your choice", 10000, "FREE_PRODUCT", "SNEAKER-ANY"),
    ("Winter coat", 12500, "FREE_PRODUCT", "COAT-W"),
    ("30% off", 15000, "PERCENT_OFF", 30),
    ("Weekend for two", 20000, "FREE_PRODUCT", "TRIP-2"),
)
TIER_PRICES = {"€10 off": (800, 700), "€20 off": (1800, 1600), "€50 off": (4500, 4000)}
MIN_TIER = {"Members' lounge pass": "Gold", "Private shopping evening": "Platinum"}
SEGMENT_ONLY = {
    "Birthday treat: €12 off": BIRTHDAY_MONTH,
    "Big spender: €50 off": BIG_SPENDERS,
    "Shoe care kit": SHOE_LOVERS,
}
SMALL_STOCK = frozenset({"Members' lounge pass", "Private shopping evening", "Weekend for two"})
CHEAP_REWARDS = ("Free coffee", "Free shipping", "€2 off")

TIERS_QUERY = "query Tiers { tiers { id name threshold } }"
TIER_CREATE = """mutation Tier($input: TierCreateInput!) {
  tierCreate(input: $input) { tier { id name } errors { code message field } } }"""
SEGMENT_CREATE = """mutation Segment($input: SegmentCreateInput!) {
  segmentCreate(input: $input) { segment { id name } errors { code message field } } }"""
REWARD_CREATE = """mutation Reward($input: RewardCreateInput!) {
  rewardCreate(input: $input) { reward { id title cost } errors { code message field } } }"""


@dataclass(frozen=True, slots=True)
class Catalogue:
    tier_ids: dict[str, str]
    """Tier name → id."""
    segments: tuple[str, ...]
    reward_ids: dict[str, str]
    """Reward title → id."""

    def cheap_reward_ids(self) -> list[str]:
        return [self.reward_ids[title] for title in CHEAP_REWARDS]

    @property
    def cheap_cost(self) -> int:
        """Points one member spends redeeming each of the cheap rewards once."""
        return sum(cost for title, cost, _, _ in REWARDS if title in CHEAP_REWARDS)


async def set_up_catalogue(client: httpx.AsyncClient, admin_token: str) -> Catalogue:
    """Create (or reuse) the tiers and segments, then create the rewards; raises BenchError
    if the server refuses any of it."""
    tier_ids = await _tiers(client, admin_token)
    segments = [await _segment(client, admin_token, *segment) for segment in SEGMENTS]
    reward_ids: dict[str, str] = {}
    for title, cost, kind, value in REWARDS:
        request = GraphQLRequest.of(
            REWARD_CREATE,
            {"input": reward_input(title, cost, kind, value, tier_ids)},
            token=admin_token,
        )
        reward_ids[title] = (await execute(client, request))["rewardCreate"]["reward"]["id"]
    return Catalogue(tier_ids=tier_ids, segments=tuple(segments), reward_ids=reward_ids)


async def _tiers(client: httpx.AsyncClient, admin_token: str) -> dict[str, str]:
    existing = (await execute(client, GraphQLRequest.of(TIERS_QUERY, token=admin_token)))["tiers"]
    ids = {tier["name"]: tier["id"] for tier in existing}
    for name, threshold, multiplier, perks in TIERS:
        if name in ids:
            continue
        request = GraphQLRequest.of(
            TIER_CREATE,
            {
                "input": {
                    "name": name,
                    "threshold": threshold,
                    "earnMultiplier": multiplier,
                    "perks": perks,
                }
            },
            token=admin_token,
        )
        ids[name] = (await execute(client, request))["tierCreate"]["tier"]["id"]
    return ids


async def _segment(
    client: httpx.AsyncClient,
    admin_token: str,
    name: str,
    description: str,
    conditions: dict[str, Any],
) -> str:
    request = GraphQLRequest.of(
        SEGMENT_CREATE,
        {
            "input": {
                "name": name,
                "description": description,
                "conditions": conditions,
            }
        },
        token=admin_token,
    )
    try:
        await execute(client, request)
    except BenchError as error:
        if "SEGMENT_NAME_TAKEN" not in str(error):  # a server given with --url may have it
            raise
    return name


def reward_input(
    title: str, cost: int, kind: str, value: int | str | None, tier_ids: dict[str, str]
) -> dict[str, Any]:
    """A `rewardCreate` input for one line of REWARDS, with its tier prices, minimum tier
    and segment, if any."""
    fields: dict[str, Any] = {
        "title": title,
        "kind": kind,
        "cost": cost,
        "stock": 50 if title in SMALL_STOCK else 5000,
        "voucherValidDays": 90 if cost >= 2000 else 30,
        "description": f"{title}, for {cost} points.",
    }
    if kind == "AMOUNT_OFF" and isinstance(value, int):
        fields |= {"amountOff": value, "currency": "EUR", "minOrderTotal": 4 * value}
    elif kind == "PERCENT_OFF":
        fields["percentOff"] = value
    elif kind == "FREE_PRODUCT":
        fields["productSku"] = value
    if title in TIER_PRICES:
        gold, platinum = TIER_PRICES[title]
        fields["tierCosts"] = [
            {"tierId": tier_ids["Gold"], "cost": gold},
            {"tierId": tier_ids["Platinum"], "cost": platinum},
        ]
    if title in MIN_TIER:
        fields["minTierId"] = tier_ids[MIN_TIER[title]]
    if title in SEGMENT_ONLY:
        fields["segments"] = [SEGMENT_ONLY[title]]
    return fields
