"""A shop where members gift points: the admin's transfer settings, members with points,
gifts over GraphQL, and what a gift may have written."""

import itertools
from dataclasses import dataclass, field
from typing import Any

from events.outbox import OUTBOX
from loyalty.collections import LEDGER, LOTS, MEMBERS, STATS
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient, SignedIn

POINTS_TRANSFER = """
mutation($input: PointsTransferInput!) { pointsTransfer(input: $input) {
  entry { id kind points reason occurredAt gift { message memberName } }
  balance replayed errors { code message field } } }"""

PROGRAMME_UPDATE = """
mutation($input: ProgrammeUpdateInput!) { programmeUpdate(input: $input) {
  programme { timezone transfers { enabled minMemberDays minPoints dailySendCap
    monthlySendCap dailyReceiveCap monthlyReceiveCap } }
  errors { code message field } } }"""

HISTORY = """{ me { points { balance } history(first: 20) { edges { node {
  kind points reason gift { message memberName } } } } } }"""


@dataclass
class GiftShop:
    shop: Shop
    keys: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))

    @property
    def gql(self) -> GraphQLClient:
        return self.shop.gql

    async def settings(self, **transfers: Any) -> dict[str, Any]:
        """Change the transfer settings (and `timezone`, when given) as the admin."""
        extra = {"timezone": transfers.pop("timezone")} if "timezone" in transfers else {}
        data = await self.gql.data(PROGRAMME_UPDATE,
                                   {"input": {"transfers": transfers, **extra}},
                                   token=self.shop.admin.access_token)
        payload: dict[str, Any] = data["programmeUpdate"]
        return payload

    async def member(self, email: str, name: str, points: int = 0) -> SignedIn:
        member = await self.gql.member(email=email, name=name)
        if points:
            await self.give(email, points)
        return member

    async def give(self, email: str, points: int) -> None:
        adjusted = await self.shop.adjust(email, points, "Welcome points")
        assert adjusted["errors"] == [], adjusted

    async def gift(self, sender: SignedIn, points: int, *, email: str | None = None,
                   code: str | None = None, message: str | None = None,
                   key: str | None = None) -> dict[str, Any]:
        to = {"email": email} if email is not None else {"referralCode": code}
        body = await self.gql.execute(POINTS_TRANSFER, {"input": {
            "to": to, "points": points, "message": message,
            "idempotencyKey": key or f"gift-{next(self.keys)}"}}, token=sender.access_token)
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["pointsTransfer"]
        return payload

    async def history(self, member: SignedIn) -> tuple[int, list[dict[str, Any]]]:
        data = await self.gql.data(HISTORY, token=member.access_token)
        return (data["me"]["points"]["balance"],
                [edge["node"] for edge in data["me"]["history"]["edges"]])

    async def balance(self, member: SignedIn) -> int:
        return (await self.history(member))[0]

    async def written(self) -> dict[str, list[dict[str, Any]]]:
        """Every document a gift could write."""
        store = self.gql.state.services.store
        written = {name: await store.collection(name).find({}).sort("_id", 1).to_list(None)
                   for name in (LEDGER, LOTS, MEMBERS, STATS)}
        # Events by id and type: their webhook bookkeeping moves on in the background.
        written[OUTBOX] = await store.collection(OUTBOX).find(
            {}, {"type": 1, "data": 1}).sort("_id", 1).to_list(None)
        return written

    async def violations(self) -> list[str]:
        return await self.shop.violations()


async def open_gift_shop(gql: GraphQLClient, **transfers: Any) -> GiftShop:
    """A shop that allows gifts from day one (unless `transfers` says otherwise)."""
    shop = GiftShop(await open_shop(gql))
    settings = {"enabled": True, "minMemberDays": 0, **transfers}
    updated = await shop.settings(**settings)
    assert updated["errors"] == [], updated
    return shop
