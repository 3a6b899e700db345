"""A shop set up for ledger tests: an admin, a shop system's API key, members, one rule."""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scanner.books import verify
from tests.support import GraphQLClient, SignedIn

ORDER_RECORD = """
mutation($input: OrderRecordInput!) { orderRecord(input: $input) {
  orderId pointsEarned replayed breakdown { ruleName points capped }
  entry { id kind points reason } errors { code message field } } }"""

ORDER_REFUND = """
mutation($input: OrderRefundInput!) { orderRefund(input: $input) {
  pointsReversed refundedAmount replayed entry { kind points }
  errors { code message field } } }"""

POINTS_ADJUST = """
mutation($input: PointsAdjustInput!) { pointsAdjust(input: $input) {
  entry { kind points reason } errors { code message field } } }"""

ME_POINTS = """
{ me { points { balance pending debt lifetimeEarned
  expiringSoon { points expiresAt }
  pointsExpiringSoon { within30Days within60Days within90Days } } } }"""

RULE_CREATE = """
mutation($input: EarningRuleInput!) { earningRuleCreate(input: $input) {
  rule { id } errors { code message field } } }"""

PER_EURO = {"name": "Base", "trigger": "ORDER",
            "conditions": {"currency": "EUR"},
            "formula": {"kind": "PER_CURRENCY_UNIT", "points": 1, "perAmountMinor": 100}}


@dataclass
class Shop:
    gql: GraphQLClient
    admin: SignedIn
    api_key: str
    ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))

    async def new_api_key(self) -> str:
        """Another shop-system key (as when a key is replaced)."""
        return await _new_api_key(self.gql, self.admin)

    async def rule(self, rule: dict[str, Any]) -> str:
        data = await self.gql.data(RULE_CREATE, {"input": rule}, token=self.admin.access_token)
        payload = data["earningRuleCreate"]
        assert payload["errors"] == [], payload
        rule_id: str = payload["rule"]["id"]
        return rule_id

    async def member(self, email: str) -> SignedIn:
        return await self.gql.member(email=email)

    async def sign_in(self, email: str) -> SignedIn:
        """A fresh access token (after the clock moved past the old one's lifetime)."""
        tokens = await self.gql.sign_in(email)
        return SignedIn(tokens["accessToken"], tokens["refreshToken"])

    def order(self, email: str, total: int, *, order_id: str | None = None,
              at: datetime | None = None, items: list[dict[str, Any]] | None = None,
              currency: str = "EUR", channel: str = "ONLINE") -> dict[str, Any]:
        return {
            "member": {"email": email},
            "orderId": order_id or f"order-{next(self.ids)}",
            "channel": channel, "total": total, "currency": currency,
            "items": items if items is not None else [
                {"sku": "SKU-1", "category": "shoes", "quantity": 1, "unitPrice": total}],
            "occurredAt": (at or self.gql.state.services.clock()).isoformat(),
        }

    async def record(self, order: dict[str, Any]) -> dict[str, Any]:
        data = await self.gql.data(ORDER_RECORD, {"input": order}, token=self.api_key)
        payload: dict[str, Any] = data["orderRecord"]
        return payload

    async def refund(self, order_id: str, refund_id: str, *, amount: int | None = None,
                     items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        data = await self.gql.data(
            ORDER_REFUND,
            {"input": {"orderId": order_id, "refundId": refund_id, "amount": amount,
                       "items": items}},
            token=self.api_key,
        )
        payload: dict[str, Any] = data["orderRefund"]
        return payload

    async def adjust(self, email: str, points: int, reason: str = "Goodwill gesture") -> (
        dict[str, Any]
    ):
        data = await self.gql.data(
            POINTS_ADJUST,
            {"input": {"member": {"email": email}, "points": points, "reason": reason}},
            token=self.admin.access_token,
        )
        payload: dict[str, Any] = data["pointsAdjust"]
        return payload

    async def points(self, member: SignedIn) -> dict[str, Any]:
        data = await self.gql.data(ME_POINTS, token=member.access_token)
        points: dict[str, Any] = data["me"]["points"]
        return points

    async def violations(self) -> list[str]:
        return [str(v) for v in await verify(self.gql.state.services.store)]

    async def advance(self, **delta: float) -> None:
        """Move the app's clock; the admin signs in again (access tokens last minutes)."""
        clock = self.gql.state.services.clock
        clock.advance(**delta)  # type: ignore[attr-defined]
        self.admin = await self.sign_in("admin@example.com")

    def now(self) -> datetime:
        return self.gql.state.services.clock()

    def later(self, **delta: float) -> datetime:
        return self.now() + timedelta(**delta)


async def _new_api_key(gql: GraphQLClient, admin: SignedIn) -> str:
    data = await gql.data(
        """mutation { apiKeyCreate(input: {name: "Web shop", scopes: [ORDERS_WRITE,
           ACTIONS_WRITE]}) { secret errors { code } } }""",
        token=admin.access_token,
    )
    secret: str = data["apiKeyCreate"]["secret"]
    return secret


async def open_shop(gql: GraphQLClient) -> Shop:
    admin = await gql.admin()
    return Shop(gql=gql, admin=admin, api_key=await _new_api_key(gql, admin))
