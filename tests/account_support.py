"""Helpers for the account tests: the account mutations, and what the outbox recorded."""

from typing import Any

from strawberry.relay import from_base64

from events import OUTBOX
from tests.support import GraphQLClient, SignedIn

EMAIL_CHANGE = """mutation($input: AccountEmailChangeInput!) { accountEmailChange(input: $input) {
  codeExpiresAt errors { code message field retryAfterSeconds } } }"""
EMAIL_CONFIRM = """mutation($input: AccountEmailChangeConfirmInput!) {
  accountEmailChangeConfirm(input: $input) { member { email } errors { code field } } }"""
PASSWORD_CHANGE = """mutation($input: AccountPasswordChangeInput!) {
  accountPasswordChange(input: $input) { changed sessionsEnded errors { code field } } }"""
RESET_REQUEST = """mutation($input: PasswordResetRequestInput!) {
  passwordResetRequest(input: $input) { accepted errors { code message field } } }"""
RESET_CONFIRM = """mutation($input: PasswordResetConfirmInput!) {
  passwordResetConfirm(input: $input) { reset errors { code field } } }"""
REFRESH = """mutation($input: TokenRefreshInput!) { tokenRefresh(input: $input) {
  accessToken refreshToken errors { code } } }"""
ME = "{ me { id email name } }"


def member_id(global_id: str) -> str:
    return from_base64(global_id)[1]


async def events_of(gql: GraphQLClient, event_type: str, **where: Any) -> list[dict[str, Any]]:
    """The outbox's events of `event_type` (and `where`), oldest first."""
    cursor = gql.state.services.store.collection(OUTBOX).find(
        {"type": event_type, **where}).sort("_id", 1)
    return [doc async for doc in cursor]


async def last_code(gql: GraphQLClient, event_type: str, **where: Any) -> str:
    """The code the newest `event_type` event carries (as the shop's messaging gets it)."""
    found = await events_of(gql, event_type, **where)
    code: str = found[-1]["data"]["code"]
    return code


async def reset_request(gql: GraphQLClient, email: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(RESET_REQUEST, {"input": {"email": email}}))[
        "passwordResetRequest"]
    return payload


NEW_PASSWORD = "a brand new passphrase 7"  # noqa: S105 - a test's password


async def reset_confirm(gql: GraphQLClient, email: str, code: str,
                        password: str = NEW_PASSWORD) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(RESET_CONFIRM, {"input": {
        "email": email, "code": code, "newPassword": password}}))["passwordResetConfirm"]
    return payload


async def refresh(gql: GraphQLClient, member: SignedIn) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(
        REFRESH, {"input": {"refreshToken": member.refresh_token}}))["tokenRefresh"]
    return payload


async def still_signed_in(gql: GraphQLClient, member: SignedIn) -> bool:
    """Whether the member's access token still works."""
    response = await gql.post(ME, token=member.access_token)
    return response.status_code == 200 and "errors" not in response.json()
