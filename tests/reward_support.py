"""A shop with a rewards catalogue: create rewards, give members points, redeem, browse."""

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from strawberry.relay import from_base64

from auth.roles import Principal, Role
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient, SignedIn

REWARD_FIELDS = """id title description kind amountOff percentOff currency productSku imageUrl
  cost baseCost tierCosts { cost tier { name } } minTier { name } earlyAccessUntil
  earlyAccessTier { name } activeFrom activeTo active perMemberLimit voucherValidDays channels
  minOrderTotal"""

REWARD_CREATE = f"""
mutation($input: RewardCreateInput!) {{ rewardCreate(input: $input) {{
  reward {{ {REWARD_FIELDS} segments stock redeemed remaining issued }}
  errors {{ code message field }} }} }}"""

REWARD_UPDATE = f"""
mutation($input: RewardUpdateInput!) {{ rewardUpdate(input: $input) {{
  reward {{ {REWARD_FIELDS} segments stock redeemed remaining issued }}
  errors {{ code message field }} }} }}"""

REWARD_REDEEM = """
mutation($input: RewardRedeemInput!) { rewardRedeem(input: $input) {
  voucher { id code status kind title amountOff percentOff currency minOrderTotal channels
            issuedAt expiresAt }
  pointsSpent balance replayed errors { code message field } } }"""

MEMBER_CATALOGUE = """
query($first: Int!, $after: String) { rewards(first: $first, after: $after) {
  edges { cursor node { id title cost affordable pointsNeeded eligible
                        ineligibleReason { code message } timesRedeemed } }
  pageInfo { hasNextPage endCursor } } }"""

ADMIN_STOCK = """
query($id: ID!) { node(id: $id) { ... on Reward { stock redeemed remaining issued } } }"""

VOUCHER_CANCEL = """
mutation($input: VoucherCancelInput!) { voucherCancel(input: $input) {
  voucher { id status } pointsReturned pointsExpired pointsPending debtSettled explanation
  errors { code message field } } }"""

HISTORY = "{ me { history(first: 50) { edges { node { kind points reason } } } } }"


@dataclass
class RewardShop:
    shop: Shop
    keys: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))

    @property
    def gql(self) -> GraphQLClient:
        return self.shop.gql

    @property
    def admin_token(self) -> str:
        return self.shop.admin.access_token

    async def create(self, **overrides: Any) -> dict[str, Any]:
        payload = await self.create_payload(**overrides)
        assert payload["errors"] == [], payload
        reward: dict[str, Any] = payload["reward"]
        return reward

    async def create_payload(self, **overrides: Any) -> dict[str, Any]:
        reward_input = {"title": "€5 off", "kind": "AMOUNT_OFF", "amountOff": 500,
                        "currency": "EUR", "cost": 100, **overrides}
        data = await self.gql.data(REWARD_CREATE, {"input": reward_input},
                                   token=self.admin_token)
        payload: dict[str, Any] = data["rewardCreate"]
        return payload

    async def update(self, reward_id: str, **changes: Any) -> dict[str, Any]:
        data = await self.gql.data(REWARD_UPDATE, {"input": {"rewardId": reward_id, **changes}},
                                   token=self.admin_token)
        payload: dict[str, Any] = data["rewardUpdate"]
        return payload

    async def member(self, email: str, points: int = 0) -> SignedIn:
        signed_in = await self.shop.member(email)
        if points:
            await self.give(email, points)
        return signed_in

    async def members(self, count: int, points: int) -> list[SignedIn]:
        """`count` members registered and signed in at once, each with `points`."""
        emails = [f"racer{i}@example.com" for i in range(count)]
        registered = await asyncio.gather(*(self.gql.register(email=e) for e in emails))
        assert all(r["errors"] == [] for r in registered)
        # Access tokens straight from the token service: a hundred password checks would
        # only slow the test down (sign-in has tests of its own).
        tokens = self.gql.state.services.authenticator.access_tokens
        members = [
            SignedIn(tokens.issue(Principal(subject_id=from_base64(r["member"]["id"])[1],
                                            role=Role.MEMBER)).token, "")
            for r in registered
        ]
        adjusted = await asyncio.gather(*(self.shop.adjust(e, points) for e in emails))
        assert all(a["errors"] == [] for a in adjusted)
        return list(members)

    async def give(self, email: str, points: int) -> None:
        adjusted = await self.shop.adjust(email, points)
        assert adjusted["errors"] == [], adjusted

    async def redeem(self, member: SignedIn, reward_id: str, key: str | None = None) -> (
        dict[str, Any]
    ):
        data = await self.gql.data(
            REWARD_REDEEM,
            {"input": {"rewardId": reward_id, "idempotencyKey": key or f"tap-{next(self.keys)}"}},
            token=member.access_token,
        )
        payload: dict[str, Any] = data["rewardRedeem"]
        return payload

    async def cancel(self, member: SignedIn, voucher_id: str) -> dict[str, Any]:
        data = await self.gql.data(VOUCHER_CANCEL, {"input": {"voucherId": voucher_id}},
                                   token=member.access_token)
        payload: dict[str, Any] = data["voucherCancel"]
        return payload

    async def catalogue(self, member: SignedIn, first: int = 50) -> list[dict[str, Any]]:
        data = await self.gql.data(MEMBER_CATALOGUE, {"first": first}, token=member.access_token)
        return [edge["node"] for edge in data["rewards"]["edges"]]

    async def stock(self, reward_id: str) -> dict[str, Any]:
        data = await self.gql.data(ADMIN_STOCK, {"id": reward_id}, token=self.admin_token)
        node: dict[str, Any] = data["node"]
        return node

    async def balance(self, member: SignedIn) -> int:
        balance: int = (await self.shop.points(member))["balance"]
        return balance

    async def history(self, member: SignedIn) -> list[dict[str, Any]]:
        data = await self.gql.data(HISTORY, token=member.access_token)
        return [edge["node"] for edge in data["me"]["history"]["edges"]]

    async def count(self, collection: str, query: dict[str, Any] | None = None) -> int:
        store = self.gql.state.services.store
        return await store.collection(collection).count_documents(query or {})


async def open_reward_shop(gql: GraphQLClient) -> RewardShop:
    return RewardShop(await open_shop(gql))


async def ladder(shop: RewardShop) -> dict[str, str]:
    """Silver (100) and Gold (500) tiers; their ids by name."""
    ids = {}
    for name, threshold in (("Silver", 100), ("Gold", 500)):
        data = await shop.gql.data(
            """mutation($input: TierCreateInput!) { tierCreate(input: $input) {
                 tier { id } errors { code } } }""",
            {"input": {"name": name, "threshold": threshold}}, token=shop.admin_token,
        )
        ids[name] = data["tierCreate"]["tier"]["id"]
    return ids


async def set_tier(shop: RewardShop, email: str, tier_id: str | None) -> None:
    data = await shop.gql.data(
        """mutation($input: MemberTierSetInput!) { memberTierSet(input: $input) {
             errors { code } } }""",
        {"input": {"member": {"email": email}, "tierId": tier_id, "reason": "Test"}},
        token=shop.admin_token,
    )
    assert data["memberTierSet"]["errors"] == [], data
