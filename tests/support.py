"""Helpers for driving the API as a client would: GraphQL over HTTP."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.state import AppState
from auth.accounts import Account, create_admin

TEST_CLIENT_ADDRESS = "203.0.113.7"
DEFAULT_PASSWORD = "correct horse battery staple"


class ManualClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class SignedIn:
    access_token: str
    refresh_token: str
    account_id: str | None = None


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, state: AppState) -> None:
        self.http = http
        self.state = state

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The JSON body of a 200 response (data and maybe errors)."""
        response = await self.post(query, variables, token=token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """`data` of a response that must have no top-level errors."""
        body = await self.execute(query, variables, token=token)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def register(
        self, email: str = "ann@example.com", password: str = DEFAULT_PASSWORD, name: str = "Ann"
    ) -> dict[str, Any]:
        data = await self.data(
            """mutation($input: AccountRegisterInput!) {
                 accountRegister(input: $input) {
                   member { id email name } errors { code message field } } }""",
            {"input": {"email": email, "password": password, "name": name}},
        )
        payload: dict[str, Any] = data["accountRegister"]
        return payload

    async def sign_in(self, email: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
        data = await self.data(
            """mutation($input: TokenCreateInput!) {
                 tokenCreate(input: $input) {
                   accessToken refreshToken errors { code message field retryAfterSeconds } } }""",
            {"input": {"email": email, "password": password}},
        )
        payload: dict[str, Any] = data["tokenCreate"]
        return payload

    async def member(self, email: str = "ann@example.com", name: str = "Ann") -> SignedIn:
        registered = await self.register(email=email, name=name)
        assert registered["errors"] == [], registered
        tokens = await self.sign_in(email)
        assert tokens["errors"] == [], tokens
        return SignedIn(tokens["accessToken"], tokens["refreshToken"])

    async def consent(
        self, member: SignedIn, purpose: str = "PERSONALISATION", granted: bool = True
    ) -> None:
        """Give (or withdraw) the member's consent to `purpose` (personal offers need
        PERSONALISATION)."""
        data = await self.data(
            """mutation($input: ConsentUpdateInput!) { consentUpdate(input: $input) {
                 errors { code message } } }""",
            {"input": {"consents": [{"purpose": purpose, "granted": granted}]}},
            token=member.access_token)
        assert data["consentUpdate"]["errors"] == [], data

    async def admin(self, email: str = "admin@example.com") -> SignedIn:
        services = self.state.services
        account: Account = await create_admin(
            services.store, services.authenticator.passwords, email=email,
            password=DEFAULT_PASSWORD, name="Ada Admin", clock=services.clock,
        )
        tokens = await self.sign_in(email)
        assert tokens["errors"] == [], tokens
        return SignedIn(tokens["accessToken"], tokens["refreshToken"], account.id)


def manual_clock_ahead_of_wall_clock() -> ManualClock:
    """A ManualClock on a whole hour one day ahead of the real time.

    The database expires TTL-indexed documents (sign-in attempt counters, refresh tokens) by
    the wall clock, while the app stamps their `expires_at` with its clock: a manual clock
    behind the wall clock would see its documents vanish mid-test.
    """
    now = datetime.now(UTC) + timedelta(days=1)
    return ManualClock(now.replace(minute=0, second=0, microsecond=0))
