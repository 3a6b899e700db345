"""End to end: GraphiQL at GET /graphql in headless Chromium, with no internet.

The real app runs under uvicorn in the test's event loop; every request the browser makes to
another origin is aborted (and recorded: the test fails if there was any), so the page must
load everything from the server itself. A member signs in over HTTP; in the browser, the
documentation explorer shows a field's description, and a query run from the editor with
the member's token in the Headers tab answers with the member's profile. With the
trusted-documents allow-list on, GraphiQL's own requests are exempt (they carry the page's
URL as Referer), which only a real browser shows. Screenshots go to test-artifacts/
(KIZUNA_TEST_ARTIFACTS moves the directory).
"""

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.settings import PersistedOperationSettings, Settings, TrustedDocuments
from store import connect
from tests.browser_support import (
    artifacts_dir,
    chromium,
    desktop_page,
    live_server,
    require_browser,
)
from tests.persisted_support import error_code
from tests.support import GraphQLClient, SignedIn

if TYPE_CHECKING:  # playwright is imported lazily so that a missing package can skip
    from playwright.async_api import Page, Request, Route

MEMBER_EMAIL = "ann@example.com"
SUBSCRIPTION_ATTEMPTS = 10
ME_QUERY = "query Me {\n  me {\n    email\n    name\n  }\n}\n"


VOUCHER_ISSUE = """mutation($input: VoucherIssueInput!) { voucherIssue(input: $input) {
  voucher { id } errors { code message field } } }"""
MEMBER_EVENTS = "subscription Live {\n  memberEvents {\n    type\n    voucher { title }\n  }\n}\n"


@dataclass
class Server:
    url: str
    gql: GraphQLClient
    admin: SignedIn
    member: SignedIn

    async def issue_voucher(self, title: str) -> None:
        data = await self.gql.data(VOUCHER_ISSUE, {"input": {
            "member": {"email": MEMBER_EMAIL}, "kind": "AMOUNT_OFF", "title": title,
            "amountOff": 500, "currency": "EUR", "validDays": 30,
        }}, token=self.admin.access_token)
        assert data["voucherIssue"]["errors"] == [], data


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    require_browser()  # before the expensive part
    app: Starlette = create_app(settings)
    try:
        async with live_server(app) as live, httpx.AsyncClient(
            base_url=live.url, timeout=30
        ) as http:
            gql = GraphQLClient(http, app.state.kizuna)
            admin = await gql.admin()
            member = await gql.member(MEMBER_EMAIL, "Ann")
            yield Server(live.url, gql, admin, member)
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        try:
            await database.client.drop_database(settings.database)
        finally:
            await database.close()


@pytest.fixture
async def allow_list_url(settings: Settings) -> AsyncIterator[str]:
    """A server with KIZUNA_TRUSTED_DOCUMENTS=allow-list and the default exemptions
    (administrators and GraphiQL), outside production; no operation is listed."""
    require_browser()
    locked = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        trusted_documents=TrustedDocuments.ALLOW_LIST))
    try:
        async with live_server(create_app(locked)) as live:
            yield live.url
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        try:
            await database.client.drop_database(settings.database)
        finally:
            await database.close()


class Offline:
    """Aborts every request to another origin than the server's, and remembers it."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.elsewhere: list[str] = []
        self.own: list[str] = []

    async def route(self, route: "Route") -> None:
        url = route.request.url
        if _origin(url) == self.origin:
            self.own.append(url)
            await route.continue_()
        else:
            self.elsewhere.append(url)
            await route.abort("internetdisconnected")

    def requested(self, request: "Request") -> None:
        """Every request the page started (data: URLs never reach route handlers)."""
        if not request.url.startswith("data:") and _origin(request.url) != self.origin:
            self.elsewhere.append(request.url)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _use_token(page: "Page", token: str) -> None:
    """Put `Authorization: Bearer <token>` in GraphiQL's Headers tab."""
    await page.get_by_role("button", name="Headers", exact=True).click()
    await _replace_editor_text(
        page, ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
        json.dumps({"Authorization": f"Bearer {token}"}),
    )


async def _replace_editor_text(page: "Page", editor: str, text: str) -> None:
    """Type into one of GraphiQL's CodeMirror editors as a person would paste."""
    await page.locator(f"{editor} .CodeMirror").click()
    await page.keyboard.press("Control+A")
    await page.keyboard.insert_text(text)  # no key events: no auto-closed brackets


async def test_graphiql_works_offline_shows_field_docs_and_runs_a_query_with_a_token(
    server: Server,
) -> None:
    from playwright.async_api import expect

    offline = Offline(_origin(server.url))
    async with chromium(None) as browser, desktop_page(
        browser, server.url, screenshot_on_failure="graphiql-failure"
    ) as (page, problems):
        await page.context.route("**/*", offline.route)
        page.on("request", offline.requested)

        await page.goto(f"/graphql?q={quote(ME_QUERY)}")
        await expect(page.locator(".graphiql-container .graphiql-query-editor")).to_be_visible()
        await expect(page.get_by_text("Loading...", exact=True)).to_have_count(0)
        # The explorer plugin lists the root fields to tick.
        await page.get_by_role("button", name="Show GraphiQL Explorer").click()
        explorer = page.locator(".graphiql-explorer-root")
        await expect(explorer).to_contain_text("programmeStats")
        await page.screenshot(path=str(artifacts_dir() / "graphiql-explorer.png"))

        # Documentation: Query → me, with its description from the schema.
        await page.get_by_role("button", name="Show Documentation Explorer").click()
        docs = page.locator(".graphiql-doc-explorer")
        await docs.get_by_role("link", name="Query", exact=True).click()
        await docs.get_by_role("link", name="me", exact=True).click()
        await expect(docs.locator(".graphiql-doc-explorer-title")).to_have_text("me")
        await expect(docs).to_contain_text("The signed-in member's profile.")
        await page.screenshot(path=str(artifacts_dir() / "graphiql-docs.png"))

        # A query from the editor (opened from a ?q= link), the token in Headers.
        await expect(page.locator(".graphiql-query-editor")).to_contain_text("email")
        await _use_token(page, server.member.access_token)
        await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
        response = page.locator(".graphiql-response")
        await expect(response).to_contain_text(MEMBER_EMAIL)
        await expect(response).to_contain_text('"name": "Ann"')
        await page.screenshot(path=str(artifacts_dir() / "graphiql-query.png"))

        assert offline.elsewhere == []
        assert any("/graphiql/assets/vendor/graphiql.min.js" in url for url in offline.own)
        assert await problems.all(page) == []


async def test_a_subscription_from_graphiql_uses_the_token_of_the_headers_tab(
    server: Server,
) -> None:
    """GraphiQL opens a WebSocket and sends the Headers tab as connection_init's payload,
    with `Authorization` capitalised as people write it."""
    from playwright.async_api import expect

    offline = Offline(_origin(server.url))
    async with chromium(None) as browser, desktop_page(
        browser, server.url, screenshot_on_failure="graphiql-subscription-failure"
    ) as (page, problems):
        await page.context.route("**/*", offline.route)
        page.on("request", offline.requested)
        await page.goto(f"/graphql?q={quote(MEMBER_EVENTS)}")
        await expect(page.locator(".graphiql-query-editor")).to_contain_text("memberEvents")

        await _use_token(page, server.member.access_token)
        await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
        stop = page.get_by_role("button", name="Stop query (Ctrl-Enter)")
        await expect(stop).to_be_visible()  # subscribing, waiting for events
        response = page.locator(".graphiql-response")
        # "Stop" shows before the server has the subscription: an event written in between
        # is not sent, so vouchers are issued until one arrives.
        for attempt in range(SUBSCRIPTION_ATTEMPTS):
            await server.issue_voucher(f"Welcome gift {attempt}")
            with contextlib.suppress(AssertionError):
                await expect(response).to_contain_text("VOUCHER_ISSUED", timeout=1_000)
                break
        await expect(response).to_contain_text("VOUCHER_ISSUED")
        await expect(response).to_contain_text("Welcome gift")
        await page.screenshot(path=str(artifacts_dir() / "graphiql-subscription.png"))
        await stop.click()

        assert offline.elsewhere == []
        assert await problems.all(page) == []


async def test_graphiql_runs_unlisted_operations_under_the_allow_list(
    allow_list_url: str,
) -> None:
    """GraphiQL is exempt from the allow-list by default: its page's Referrer-Policy must let
    its requests carry the page's URL, or nothing typed in the editor would run."""
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=allow_list_url, timeout=30) as http:
        refused = await http.post("/graphql", json={"query": "{ __typename }"})
    assert error_code(refused) == "PERSISTED_QUERY_NOT_TRUSTED"  # not listed, no Referer

    referers: list[str | None] = []
    async with chromium(None) as browser, desktop_page(
        browser, allow_list_url, screenshot_on_failure="graphiql-allow-list-failure"
    ) as (page, problems):
        page.on("request", lambda request: referers.append(request.headers.get("referer"))
                if request.method == "POST" and urlsplit(request.url).path == "/graphql"
                else None)
        await page.goto("/graphql")  # the default query: { __typename }
        await expect(page.locator(".graphiql-query-editor")).to_contain_text("__typename")
        await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
        response = page.locator(".graphiql-response")
        await expect(response).to_contain_text('"__typename": "Query"')
        await expect(response).not_to_contain_text("PERSISTED_QUERY_NOT_TRUSTED")

        assert referers and set(referers) == {f"{allow_list_url}/graphql"}
        assert await problems.all(page) == []
