"""A popular reward and its redemption as the member's app sends it, shared by
`reward-redeem`, `scale` and `soak`: €5 off for COST points, with a stock no run exhausts,
and `rewardRedeem` with a new idempotency key per tap."""

import httpx

from bench.graphql import GraphQLRequest, execute
from bench.members import SignedInMember

COST = 100
STOCK = 10_000_000
AMOUNT_OFF = 500

REWARD_CREATE = """mutation Reward($input: RewardCreateInput!) {
  rewardCreate(input: $input) { reward { id } errors { code message field } } }"""
REDEEM = """mutation Redeem($input: RewardRedeemInput!) { rewardRedeem(input: $input) {
  voucher { id code status title amountOff currency expiresAt }
  pointsSpent balance replayed errors { code message field } } }"""


async def create_reward(client: httpx.AsyncClient, admin: str) -> str:
    """The load's reward (€5 off, COST points, a stock of STOCK, vouchers valid 30 days),
    created by the administrator whose token is `admin`; its global id."""
    created = (await execute(client, GraphQLRequest.of(REWARD_CREATE, {"input": {
        "title": "€5 off", "kind": "AMOUNT_OFF", "amountOff": AMOUNT_OFF, "currency": "EUR",
        "cost": COST, "stock": STOCK, "voucherValidDays": 30,
    }}, token=admin)))["rewardCreate"]
    reward_id: str = created["reward"]["id"]
    return reward_id


def redeem_request(member: SignedInMember, reward_id: str, key: str) -> GraphQLRequest:
    """`rewardRedeem` of `reward_id` (global id) by `member`, with idempotency key `key`."""
    return GraphQLRequest.of(REDEEM, {"input": {"rewardId": reward_id, "idempotencyKey": key}},
                             token=member.access_token)
