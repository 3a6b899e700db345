"""Access tokens resist tampering; refresh tokens rotate, and reuse revokes the sign-in."""

import asyncio
import base64
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from api.state import AppState
from auth.keys import load_key_dir, write_new_key
from auth.roles import Principal, Role
from auth.tokens import AccessTokens, InvalidAccessToken
from tests.support import (
    TEST_CLIENT_ADDRESS,
    GraphQLClient,
    ManualClock,
    manual_clock_ahead_of_wall_clock,
)

ME = "{ me { id email } }"
REFRESH = """mutation($input: TokenRefreshInput!) {
  tokenRefresh(input: $input) {
    accessToken refreshToken accessTokenExpiresAt errors { code message field } } }"""
REVOKE = """mutation($input: TokenRefreshInput!) {
  tokenRevoke(input: $input) { revoked errors { code message field } } }"""


@pytest.fixture
def clock() -> ManualClock:
    # Refresh tokens expire by TTL on the database's wall clock.
    return manual_clock_ahead_of_wall_clock()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _sign(state: AppState, claims: dict[str, Any], **headers: Any) -> str:
    """A token signed with the app's real signing key and kid."""
    assert state.keyring is not None
    signing = state.keyring.signing
    return jwt.encode(
        claims, signing.private_key, algorithm="EdDSA",
        headers={"kid": signing.kid, "typ": "at+jwt", **headers},
    )


async def _me_status(gql: GraphQLClient, token: str) -> int:
    return (await gql.post(ME, token=token)).status_code


async def _refresh(gql: GraphQLClient, refresh_token: str) -> dict[str, Any]:
    data = await gql.data(REFRESH, {"input": {"refreshToken": refresh_token}})
    payload: dict[str, Any] = data["tokenRefresh"]
    return payload


def _codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


# --- access tokens -----------------------------------------------------------------------


async def test_valid_access_token_reads_me(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    me = (await gql.data(ME, token=signed_in.access_token))["me"]
    assert me["email"] == "ann@example.com"


async def test_unsigned_alg_none_token_is_rejected(gql: GraphQLClient, state: AppState) -> None:
    signed_in = await gql.member()
    assert state.keyring is not None
    header = {"alg": "none", "typ": "at+jwt", "kid": state.keyring.signing.kid}
    forged = ".".join([
        _b64url(json.dumps(header).encode()),
        _b64url(json.dumps(_claims(signed_in.access_token)).encode()),
        "",
    ])
    response = await gql.post(ME, token=forged)
    assert response.status_code == 401
    assert "data" not in response.text


async def test_token_signed_by_another_key_with_the_real_kid_is_rejected(
    gql: GraphQLClient, state: AppState
) -> None:
    signed_in = await gql.member()
    assert state.keyring is not None
    forged = jwt.encode(
        _claims(signed_in.access_token), Ed25519PrivateKey.generate(), algorithm="EdDSA",
        headers={"kid": state.keyring.signing.kid, "typ": "at+jwt"},
    )
    assert await _me_status(gql, forged) == 401


async def test_hmac_token_keyed_with_the_public_key_is_rejected(
    gql: GraphQLClient, state: AppState
) -> None:
    """Algorithm confusion: HS256 with the (public) verification key as the secret."""
    signed_in = await gql.member()
    assert state.keyring is not None
    public = state.keyring.signing.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    forged = jwt.encode(
        _claims(signed_in.access_token), public * 2, algorithm="HS256",
        headers={"kid": state.keyring.signing.kid, "typ": "at+jwt"},
    )
    assert await _me_status(gql, forged) == 401


async def test_token_with_unknown_kid_is_rejected(gql: GraphQLClient, state: AppState) -> None:
    signed_in = await gql.member()
    forged = _sign(state, _claims(signed_in.access_token), kid="some-other-key")
    assert await _me_status(gql, forged) == 401


async def test_access_token_works_until_its_lifetime_ends(
    gql: GraphQLClient, clock: ManualClock
) -> None:
    signed_in = await gql.member()
    clock.advance(seconds=899)
    assert await _me_status(gql, signed_in.access_token) == 200
    clock.advance(seconds=2)
    assert await _me_status(gql, signed_in.access_token) == 401


async def test_token_issued_in_the_future_is_rejected(
    gql: GraphQLClient, state: AppState
) -> None:
    signed_in = await gql.member()
    claims = _claims(signed_in.access_token)
    claims["iat"] += 3600
    claims["exp"] += 3600
    assert await _me_status(gql, _sign(state, claims)) == 401


async def test_resigned_unchanged_claims_are_accepted(gql: GraphQLClient, state: AppState) -> None:
    """Control for the tampering tests below: our own signing helper makes valid tokens."""
    signed_in = await gql.member()
    assert await _me_status(gql, _sign(state, _claims(signed_in.access_token))) == 200


WRONG_CLAIMS = [
    ("aud", "someone-else"), ("iss", "https://evil.example"), ("typ", "refresh"),
    ("role", "SUPERUSER"), ("role", "INTEGRATION"),
]
REQUIRED_CLAIMS = ["typ", "iat", "exp", "aud", "iss", "sub", "role"]


async def test_token_with_a_wrong_claim_is_rejected(
    gql: GraphQLClient, state: AppState, subtests: pytest.Subtests
) -> None:
    signed_in = await gql.member()
    for claim, value in WRONG_CLAIMS:
        with subtests.test(claim=claim, value=value):
            claims = {**_claims(signed_in.access_token), claim: value}
            assert await _me_status(gql, _sign(state, claims)) == 401


async def test_token_missing_a_required_claim_is_rejected(
    gql: GraphQLClient, state: AppState, subtests: pytest.Subtests
) -> None:
    signed_in = await gql.member()
    for claim in REQUIRED_CLAIMS:
        with subtests.test(missing=claim):
            claims = _claims(signed_in.access_token)
            del claims[claim]
            assert await _me_status(gql, _sign(state, claims)) == 401


async def test_refresh_token_is_not_an_access_token(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    assert await _me_status(gql, signed_in.refresh_token) == 401


MALFORMED_AUTHORIZATION = [
    "Bearer garbage",
    "Bearer a.b.c",
    "Bearer ",
    "Bearer",
    "Basic YW5uOnBhc3N3b3Jk",
    "Token abc",
    "kz_abc_def",
    "Bearer kz_000000000000_not-a-real-secret",
]


async def test_malformed_or_non_bearer_authorization_is_rejected(
    gql: GraphQLClient, subtests: pytest.Subtests
) -> None:
    for authorization in MALFORMED_AUTHORIZATION:
        with subtests.test(authorization=authorization):
            response = await gql.http.post(
                "/graphql", json={"query": "{ __typename }"},
                headers={"authorization": authorization},
            )
            assert response.status_code == 401
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_non_bearer_scheme_with_a_valid_token_is_rejected(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    response = await gql.http.post(
        "/graphql", json={"query": ME},
        headers={"authorization": f"Basic {signed_in.access_token}"},
    )
    assert response.status_code == 401


async def test_bearer_scheme_is_case_insensitive(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    response = await gql.http.post(
        "/graphql", json={"query": ME},
        headers={"authorization": f"bearer {signed_in.access_token}"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["me"]["email"] == "ann@example.com"


# --- JWKS and key rotation ---------------------------------------------------------------


async def test_jwks_document_verifies_an_issued_token_offline(
    gql: GraphQLClient, settings: Settings, clock: ManualClock
) -> None:
    signed_in = await gql.member()
    response = await gql.http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    document = response.json()
    assert all("d" not in key for key in document["keys"]), "private key material published"

    kid = jwt.get_unverified_header(signed_in.access_token)["kid"]
    key = jwt.PyJWKSet.from_dict(document)[kid]
    claims = jwt.decode(
        signed_in.access_token, key, algorithms=["EdDSA"], audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        # The token's times come from the test's manual clock, not the wall clock.
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["typ"] == "access"
    assert claims["exp"] > clock().timestamp()

    header, _, signature = signed_in.access_token.split(".")
    other_claims = _b64url(json.dumps({**claims, "sub": "someone-else"}).encode())
    tampered = f"{header}.{other_claims}.{signature}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, key, algorithms=["EdDSA"], audience=settings.jwt_audience,
                   options={"verify_exp": False, "verify_iat": False})


def test_old_key_verifies_its_tokens_after_rotation_until_they_expire(tmp_path: Path) -> None:
    lifetime = timedelta(minutes=15)
    key_dir = tmp_path / "keys"
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    write_new_key(key_dir, now=start)

    def tokens_at(now: datetime) -> AccessTokens:
        return AccessTokens(
            keyring=load_key_dir(key_dir, now=now, token_lifetime=lifetime),
            issuer="kizuna", audience="kizuna-api", lifetime=lifetime, clock=lambda: now,
        )

    principal = Principal(subject_id="account-1", role=Role.MEMBER)
    rotated_at = start + timedelta(hours=1)
    old_token = tokens_at(rotated_at - timedelta(minutes=1)).issue(principal).token
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    write_new_key(key_dir, now=rotated_at)
    after_rotation = tokens_at(rotated_at + timedelta(minutes=5))
    new_token = after_rotation.issue(principal).token
    assert jwt.get_unverified_header(new_token)["kid"] != old_kid
    assert after_rotation.verify(old_token).subject_id == "account-1"
    assert after_rotation.verify(new_token).subject_id == "account-1"
    keyring = load_key_dir(key_dir, now=rotated_at + timedelta(minutes=5), token_lifetime=lifetime)
    assert old_kid in {key["kid"] for key in keyring.jwks()["keys"]}

    # Once every token the old key signed has expired, the old key is no longer trusted.
    later = rotated_at + lifetime + timedelta(seconds=1)
    keyring = load_key_dir(key_dir, now=later, token_lifetime=lifetime)
    assert keyring.verifying_key(old_kid) is None
    assert [key["kid"] for key in keyring.jwks()["keys"]] == [keyring.signing.kid]
    resigned = jwt.encode(
        _claims(old_token), Ed25519PrivateKey.generate(), algorithm="EdDSA",
        headers={"kid": old_kid},
    )
    with pytest.raises(InvalidAccessToken):
        tokens_at(later).verify(resigned)


async def test_server_restarted_with_a_rotated_key_accepts_tokens_of_the_old_key(
    gql: GraphQLClient, settings: Settings, clock: ManualClock, state: AppState
) -> None:
    signed_in = await gql.member()
    assert state.keyring is not None
    old_kid = state.keyring.signing.kid
    clock.advance(minutes=1)
    write_new_key(settings.data_dir / "keys", now=clock())
    clock.advance(minutes=1)

    restarted = create_app(settings, clock=clock)
    async with restarted.router.lifespan_context(restarted):
        restarted_state: AppState = restarted.state.kizuna
        assert restarted_state.keyring is not None
        assert restarted_state.keyring.signing.kid != old_kid
        async with _client(restarted) as http:
            old = await http.post("/graphql", json={"query": ME},
                                  headers={"authorization": f"Bearer {signed_in.access_token}"})
            assert old.status_code == 200, old.text
            assert old.json()["data"]["me"]["email"] == "ann@example.com"
            refreshed = await http.post(
                "/graphql",
                json={"query": REFRESH, "variables": {"input": {
                    "refreshToken": signed_in.refresh_token}}},
            )
            new_access = refreshed.json()["data"]["tokenRefresh"]["accessToken"]
            new_kid = jwt.get_unverified_header(new_access)["kid"]
            assert new_kid == restarted_state.keyring.signing.kid
            jwks = (await http.get("/.well-known/jwks.json")).json()
            assert {old_kid, restarted_state.keyring.signing.kid} <= {
                key["kid"] for key in jwks["keys"]
            }


def _client(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(TEST_CLIENT_ADDRESS, 40001))
    return httpx.AsyncClient(transport=transport, base_url="http://kizuna.test")


# --- refresh tokens ----------------------------------------------------------------------


async def test_refresh_returns_a_new_working_pair(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    refreshed = await _refresh(gql, signed_in.refresh_token)
    assert refreshed["errors"] == []
    assert refreshed["refreshToken"] not in (None, signed_in.refresh_token)
    assert refreshed["accessToken"] is not None
    me = (await gql.data(ME, token=refreshed["accessToken"]))["me"]
    assert me["email"] == "ann@example.com"
    again = await _refresh(gql, refreshed["refreshToken"])
    assert again["errors"] == []


async def test_refreshed_access_token_carries_a_new_expiry(
    gql: GraphQLClient, clock: ManualClock
) -> None:
    signed_in = await gql.member()
    clock.advance(minutes=10)
    refreshed = await _refresh(gql, signed_in.refresh_token)
    clock.advance(minutes=10)
    assert await _me_status(gql, signed_in.access_token) == 401
    assert await _me_status(gql, refreshed["accessToken"]) == 200


async def test_reused_refresh_token_is_rejected_and_revokes_its_family(
    gql: GraphQLClient,
) -> None:
    signed_in = await gql.member()
    first = await _refresh(gql, signed_in.refresh_token)
    assert first["errors"] == []

    reused = await _refresh(gql, signed_in.refresh_token)
    assert _codes(reused) == ["INVALID_TOKEN"]
    assert reused["errors"][0]["field"] == ["input", "refreshToken"]
    assert reused["accessToken"] is None and reused["refreshToken"] is None

    # The newest token of that family was never used, but the family is now revoked.
    newest = await _refresh(gql, first["refreshToken"])
    assert _codes(newest) == ["INVALID_TOKEN"]


async def test_unknown_refresh_token_is_invalid(gql: GraphQLClient) -> None:
    await gql.member()
    payload = await _refresh(gql, "not-a-token-we-issued")
    assert _codes(payload) == ["INVALID_TOKEN"]


async def test_expired_refresh_token_is_invalid(
    gql: GraphQLClient, clock: ManualClock, settings: Settings
) -> None:
    signed_in = await gql.member()
    clock.advance(seconds=settings.refresh_token_ttl_seconds + 1)
    assert _codes(await _refresh(gql, signed_in.refresh_token)) == ["INVALID_TOKEN"]


async def test_concurrent_refreshes_of_one_token_let_exactly_one_succeed(
    gql: GraphQLClient,
) -> None:
    signed_in = await gql.member()
    results = await asyncio.gather(*[_refresh(gql, signed_in.refresh_token) for _ in range(10)])
    succeeded = [r for r in results if r["errors"] == []]
    failed = [r for r in results if r["errors"]]
    assert len(succeeded) == 1
    assert succeeded[0]["accessToken"] and succeeded[0]["refreshToken"]
    assert len(failed) == 9
    assert {code for r in failed for code in _codes(r)} == {"INVALID_TOKEN"}
    assert all(r["refreshToken"] is None for r in failed)


async def test_sign_out_revokes_the_refresh_token(gql: GraphQLClient) -> None:
    signed_in = await gql.member()
    refreshed = await _refresh(gql, signed_in.refresh_token)
    revoked = (await gql.data(REVOKE, {"input": {"refreshToken": refreshed["refreshToken"]}}))
    assert revoked["tokenRevoke"] == {"revoked": True, "errors": []}
    assert _codes(await _refresh(gql, refreshed["refreshToken"])) == ["INVALID_TOKEN"]


async def test_sign_out_with_an_unknown_token_reports_invalid_token(gql: GraphQLClient) -> None:
    revoked = await gql.data(REVOKE, {"input": {"refreshToken": "never-issued"}})
    assert revoked["tokenRevoke"]["revoked"] is False
    assert _codes(revoked["tokenRevoke"]) == ["INVALID_TOKEN"]


async def test_signing_out_one_device_leaves_another_sign_in_working(gql: GraphQLClient) -> None:
    phone = await gql.member()
    laptop = await gql.sign_in("ann@example.com")
    assert laptop["errors"] == []

    revoked = await gql.data(REVOKE, {"input": {"refreshToken": phone.refresh_token}})
    assert revoked["tokenRevoke"]["revoked"] is True
    assert _codes(await _refresh(gql, phone.refresh_token)) == ["INVALID_TOKEN"]

    refreshed = await _refresh(gql, laptop["refreshToken"])
    assert refreshed["errors"] == []
    assert await _me_status(gql, refreshed["accessToken"]) == 200


async def test_reuse_in_one_family_does_not_revoke_another(gql: GraphQLClient) -> None:
    phone = await gql.member()
    laptop = await gql.sign_in("ann@example.com")
    await _refresh(gql, phone.refresh_token)
    assert _codes(await _refresh(gql, phone.refresh_token)) == ["INVALID_TOKEN"]
    assert (await _refresh(gql, laptop["refreshToken"]))["errors"] == []


# --- ended sign-ins ----------------------------------------------------------------------


async def test_access_token_stops_working_when_its_sign_in_is_revoked(
    gql: GraphQLClient,
) -> None:
    phone = await gql.member()
    laptop = await gql.sign_in("ann@example.com")
    assert await _me_status(gql, phone.access_token) == 200

    await gql.data(REVOKE, {"input": {"refreshToken": phone.refresh_token}})

    response = await gql.post(ME, token=phone.access_token)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "This sign-in has ended; sign in again."
    qr = await gql.http.get("/vouchers/nothing/qr.svg",
                            headers={"authorization": f"Bearer {phone.access_token}"})
    assert qr.status_code == 401
    assert await _me_status(gql, laptop["accessToken"]) == 200


async def test_a_reused_refresh_token_ends_every_access_token_of_its_sign_in(
    gql: GraphQLClient,
) -> None:
    signed_in = await gql.member()
    stolen_pair = await _refresh(gql, signed_in.refresh_token)
    assert await _me_status(gql, stolen_pair["accessToken"]) == 200

    assert _codes(await _refresh(gql, signed_in.refresh_token)) == ["INVALID_TOKEN"]

    assert await _me_status(gql, stolen_pair["accessToken"]) == 401
    assert await _me_status(gql, signed_in.access_token) == 401


@contextlib.asynccontextmanager
async def _instance(settings: Settings, clock: ManualClock) -> AsyncIterator[GraphQLClient]:
    """Another server instance on the same database."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(TEST_CLIENT_ADDRESS, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kizuna.test") as http:
            yield GraphQLClient(http, app.state.kizuna)


async def test_another_instance_refuses_a_revoked_sign_in_from_its_next_look(
    gql: GraphQLClient, settings: Settings, clock: ManualClock
) -> None:
    signed_in = await gql.member()
    async with _instance(settings, clock) as other:
        assert await _me_status(other, signed_in.access_token) == 200

        await gql.data(REVOKE, {"input": {"refreshToken": signed_in.refresh_token}})
        # Until it looks (every KIZUNA_SESSION_SYNC_SECONDS), the other instance has not
        # heard of it; then it refuses the token as well.
        assert await _me_status(other, signed_in.access_token) == 200
        await other.state.services.authenticator.revocations.sync()
        assert await _me_status(other, signed_in.access_token) == 401

    # A server started after the sign-out knows of it from the start.
    async with _instance(settings, clock) as later:
        assert await _me_status(later, signed_in.access_token) == 401


async def test_instances_look_for_revoked_sign_ins_on_their_own(
    gql: GraphQLClient, settings: Settings, clock: ManualClock
) -> None:
    signed_in = await gql.member()
    polling = dataclasses.replace(settings, session_sync_seconds=1)
    async with _instance(polling, clock) as other:
        assert await _me_status(other, signed_in.access_token) == 200
        await gql.data(REVOKE, {"input": {"refreshToken": signed_in.refresh_token}})
        statuses = []
        for _ in range(30):  # up to 3 s for a look that comes every second
            statuses.append(await _me_status(other, signed_in.access_token))
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.1)
        assert statuses[-1] == 401, statuses


async def test_an_ended_sign_in_is_forgotten_once_its_tokens_have_expired(
    state: AppState, clock: ManualClock, settings: Settings
) -> None:
    # With no other instance to hear from (no sync), the record must not grow forever.
    revocations = state.services.authenticator.revocations
    await revocations.revoke("old-sign-in")
    assert revocations.is_revoked("old-sign-in")

    clock.advance(seconds=settings.access_token_ttl_seconds + 1)
    await revocations.revoke("new-sign-in")

    assert not revocations.is_revoked("old-sign-in")
    assert revocations.is_revoked("new-sign-in")
