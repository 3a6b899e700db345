"""End to end: store staff use the /scanner page in a real browser on a phone-sized screen.

The real app runs under uvicorn in the test's event loop; Debian's Chromium (driven by
Playwright) films the voucher's QR code through a fake camera fed with a Y4M clip made from
the PNG the member's app would show. Setup and verification go through GraphQL over HTTP.
The receipt screenshot is kept as test-artifacts/scanner-receipt.png (KIZUNA_TEST_ARTIFACTS
moves the directory).
"""

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from store import connect
from tests.browser_support import (
    artifacts_dir,
    chromium,
    live_server,
    phone_page,
    require_browser,
)
from tests.qr_support import decode_qr_png, write_y4m_video
from tests.support import DEFAULT_PASSWORD, GraphQLClient, ManualClock, SignedIn

if TYPE_CHECKING:  # playwright is imported lazily so that a missing package can skip
    from playwright.async_api import Page, Route

STAFF_EMAIL = "sam@example.com"
STORE_NAME = "Paris Opéra"
SCAN_TIMEOUT_MS = 20_000
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TRUSTED_TYPES_BLOCK_HTML = """() => {
  try { document.createElement("div").innerHTML = "<b>x</b>"; return false; }
  catch (error) { return error instanceof TypeError; } }"""

STORE_CREATE = """mutation($input: StoreCreateInput!) { storeCreate(input: $input) {
  store { id code name } errors { code message field } } }"""
STAFF_CREATE = """mutation($input: StaffCreateInput!) { staffCreate(input: $input) {
  staff { id } errors { code message field } } }"""
VOUCHER_ISSUE = """mutation($input: VoucherIssueInput!) { voucherIssue(input: $input) {
  voucher { id code } errors { code message field } } }"""
MY_VOUCHERS = """{ me { vouchers(first: 10) { edges { node {
  id code status qr { payload pngUrl svg } } } } } }"""


@dataclass
class Shop:
    """A running app with a store, a staff member of it, and a member called Ann."""

    url: str
    clock: ManualClock
    http: httpx.AsyncClient
    gql: GraphQLClient
    admin: SignedIn
    member: SignedIn

    async def issue_voucher(self, *, title: str, amount_off: int) -> dict[str, Any]:
        data = await self.gql.data(VOUCHER_ISSUE, {"input": {
            "member": {"email": "ann@example.com"}, "kind": "AMOUNT_OFF", "title": title,
            "amountOff": amount_off, "currency": "EUR", "validDays": 30,
        }}, token=self.admin.access_token)
        payload: dict[str, Any] = data["voucherIssue"]
        assert payload["errors"] == [], payload
        voucher: dict[str, Any] = payload["voucher"]
        return voucher

    async def members_voucher(self, voucher_id: str) -> dict[str, Any]:
        """The voucher as the member's app sees it (status, code, QR)."""
        data = await self.gql.data(MY_VOUCHERS, token=self.member.access_token)
        nodes = [edge["node"] for edge in data["me"]["vouchers"]["edges"]]
        node: dict[str, Any] = next(node for node in nodes if node["id"] == voucher_id)
        return node

    async def advance_clock(self, **delta: float) -> None:
        """Move the server's clock; the member's app signs in again (its token expired)."""
        self.clock.advance(**delta)
        tokens = await self.gql.sign_in("ann@example.com")
        self.member = SignedIn(tokens["accessToken"], tokens["refreshToken"])

    async def qr_png(self, voucher: dict[str, Any]) -> bytes:
        response = await self.http.get(
            voucher["qr"]["pngUrl"],
            headers={"authorization": f"Bearer {self.member.access_token}"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        return response.content


@pytest.fixture
async def shop(settings: Settings, clock: ManualClock) -> AsyncIterator[Shop]:
    require_browser()  # before the expensive part
    app: Starlette = create_app(settings, clock=clock)
    try:
        async with live_server(app) as server, httpx.AsyncClient(
            base_url=server.url, timeout=30
        ) as http:
            gql = GraphQLClient(http, app.state.kizuna)
            admin = await gql.admin()
            store = await gql.data(STORE_CREATE, {"input": {
                "code": "PARIS-01", "name": STORE_NAME, "timezone": "Europe/Paris",
            }}, token=admin.access_token)
            assert store["storeCreate"]["errors"] == [], store
            staff = await gql.data(STAFF_CREATE, {"input": {
                "email": STAFF_EMAIL, "password": DEFAULT_PASSWORD, "name": "Sam",
                "store": store["storeCreate"]["store"]["id"],
            }}, token=admin.access_token)
            assert staff["staffCreate"]["errors"] == [], staff
            member = await gql.member()
            yield Shop(server.url, clock, http, gql, admin, member)
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        try:
            await database.client.drop_database(settings.database)
        finally:
            await database.close()


async def _sign_in(page: "Page", email: str, password: str = DEFAULT_PASSWORD) -> None:
    await page.get_by_test_id("signin-email").fill(email)
    await page.get_by_test_id("signin-password").fill(password)
    await page.get_by_test_id("signin-submit").click()


def _mistyped(code: str) -> str:
    """The code with one symbol replaced by another (the check symbol catches it)."""
    canonical = code.replace("-", "")
    wrong = CODE_ALPHABET[(CODE_ALPHABET.index(canonical[5]) + 7) % len(CODE_ALPHABET)]
    return canonical[:5] + wrong + canonical[6:]


async def test_staff_scans_a_voucher_qr_with_the_phone_camera_and_redeems_it_once(
    shop: Shop, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    issued = await shop.issue_voucher(title="€5 off", amount_off=500)
    voucher = await shop.members_voucher(issued["id"])
    png = await shop.qr_png(voucher)
    assert decode_qr_png(png) == [voucher["qr"]["payload"]]
    video = tmp_path / "voucher-qr.y4m"
    write_y4m_video(png, video)

    async with chromium(video) as browser, phone_page(
        browser, shop.url, screenshot_on_failure="scanner-camera-failure"
    ) as (page, problems):
        await page.goto("/scanner")
        await _sign_in(page, STAFF_EMAIL)

        card = page.get_by_test_id("result-card")
        await expect(card).to_have_attribute("data-state", "valid", timeout=SCAN_TIMEOUT_MS)
        await expect(page.get_by_test_id("result-status")).to_have_text("VALID")
        await expect(page.get_by_test_id("result-summary")).to_have_text("€5.00 off")
        await expect(page.get_by_test_id("result-member")).to_contain_text("for Ann")
        await expect(page.get_by_test_id("camera-video")).to_be_hidden()  # camera stopped
        await page.screenshot(path=str(artifacts_dir() / "scanner-valid.png"), full_page=True)

        await page.get_by_test_id("order-reference").fill("POS-1001")
        await page.get_by_test_id("order-total").fill("42.50")
        await page.get_by_test_id("redeem-submit").click()

        await expect(page.get_by_test_id("receipt")).to_be_visible()
        await expect(page.get_by_test_id("receipt-title")).to_have_text("€5 off")
        await expect(page.get_by_test_id("receipt-discount")).to_have_text("€5.00 off")
        await expect(page.get_by_test_id("receipt-order")).to_have_text("POS-1001")
        await expect(page.get_by_test_id("receipt-total")).to_have_text("€42.50")
        await expect(page.get_by_test_id("receipt-store")).to_contain_text(STORE_NAME)
        await expect(page.get_by_test_id("receipt-time")).not_to_be_empty()
        await page.screenshot(path=str(artifacts_dir() / "scanner-receipt.png"), full_page=True)
        assert (await shop.members_voucher(issued["id"]))["status"] == "REDEEMED"

        # The next customer shows the same QR: refused, saying when and where it was used.
        await page.get_by_test_id("next-customer").click()
        await expect(card).to_have_attribute("data-state", "invalid", timeout=SCAN_TIMEOUT_MS)
        reason = page.get_by_test_id("result-reason")
        await expect(reason).to_contain_text("Already redeemed on")
        await expect(reason).to_contain_text(f"at {STORE_NAME}")
        await expect(page.get_by_test_id("redeem-form")).to_be_hidden()
        await page.screenshot(
            path=str(artifacts_dir() / "scanner-already-redeemed.png"), full_page=True
        )

        assert await problems.all(page) == []


async def test_staff_redeems_a_typed_code_and_a_mistyped_one_is_refused(shop: Shop) -> None:
    from playwright.async_api import expect

    issued = await shop.issue_voucher(title="€10 off", amount_off=1000)
    code = issued["code"].replace("-", "")

    async with chromium(None) as browser, phone_page(
        browser, shop.url, screenshot_on_failure="scanner-typed-code-failure"
    ) as (page, problems):
        refreshes: list[str] = []
        page.on("request", lambda request: refreshes.extend(
            [request.url] if "tokenRefresh" in (request.post_data or "") else []
        ))
        await page.goto("/scanner")
        await _sign_in(page, STAFF_EMAIL, "not the password")
        await expect(page.get_by_test_id("signin-error")).to_have_text("Wrong email or password.")
        await _sign_in(page, "ann@example.com")  # a member, not staff
        await expect(page.get_by_test_id("signin-error")).to_have_text(
            "This is not a staff account — sign in with your staff account."
        )
        assert await page.evaluate("sessionStorage.length") == 0
        await _sign_in(page, STAFF_EMAIL)
        await expect(page.get_by_test_id("scan-view")).to_be_visible()
        await expect(page.get_by_test_id("staff-name")).to_have_text("Sam")
        await expect(page.get_by_test_id("store-name")).to_have_text(f"{STORE_NAME} · PARIS-01")
        await expect(page.get_by_test_id("camera-video")).to_be_visible()  # a test pattern
        await page.screenshot(path=str(artifacts_dir() / "scanner-scan.png"))

        await page.get_by_test_id("code-input").fill(_mistyped(code))
        await page.get_by_test_id("code-submit").click()
        card = page.get_by_test_id("result-card")
        await expect(card).to_have_attribute("data-state", "invalid")
        await expect(page.get_by_test_id("result-reason")).to_have_text("Code mistyped — check it")
        await expect(page.get_by_test_id("redeem-form")).to_be_hidden()
        assert (await shop.members_voucher(issued["id"]))["status"] != "REDEEMED"

        # Back to the form with the typo still there to fix; case, spaces and dashes are fine.
        # Meanwhile the access token expires: the page renews it with the refresh token.
        await shop.advance_clock(minutes=20)
        await page.get_by_test_id("result-dismiss").click()
        await expect(page.get_by_test_id("code-input")).to_have_value(_mistyped(code))
        await page.get_by_test_id("code-input").fill(
            f"{code[:4].lower()} {code[4:8]}-{code[8:12].lower()} {code[12:]}"
        )
        await page.get_by_test_id("code-submit").click()
        await expect(card).to_have_attribute("data-state", "valid")
        await expect(page.get_by_test_id("result-summary")).to_have_text("€10.00 off")
        assert len(refreshes) == 1  # the expired access token was renewed once

        # The first answer to the redemption is lost on the way back (the server did redeem):
        # the page retries with the same idempotency key and gets the first result again.
        redeems: list[dict[str, Any]] = []

        async def lose_first_answer(route: "Route") -> None:
            body = json.loads(route.request.post_data or "{}")
            if "voucherRedeem" not in body.get("query", ""):
                await route.continue_()
                return
            redeems.append(body["variables"]["input"])
            if len(redeems) == 1:
                await route.fetch()
                await route.abort("connectionreset")
            else:
                await route.continue_()

        await page.route("**/graphql", lose_first_answer)
        await page.get_by_test_id("order-reference").fill("POS-2002")
        await page.get_by_test_id("order-total").fill("19,99")
        await page.get_by_test_id("redeem-submit").click()
        await expect(page.get_by_test_id("receipt-total")).to_have_text("€19.99")
        await expect(page.get_by_test_id("receipt-note")).to_contain_text("already recorded")
        await page.unroute("**/graphql")
        assert len(redeems) == 2
        assert redeems[0] == redeems[1]  # same key, same checkout
        assert redeems[0]["orderTotal"] == 1999
        assert re.fullmatch(r"[0-9a-f-]{36}", redeems[0]["idempotencyKey"])
        await expect(page.get_by_test_id("receipt-code")).to_have_text(
            "-".join(code[i : i + 4] for i in range(0, len(code), 4))
        )
        assert (await shop.members_voucher(issued["id"]))["status"] == "REDEEMED"

        await page.get_by_test_id("next-customer").click()
        await expect(page.get_by_test_id("code-input")).to_have_value("")
        await page.reload()  # the sign-in lasts as long as the tab
        await expect(page.get_by_test_id("scan-view")).to_be_visible()
        await expect(page.get_by_test_id("staff-name")).to_have_text("Sam")
        await page.get_by_test_id("signout").click()
        await expect(page.get_by_test_id("signin-view")).to_be_visible()
        assert await page.evaluate("sessionStorage.length") == 0

        assert await problems.all(page) == []
        # The browser enforces the page's policy: no HTML from strings.
        assert await page.evaluate(TRUSTED_TYPES_BLOCK_HTML) is True
        assert await problems.all(page) == [
            "policy violation: require-trusted-types-for trusted-types-sink"
        ]


async def test_too_many_failed_scans_lock_the_scanner_with_a_countdown(
    shop: Shop, settings: Settings
) -> None:
    from playwright.async_api import expect

    issued = await shop.issue_voucher(title="€5 off", amount_off=500)
    typo = _mistyped(issued["code"])

    async with chromium(None) as browser, phone_page(
        browser, shop.url, screenshot_on_failure="scanner-lockout-failure"
    ) as (page, problems):
        await page.goto("/scanner")
        await _sign_in(page, STAFF_EMAIL)
        card = page.get_by_test_id("result-card")
        for _ in range(settings.scan_max_failures + 1):
            await page.get_by_test_id("code-input").fill(typo)
            await page.get_by_test_id("code-submit").click()
            await expect(page.get_by_test_id("result-view")).to_be_visible()
            await expect(card).to_have_attribute("data-state", re.compile("invalid|locked"))
            if await card.get_attribute("data-state") == "locked":
                break
            await page.get_by_test_id("result-dismiss").click()

        await expect(card).to_have_attribute("data-state", "locked")
        await expect(page.get_by_test_id("result-reason")).to_have_text(
            re.compile(r"Too many failed scans — locked for \d+:[0-5]\d")
        )
        await expect(page.get_by_test_id("result-dismiss")).to_be_disabled()
        await page.screenshot(path=str(artifacts_dir() / "scanner-locked.png"), full_page=True)
        assert (await shop.members_voucher(issued["id"]))["status"] == "ACTIVE"

        assert await problems.all(page) == []
