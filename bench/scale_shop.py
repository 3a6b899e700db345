"""The programme `scale` and `soak` run on, set up through the API as an operator would,
and what bulk seeding needs to know about it (bench.history's SeedContext).

Through the API: an administrator (`kizuna create-admin`), an ORDERS_WRITE API key and the
three earning rules of bench.shop; the tiers, segments and 30 rewards of bench.catalogue;
STORES stores with STAFF signed-in staff (bench.tills); and the reward the members redeem
(bench.reward_requests: €5 off for 100 points, a stock the run never exhausts).
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from strawberry import relay

from auth.collections import ACCOUNTS, API_KEYS
from auth.passwords import PasswordCost, Passwords
from bench.catalogue import Catalogue, set_up_catalogue
from bench.graphql import BenchError, GraphQLRequest
from bench.history import SeedContext
from bench.members import SignedInMember
from bench.options import HistoryShape
from bench.reward_requests import create_reward
from bench.seeding import seed_members
from bench.servers import Target
from bench.shop import POINTS_ADJUST, Shop, open_shop
from bench.tills import Cashier, open_tills
from loyalty.collections import REWARDS
from loyalty.earning.rules.store import active_rules
from loyalty.ledger.entries import Actor
from loyalty.programme.settings import load_programme
from loyalty.rewards.catalogue import reward_from_document
from scanner.audit import Scanner
from store import Store

BONUS_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class ScaleShop:
    run: str
    shop: Shop
    catalogue: Catalogue
    cashiers: list[Cashier]
    reward_id: str
    """The global id of the reward members redeem."""


async def open_scale_shop(target: Target, client: httpx.AsyncClient) -> ScaleShop:
    """Everything above, through the API."""
    run = secrets.token_hex(3).upper()
    shop = await open_shop(target, client)
    catalogue = await set_up_catalogue(client, shop.admin_token)
    cashiers = await open_tills(client, shop.admin_token, run)
    reward_id = await create_reward(client, shop.admin_token)
    return ScaleShop(run, shop, catalogue, cashiers, reward_id)


def node_id(global_id: str) -> str:
    return relay.GlobalID.from_id(global_id).node_id


async def seed_context(
    store: Store, target: Target, scale: ScaleShop, shape: HistoryShape
) -> tuple[SeedContext, str]:
    """The context every seeded member's history is written against, and the password all
    of them share (hashed once, with the server's own argon2 settings)."""
    rules = await active_rules(store)
    if any(rule.limits.budget is not None for rule in rules):
        raise BenchError("bulk seeding does not model campaign budgets: an active rule has one")
    prefix = scale.shop.api_key.removeprefix("kz_").split("_", 1)[0]
    key = await store.collection(API_KEYS).find_one({"prefix": prefix})
    admin = await store.collection(ACCOUNTS).find_one({"email": scale.shop.admin_email})
    reward = await store.collection(REWARDS).find_one({"_id": node_id(scale.reward_id)})
    if key is None or admin is None or reward is None:
        raise BenchError("the API key, administrator or reward just created is not in the "
                         "database the bench reached (check KIZUNA_* with --url)")
    password = f"Scale-{secrets.token_urlsafe(12)}"
    ctx = SeedContext(
        run=scale.run, now=datetime.now(UTC), programme=await load_programme(store),
        rules=rules, shop=Actor("API_KEY", key["_id"]), admin=Actor("ADMIN", admin["_id"]),
        reward=reward_from_document(reward),
        scanners=tuple(
            Scanner(actor_id=c.staff_id, store_id=c.store_id, device_id=c.device_id,
                    client_address="127.0.0.1")
            for c in scale.cashiers
        ),
        password_hash=await _hash(target, password), shape=shape,
    )
    return ctx, password


async def _hash(target: Target, password: str) -> str:
    """argon2id with the server's cost (verifying reads the cost from the hash anyway)."""
    default = PasswordCost()
    cost = PasswordCost(
        time_cost=int(target.settings.get("KIZUNA_PASSWORD_TIME_COST", default.time_cost)),
        memory_kib=int(target.settings.get("KIZUNA_PASSWORD_MEMORY_KIB", default.memory_kib)),
    )
    passwords = Passwords(cost)
    try:
        return await passwords.hash(password)
    finally:
        passwords.close()


async def give_bonus(
    target: Target, scale: ScaleShop, members: Sequence[SignedInMember], points: int, tag: str
) -> None:
    """`pointsAdjust` of `points` to each member by the administrator (a campaign bonus,
    one lot each), keyed by `tag` so a request the server failed is simply sent again."""
    admin = scale.shop.admin_token

    def request(index: int, member: SignedInMember) -> list[GraphQLRequest]:
        return [GraphQLRequest.of(POINTS_ADJUST, {"input": {
            "member": {"id": member.id}, "points": points, "reason": "Campaign bonus",
            "idempotencyKey": f"scale-{scale.run}-{tag}-{index}",
        }}, token=admin)]

    await seed_members(target, members, request, concurrency=BONUS_CONCURRENCY)
