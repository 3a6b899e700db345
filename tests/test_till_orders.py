"""In-store purchases: staff scan the member card and record the order at the till."""

import dataclasses
from typing import Any

import pytest

from api.settings import Settings
from tests.ledger_support import ORDER_RECORD, ORDER_REFUND, PER_EURO, Shop, open_shop
from tests.scanner_support import ScannerShop
from tests.support import GraphQLClient, SignedIn

CARD = "{ me { card { token expiresAt refreshInSeconds qr { payload } } } }"
VIEWER = """{ viewer { __typename
  ... on Staff { name manager store { code } } ... on Member { email } } }"""


async def _till(gql: GraphQLClient) -> tuple[Shop, ScannerShop, SignedIn, SignedIn]:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    stores = ScannerShop(gql=gql, admin=shop.admin)
    await stores.store("PARIS-01", "Paris Opéra")
    staff = await stores.staff("sam@example.com", "PARIS-01")
    member = await gql.member("ann@example.com", name="Ann Lee")
    return shop, stores, staff, member


async def _card_token(gql: GraphQLClient, member: SignedIn) -> str:
    data = await gql.data(CARD, token=member.access_token)
    token: str = data["me"]["card"]["token"]
    return token


def _till_order(shop: Shop, token: str, order_id: str, total: int = 4250) -> dict[str, Any]:
    order = shop.order("ann@example.com", total, order_id=order_id, channel="STORE")
    order["member"] = {"cardToken": token}
    return order


async def test_staff_credit_points_at_the_till_with_the_member_card(gql: GraphQLClient) -> None:
    shop, _, staff, member = await _till(gql)
    token = await _card_token(gql, member)

    data = await gql.data(ORDER_RECORD, {"input": _till_order(shop, token, "TILL-1")},
                          token=staff.access_token)

    assert data["orderRecord"]["errors"] == []
    assert data["orderRecord"]["pointsEarned"] == 42
    assert (await shop.points(member))["pending"] + (await shop.points(member))["balance"] == 42
    order = await gql.state.services.store.collection("orders").find_one({"_id": "TILL-1"})
    assert order is not None
    assert order["channel"] == "STORE"
    assert order["store_id"] == (await _staff_store_id(gql, staff))


async def _staff_store_id(gql: GraphQLClient, staff: SignedIn) -> str:
    account = await gql.state.services.store.collection("accounts").find_one(
        {"email": "sam@example.com"})
    assert account is not None
    return str(account["store_id"])


async def test_a_till_retry_after_the_card_token_went_stale_replays_the_order(
    gql: GraphQLClient,
) -> None:
    shop, _, staff, member = await _till(gql)
    token = await _card_token(gql, member)
    order = _till_order(shop, token, "TILL-2")
    first = await gql.data(ORDER_RECORD, {"input": order}, token=staff.access_token)
    gql.state.services.clock.advance(minutes=5)  # type: ignore[attr-defined]
    staff = await shop.sign_in("sam@example.com")

    retry = await gql.data(ORDER_RECORD, {"input": order}, token=staff.access_token)

    assert retry["orderRecord"]["errors"] == []
    assert retry["orderRecord"]["replayed"] is True
    assert retry["orderRecord"]["entry"]["id"] == first["orderRecord"]["entry"]["id"]


async def test_a_stale_card_token_earns_nothing(gql: GraphQLClient) -> None:
    shop, _, staff, member = await _till(gql)
    token = await _card_token(gql, member)
    gql.state.services.clock.advance(seconds=65)  # type: ignore[attr-defined]
    staff = await shop.sign_in("sam@example.com")

    data = await gql.data(ORDER_RECORD, {"input": _till_order(shop, token, "TILL-3")},
                          token=staff.access_token)

    assert [e["code"] for e in data["orderRecord"]["errors"]] == ["INVALID_CARD_TOKEN"]
    assert await gql.state.services.store.collection("orders").count_documents({}) == 0


async def test_staff_cannot_record_online_orders_or_name_members_by_email(
    gql: GraphQLClient,
) -> None:
    shop, _, staff, member = await _till(gql)
    token = await _card_token(gql, member)
    online = _till_order(shop, token, "TILL-4")
    online["channel"] = "ONLINE"
    by_email = shop.order("ann@example.com", 4250, order_id="TILL-5", channel="STORE")

    online_result = await gql.data(ORDER_RECORD, {"input": online}, token=staff.access_token)
    email_result = await gql.data(ORDER_RECORD, {"input": by_email}, token=staff.access_token)

    assert online_result["orderRecord"]["errors"][0]["field"] == ["input", "channel"]
    assert email_result["orderRecord"]["errors"][0]["field"] == ["input", "member", "cardToken"]
    assert await gql.state.services.store.collection("orders").count_documents({}) == 0


async def test_members_cannot_record_orders_with_their_own_card(gql: GraphQLClient) -> None:
    shop, _, _, member = await _till(gql)
    token = await _card_token(gql, member)

    body = await gql.execute(ORDER_RECORD, {"input": _till_order(shop, token, "TILL-6")},
                             token=member.access_token)

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_only_the_member_sees_their_card(gql: GraphQLClient) -> None:
    shop, _, _, member = await _till(gql)
    data = await gql.data(
        "query($id: ID!) { node(id: $id) { ... on Member { card { token } } } }",
        {"id": (await gql.data("{ me { id } }", token=member.access_token))["me"]["id"]},
        token=shop.admin.access_token,
    )
    assert data["node"]["card"] is None


async def test_viewer_tells_staff_their_store(gql: GraphQLClient) -> None:
    _, _, staff, member = await _till(gql)

    as_staff = await gql.data(VIEWER, token=staff.access_token)
    as_member = await gql.data(VIEWER, token=member.access_token)

    assert as_staff["viewer"] == {"__typename": "Staff", "name": "Sam Staff", "manager": False,
                                  "store": {"code": "PARIS-01"}}
    assert as_member["viewer"] == {"__typename": "Member", "email": "ann@example.com"}


async def _refund(gql: GraphQLClient, token: str, order_id: str, refund_id: str) -> (
    dict[str, Any]
):
    data = await gql.data(ORDER_REFUND, {"input": {
        "orderId": order_id, "refundId": refund_id, "amount": 1000}}, token=token)
    payload: dict[str, Any] = data["orderRefund"]
    return payload


async def test_a_till_order_is_refunded_by_its_stores_staff_or_an_admin_only(
    gql: GraphQLClient,
) -> None:
    shop, stores, staff, member = await _till(gql)
    await stores.store("LYON-01", "Lyon")
    lyon = await stores.staff("lea@example.com", "LYON-01")
    token = await _card_token(gql, member)
    await gql.data(ORDER_RECORD, {"input": _till_order(shop, token, "TILL-1", total=5000)},
                   token=staff.access_token)
    before = await shop.points(member)

    by_web_shop = await _refund(gql, shop.api_key, "TILL-1", "RF-1")
    by_other_store = await _refund(gql, lyon.access_token, "TILL-1", "RF-2")
    assert await shop.points(member) == before  # nothing reversed

    by_own_store = await _refund(gql, staff.access_token, "TILL-1", "RF-3")
    by_admin = await _refund(gql, shop.admin.access_token, "TILL-1", "RF-4")

    for refused in (by_web_shop, by_other_store):
        assert [e["code"] for e in refused["errors"]] == ["REFUND_NOT_ALLOWED"]
        assert refused["errors"][0]["field"] == ["input", "orderId"]
        assert "till" in refused["errors"][0]["message"]
    assert by_own_store["errors"] == [] and by_own_store["pointsReversed"] == 10
    assert by_admin["errors"] == [] and by_admin["pointsReversed"] == 10


async def test_a_shop_systems_order_is_not_refunded_at_a_till(gql: GraphQLClient) -> None:
    shop, _, staff, _ = await _till(gql)
    assert (await shop.record(shop.order("ann@example.com", 5000, order_id="WEB-1")))[
        "errors"] == []

    at_the_till = await _refund(gql, staff.access_token, "WEB-1", "RF-1")
    # Any shop system may refund it: keys get replaced while their orders live on.
    other_key = await shop.new_api_key()
    by_another_key = await _refund(gql, other_key, "WEB-1", "RF-2")

    assert [e["code"] for e in at_the_till["errors"]] == ["REFUND_NOT_ALLOWED"]
    assert by_another_key["errors"] == []
    assert by_another_key["pointsReversed"] == 10


class TestCardTokensFromAShopSystem:
    """A shop system may send the member's card token too. Its orders are not held to the
    scan limits, but its bad tokens count toward the ceiling its address shares with tills
    (and past it get no answer)."""

    SHARED_CEILING = 3

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, scan_max_shared_failures=self.SHARED_CEILING)

    async def test_bad_tokens_from_a_shop_system_count_toward_the_tills_address(
        self, gql: GraphQLClient
    ) -> None:
        shop, _, staff, member = await _till(gql)
        bad = [await shop.record(_till_order(shop, f"KZC{n:024d}", f"WEB-{n}") | {
            "channel": "ONLINE"}) for n in range(self.SHARED_CEILING + 1)]
        token = await _card_token(gql, member)
        web_order = await shop.record(_till_order(shop, token, "WEB-OK") | {"channel": "ONLINE"})
        till = await gql.data(ORDER_RECORD, {"input": _till_order(shop, token, "TILL-1")},
                              token=staff.access_token)

        # Past the ceiling its bad tokens get no answer, but its good ones still earn.
        assert [[e["code"] for e in b["errors"]] for b in bad] == [
            ["INVALID_CARD_TOKEN"]] * self.SHARED_CEILING + [["RATE_LIMITED"]]
        assert web_order["errors"] == [] and web_order["pointsEarned"] == 42
        # The till at the same address is past the shared ceiling.
        assert [e["code"] for e in till["orderRecord"]["errors"]] == ["RATE_LIMITED"]
