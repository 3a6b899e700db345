"""QR images of vouchers over HTTP, offline verification with the JWKS document, and the
rotating member card."""

import base64
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.ledger_support import POINTS_ADJUST
from tests.qr_support import decode_qr_png
from tests.scanner_support import (
    ScannerShop,
    fresh_token,
    open_scanner_shop,
    voucher_cancel,
)
from tests.support import GraphQLClient, ManualClock, SignedIn

MY_CARD = """
{ me { id card { token expiresAt refreshInSeconds qr { payload svg } } } }"""

CARD_SCAN = """
mutation($input: MemberCardScanInput!) { memberCardScan(input: $input) {
  member { firstName tier pointsBalance } errors { code message field } } }"""

MEMBER_CARD_BY_ID = """
query($id: ID!) { node(id: $id) { ... on Member { email card { token } } } }"""


@pytest.fixture
async def shop(gql: GraphQLClient) -> ScannerShop:
    return await open_scanner_shop(gql)


@pytest.fixture
async def ann(gql: GraphQLClient) -> SignedIn:
    return await gql.member(email="ann@example.com", name="Ann Martin")


@pytest.fixture
async def cashier(shop: ScannerShop) -> SignedIn:
    return await shop.staff("sam@example.com", "PARIS-01")


def raw_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


async def my_voucher(shop: ScannerShop, token: str) -> dict[str, Any]:
    mine = await shop.my_vouchers(token)
    assert len(mine) == 1, mine
    return mine[0]


async def get(http: httpx.AsyncClient, url: str, token: str | None,
              **headers: str) -> httpx.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await http.get(url, headers=headers)


# Voucher QR images -------------------------------------------------------------------------


async def test_png_of_a_voucher_is_a_private_cacheable_image_with_an_etag(
    shop: ScannerShop, ann: SignedIn, http: httpx.AsyncClient
) -> None:
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)

    response = await get(http, voucher["qr"]["pngUrl"], ann.access_token)
    again = await get(http, voucher["qr"]["pngUrl"], ann.access_token,
                      **{"if-none-match": response.headers["etag"]})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    cache_control = [d.strip() for d in response.headers["cache-control"].split(",")]
    assert "private" in cache_control
    assert "public" not in cache_control
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag


async def test_png_decodes_to_the_payload_and_redeems_at_the_till(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn, http: httpx.AsyncClient
) -> None:
    issued = await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)
    image = (await get(http, voucher["qr"]["pngUrl"], ann.access_token)).content

    decoded = decode_qr_png(image)

    assert decoded == [voucher["qr"]["payload"]]
    redeemed = await shop.redeem(cashier.access_token, payload=decoded[0])
    assert redeemed["errors"] == []
    assert redeemed["voucher"]["id"] == issued["id"]
    assert redeemed["voucher"]["status"] == "REDEEMED"


async def test_svg_of_a_voucher_is_an_svg_document_of_the_same_qr(
    shop: ScannerShop, ann: SignedIn, http: httpx.AsyncClient
) -> None:
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)

    response = await get(http, voucher["qr"]["svgUrl"], ann.access_token)
    png = await get(http, voucher["qr"]["pngUrl"], ann.access_token)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.lstrip().startswith("<svg")
    assert "<script" not in response.text
    assert "private" in response.headers["cache-control"]
    assert response.headers["etag"] != png.headers["etag"]
    assert response.text == voucher["qr"]["svg"]


async def test_voucher_image_without_a_token_is_unauthorised(
    shop: ScannerShop, ann: SignedIn, http: httpx.AsyncClient
) -> None:
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)

    missing = await get(http, voucher["qr"]["pngUrl"], None)
    garbage = await get(http, voucher["qr"]["pngUrl"], "not-a-token")

    for response in (missing, garbage):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].lower().startswith("bearer")
        assert not response.headers["content-type"].startswith("image/")


async def test_another_members_voucher_image_is_not_found(
    shop: ScannerShop, ann: SignedIn, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    bob = await gql.member(email="bob@example.com", name="Bob")
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)

    for url in (voucher["qr"]["pngUrl"], voucher["qr"]["svgUrl"]):
        response = await get(http, url, bob.access_token)
        assert response.status_code == 404
        assert not response.headers["content-type"].startswith("image/")


async def test_staff_cannot_fetch_a_members_voucher_image(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn, http: httpx.AsyncClient
) -> None:
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)

    response = await get(http, voucher["qr"]["pngUrl"], cashier.access_token)

    assert response.status_code == 404


async def test_unknown_voucher_and_unknown_format_are_not_found(
    shop: ScannerShop, ann: SignedIn, http: httpx.AsyncClient
) -> None:
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)
    base = voucher["qr"]["pngUrl"].removesuffix(".png")

    unknown = await get(http, "/vouchers/000000000000000000000000/qr.png", ann.access_token)
    gif = await get(http, base + ".gif", ann.access_token)

    assert unknown.status_code == 404
    assert gif.status_code == 404


async def test_redeemed_voucher_has_no_qr_and_its_image_is_gone(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn, http: httpx.AsyncClient
) -> None:
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)
    assert (await shop.redeem(cashier.access_token, payload=voucher["qr"]["payload"]))[
        "errors"] == []

    png = await get(http, voucher["qr"]["pngUrl"], ann.access_token)
    svg = await get(http, voucher["qr"]["svgUrl"], ann.access_token)

    assert png.status_code == 410
    assert svg.status_code == 410
    now = await my_voucher(shop, ann.access_token)
    assert now["status"] == "REDEEMED"
    assert now["qr"] is None


async def test_cancelled_and_expired_vouchers_images_are_gone(
    shop: ScannerShop, ann: SignedIn, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    await shop.issue("ann@example.com", title="Cancelled", validDays=30)
    cancelled = await my_voucher(shop, ann.access_token)
    await voucher_cancel(shop.gql, ann.access_token, cancelled["id"])
    await shop.issue("ann@example.com", title="Expiring", validDays=1)
    expiring = (await shop.my_vouchers(ann.access_token, "ACTIVE"))[0]
    clock.advance(days=1, seconds=1)
    token = await fresh_token(shop.gql, "ann@example.com")

    assert (await get(http, cancelled["qr"]["pngUrl"], token)).status_code == 410
    assert (await get(http, expiring["qr"]["pngUrl"], token)).status_code == 410


# Offline verification with the JWKS document ----------------------------------------------


async def jwks_keys(http: httpx.AsyncClient) -> list[jwt.PyJWK]:
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    document = response.json()
    assert document["keys"], document
    for jwk in document["keys"]:
        assert "d" not in jwk, "a private key part is published"
    return [jwt.PyJWK(jwk) for jwk in document["keys"]]


def verify_offline(payload: str, keys: list[jwt.PyJWK]) -> dict[str, Any] | None:
    """What a scanner with only the JWKS document concludes: the claims, or None."""
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(payload, key, algorithms=["EdDSA"])
        except jwt.InvalidSignatureError:
            continue
        return claims
    return None


async def test_qr_payload_verifies_offline_with_the_published_jwks(
    shop: ScannerShop, ann: SignedIn, http: httpx.AsyncClient
) -> None:
    issued = await shop.issue("ann@example.com", validDays=30)
    voucher = await my_voucher(shop, ann.access_token)

    claims = verify_offline(voucher["qr"]["payload"], await jwks_keys(http))

    assert claims is not None
    assert claims["v"] == raw_id(issued["id"])
    assert claims["c"] == issued["code"].replace("-", "")
    assert claims["exp"] == int(datetime.fromisoformat(issued["expiresAt"]).timestamp())


async def test_payload_signed_by_another_key_fails_the_offline_check(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn, http: httpx.AsyncClient
) -> None:
    await shop.issue("ann@example.com")
    voucher = await my_voucher(shop, ann.access_token)
    claims = jwt.decode(voucher["qr"]["payload"], options={"verify_signature": False})
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                        headers={"typ": None})

    assert verify_offline(forged, await jwks_keys(http)) is None
    check = await shop.check(cashier.access_token, payload=forged)
    assert check["reason"]["code"] == "INVALID_SIGNATURE"


# Member card ---------------------------------------------------------------------------------


async def my_card(gql: GraphQLClient, token: str) -> dict[str, Any]:
    data = await gql.data(MY_CARD, token=token)
    card: dict[str, Any] = data["me"]["card"]
    return card


async def scan_card(gql: GraphQLClient, staff_token: str, card_token: str) -> dict[str, Any]:
    data = await gql.data(CARD_SCAN, {"input": {"token": card_token}}, token=staff_token)
    payload: dict[str, Any] = data["memberCardScan"]
    return payload


async def test_member_card_is_a_kzc_token_with_its_qr(
    shop: ScannerShop, ann: SignedIn, clock: ManualClock
) -> None:
    card = await my_card(shop.gql, ann.access_token)

    token = card["token"]
    assert len(token) == 27
    assert token.startswith("KZC")
    assert token.isalnum() and token == token.upper()
    assert card["qr"]["payload"] == token
    assert card["qr"]["svg"].lstrip().startswith("<svg")
    expires_at = datetime.fromisoformat(card["expiresAt"])
    assert 0 < card["refreshInSeconds"] <= 30
    assert (expires_at - clock()).total_seconds() == card["refreshInSeconds"]
    clock.advance(seconds=10)
    later = await my_card(shop.gql, ann.access_token)
    assert later["token"] == token
    assert later["expiresAt"] == card["expiresAt"]
    assert later["refreshInSeconds"] == card["refreshInSeconds"] - 10


async def test_staff_scans_a_member_card_and_sees_first_name_and_points(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn
) -> None:
    adjusted = await shop.gql.data(POINTS_ADJUST, {"input": {
        "member": {"email": "ann@example.com"}, "points": 250, "reason": "Welcome bonus"}},
        token=shop.admin.access_token)
    assert adjusted["pointsAdjust"]["errors"] == []
    card = await my_card(shop.gql, ann.access_token)

    scanned = await scan_card(shop.gql, cashier.access_token, card["token"])

    assert scanned["errors"] == []
    assert scanned["member"]["firstName"] == "Ann"
    assert scanned["member"]["pointsBalance"] == 250


async def test_card_token_is_accepted_for_one_more_step_then_refused_like_a_screenshot(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn, clock: ManualClock
) -> None:
    card = await my_card(shop.gql, ann.access_token)

    clock.advance(seconds=30)
    next_card = await my_card(shop.gql, ann.access_token)
    previous_step = await scan_card(shop.gql, cashier.access_token, card["token"])
    clock.advance(seconds=31)
    screenshot = await scan_card(shop.gql, cashier.access_token, card["token"])
    fresh = await scan_card(shop.gql, cashier.access_token,
                            (await my_card(shop.gql, ann.access_token))["token"])

    assert next_card["token"] != card["token"]
    assert next_card["token"][:19] == card["token"][:19]  # same card, new code
    assert previous_step["errors"] == []
    assert previous_step["member"]["firstName"] == "Ann"
    assert screenshot["member"] is None
    assert [(e["code"], e["field"]) for e in screenshot["errors"]] == [
        ("INVALID_CARD_TOKEN", ["input", "token"])]
    assert fresh["errors"] == []


async def test_card_token_typed_in_lower_case_with_spaces_is_accepted(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn
) -> None:
    card = await my_card(shop.gql, ann.access_token)

    scanned = await scan_card(shop.gql, cashier.access_token, f"  {card['token'].lower()} ")

    assert scanned["errors"] == []
    assert scanned["member"]["firstName"] == "Ann"


async def test_each_member_has_their_own_card(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn, gql: GraphQLClient
) -> None:
    bob = await gql.member(email="bob@example.com", name="Bob Stone")

    ann_card = await my_card(gql, ann.access_token)
    bob_card = await my_card(gql, bob.access_token)

    assert ann_card["token"][:19] != bob_card["token"][:19]
    assert (await scan_card(gql, cashier.access_token, bob_card["token"]))["member"][
        "firstName"] == "Bob"


async def test_tampered_card_code_is_refused(
    shop: ScannerShop, ann: SignedIn, cashier: SignedIn
) -> None:
    token = (await my_card(shop.gql, ann.access_token))["token"]
    last = token[-1]
    tampered = token[:-1] + ("0" if last != "0" else "1")

    scanned = await scan_card(shop.gql, cashier.access_token, tampered)

    assert scanned["member"] is None
    assert [e["code"] for e in scanned["errors"]] == ["INVALID_CARD_TOKEN"]


async def test_members_cannot_scan_member_cards(shop: ScannerShop, ann: SignedIn) -> None:
    card = await my_card(shop.gql, ann.access_token)

    body = await shop.gql.execute(CARD_SCAN, {"input": {"token": card["token"]}},
                                  token=ann.access_token)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_only_the_member_sees_their_card(shop: ScannerShop, ann: SignedIn) -> None:
    me = await shop.gql.data(MY_CARD, token=ann.access_token)

    as_admin = await shop.gql.data(MEMBER_CARD_BY_ID, {"id": me["me"]["id"]},
                                   token=shop.admin.access_token)

    assert as_admin["node"] == {"email": "ann@example.com", "card": None}
