"""A shop with a store, staff and members, set up for voucher and scanner tests."""

import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.support import DEFAULT_PASSWORD, GraphQLClient, SignedIn

VOUCHER_ISSUE = """
mutation($input: VoucherIssueInput!) { voucherIssue(input: $input) {
  voucher { id code status kind title amountOff currency expiresAt qr { payload pngUrl } }
  replayed errors { code message field } } }"""

VOUCHER_CHECK = """
mutation($input: VoucherCheckInput!) { voucherCheck(input: $input) {
  redeemable reason { code message }
  voucher { id code status kind title amountOff percentOff currency minOrderTotal expiresAt
            member { firstName tier }
            redemption { redeemedAt orderReference orderTotal store { name code } } }
  errors { code message field retryAfterSeconds } } }"""

VOUCHER_REDEEM = """
mutation($input: VoucherRedeemInput!) { voucherRedeem(input: $input) {
  replayed discount
  voucher { id status member { firstName }
            redemption { redeemedAt orderReference orderTotal discount store { name code } } }
  errors { code message field retryAfterSeconds } } }"""

VOUCHER_VOID = """
mutation($input: VoucherRedemptionVoidInput!) { voucherRedemptionVoid(input: $input) {
  voucher { id status redemption { orderReference } } errors { code message field } } }"""

MY_VOUCHERS = """
query($status: VoucherStatus) { me { vouchers(first: 50, status: $status) { edges { node {
  id code status title redemption { orderReference store { code } }
  qr { payload pngUrl svgUrl svg } } } } } }"""


@dataclass
class ScannerShop:
    gql: GraphQLClient
    admin: SignedIn
    store_ids: dict[str, str] = field(default_factory=dict)
    ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))

    async def store(self, code: str, name: str | None = None) -> str:
        data = await self.gql.data(
            """mutation($input: StoreCreateInput!) { storeCreate(input: $input) {
                 store { id } errors { code message } } }""",
            {"input": {"code": code, "name": name or f"Store {code}", "timezone": "Europe/Paris"}},
            token=self.admin.access_token,
        )
        store_id: str = data["storeCreate"]["store"]["id"]
        self.store_ids[code] = store_id
        return store_id

    async def staff(self, email: str, store_code: str, *, manager: bool = False) -> SignedIn:
        data = await self.gql.data(
            """mutation($input: StaffCreateInput!) { staffCreate(input: $input) {
                 staff { id } errors { code message } } }""",
            {"input": {"email": email, "password": DEFAULT_PASSWORD, "name": "Sam Staff",
                       "store": self.store_ids[store_code], "manager": manager}},
            token=self.admin.access_token,
        )
        assert data["staffCreate"]["errors"] == [], data
        tokens = await self.gql.sign_in(email)
        return SignedIn(tokens["accessToken"], tokens["refreshToken"])

    async def issue(self, email: str, **overrides: Any) -> dict[str, Any]:
        payload = await self.issue_payload(email, **overrides)
        assert payload["errors"] == [], payload
        voucher: dict[str, Any] = payload["voucher"]
        return voucher

    async def issue_payload(self, email: str, **overrides: Any) -> dict[str, Any]:
        voucher_input = {"member": {"email": email}, "kind": "AMOUNT_OFF", "title": "€5 off",
                         "amountOff": 500, "currency": "EUR", "validDays": 30, **overrides}
        data = await self.gql.data(VOUCHER_ISSUE, {"input": voucher_input},
                                   token=self.admin.access_token)
        payload: dict[str, Any] = data["voucherIssue"]
        return payload

    async def check(self, token: str, **reference: Any) -> dict[str, Any]:
        data = await self.gql.data(VOUCHER_CHECK, {"input": reference}, token=token)
        payload: dict[str, Any] = data["voucherCheck"]
        return payload

    async def redeem(self, token: str, *, order_reference: str | None = None,
                     order_total: int = 4200, key: str | None = None,
                     **reference: Any) -> dict[str, Any]:
        number = next(self.ids)
        data = await self.gql.data(VOUCHER_REDEEM, {"input": {
            **reference, "orderReference": order_reference or f"R-{number}",
            "orderTotal": order_total, "idempotencyKey": key or f"key-{number}",
        }}, token=token)
        payload: dict[str, Any] = data["voucherRedeem"]
        return payload

    async def my_vouchers(self, token: str, status: str | None = None) -> list[dict[str, Any]]:
        data = await self.gql.data(MY_VOUCHERS, {"status": status}, token=token)
        return [edge["node"] for edge in data["me"]["vouchers"]["edges"]]


async def open_scanner_shop(gql: GraphQLClient) -> ScannerShop:
    shop = ScannerShop(gql=gql, admin=await gql.admin())
    await shop.store("PARIS-01", "Paris Opéra")
    await shop.store("LYON-01", "Lyon Part-Dieu")
    return shop


VOUCHER_CANCEL = """
mutation($input: VoucherCancelInput!) { voucherCancel(input: $input) {
  voucher { id status } errors { code message field } } }"""


async def voucher_cancel(gql: GraphQLClient, token: str, voucher_id: str) -> dict[str, Any]:
    """voucherCancel's payload for the signed-in member `token`."""
    data = await gql.data(VOUCHER_CANCEL, {"input": {"voucherId": voucher_id}}, token=token)
    payload: dict[str, Any] = data["voucherCancel"]
    return payload


async def fresh_token(gql: GraphQLClient, email: str) -> str:
    """A new access token for `email` (after the clock moved past the old one's lifetime)."""
    tokens = await gql.sign_in(email)
    token: str = tokens["accessToken"]
    return token
