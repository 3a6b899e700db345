"""Members register, sign in, read `me`, refresh and sign out over GraphQL."""

import asyncio

from tests.support import DEFAULT_PASSWORD, GraphQLClient

ME = "{ me { id email name birthday marketingConsent memberSince } }"


async def test_member_registers_signs_in_and_reads_own_profile(gql: GraphQLClient) -> None:
    registered = await gql.register(email="  Ann@Example.COM ", name="Ann  Smith")
    assert registered["errors"] == []
    assert registered["member"]["email"] == "ann@example.com"

    tokens = await gql.sign_in("ann@example.com")
    assert tokens["errors"] == []
    me = (await gql.data(ME, token=tokens["accessToken"]))["me"]
    assert me["email"] == "ann@example.com"
    assert me["name"] == "Ann Smith"
    assert me["id"] == registered["member"]["id"]


async def test_registration_reports_every_invalid_field_and_creates_nothing(
    gql: GraphQLClient,
) -> None:
    payload = await gql.register(email="not-an-email", password="short", name=" ")
    codes = {(e["code"], tuple(e["field"])) for e in payload["errors"]}
    assert codes == {
        ("INVALID_EMAIL", ("input", "email")),
        ("WEAK_PASSWORD", ("input", "password")),
        ("INVALID_INPUT", ("input", "name")),
    }
    assert payload["member"] is None
    accounts = gql.state.services.store.collection("accounts")
    assert await accounts.count_documents({}) == 0


async def test_guessable_password_is_weak(gql: GraphQLClient) -> None:
    for password in ("password123", "aaaaaaaaaaaa", "annsmith-2026"):
        payload = await gql.register(email="annsmith@example.com", password=password)
        assert [e["code"] for e in payload["errors"]] == ["WEAK_PASSWORD"], password


async def test_duplicate_email_is_rejected_even_when_registered_concurrently(
    gql: GraphQLClient,
) -> None:
    results = await asyncio.gather(
        *[gql.register(email=f"{'ANN' if i % 2 else 'ann'}@example.com") for i in range(8)]
    )
    created = [r for r in results if r["member"]]
    rejected = [r for r in results if r["errors"]]
    assert len(created) == 1
    assert {e["code"] for r in rejected for e in r["errors"]} == {"EMAIL_TAKEN"}
    accounts = gql.state.services.store.collection("accounts")
    assert await accounts.count_documents({}) == 1


async def test_wrong_password_and_unknown_email_look_the_same(gql: GraphQLClient) -> None:
    await gql.member()
    wrong = await gql.sign_in("ann@example.com", "wrong password entirely")
    unknown = await gql.sign_in("nobody@example.com", DEFAULT_PASSWORD)
    assert wrong["errors"] == unknown["errors"]
    assert wrong["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert wrong["accessToken"] is None


async def test_untrusted_token_gets_401_with_a_graphql_shaped_error(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    response = await gql.post(ME, token=signed_in.access_token[:-4] + "AAAA")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_member_signs_out_and_the_refresh_token_stops_working(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    revoke = await gql.data(
        "mutation($t: String!) { tokenRevoke(input: {refreshToken: $t})"
        " { revoked errors { code } } }",
        {"t": signed_in.refresh_token},
    )
    assert revoke["tokenRevoke"] == {"revoked": True, "errors": []}
    refreshed = await gql.data(
        "mutation($t: String!) { tokenRefresh(input: {refreshToken: $t})"
        " { accessToken errors { code } } }",
        {"t": signed_in.refresh_token},
    )
    assert refreshed["tokenRefresh"]["accessToken"] is None
    assert refreshed["tokenRefresh"]["errors"][0]["code"] == "INVALID_TOKEN"
