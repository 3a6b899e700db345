"""Badges over GraphQL: create them, grant them, read a member's."""

from typing import Any

from tests.ledger_support import Shop
from tests.support import SignedIn

BADGE_CREATE = """mutation($input: BadgeCreateInput!) { badgeCreate(input: $input) {
  badge { id name description hint imageUrl active archivedAt } errors { code message field } } }"""
BADGE_UPDATE = """mutation($input: BadgeUpdateInput!) { badgeUpdate(input: $input) {
  badge { id name hint imageUrl } errors { code message field } } }"""
BADGE_ARCHIVE = """mutation($input: BadgeArchiveInput!) { badgeArchive(input: $input) {
  badge { id active archivedAt } errors { code message field } } }"""
BADGE_GRANT = """mutation($input: BadgeGrantInput!) { badgeGrant(input: $input) {
  memberBadge { earned earnedAt grantedBy reason badge { name } }
  errors { code message field } } }"""
BADGE_REVOKE = """mutation($input: BadgeGrantInput!) { badgeRevoke(input: $input) {
  memberBadge { earned hint } errors { code message field } } }"""
MY_BADGES = """{ me { badges { earned earnedAt grantedBy reason hint
  badge { id name active } } } }"""


async def create_badge(shop: Shop, name: str, **fields: Any) -> str:
    data = await shop.gql.data(BADGE_CREATE, {"input": {"name": name, **fields}},
                               token=shop.admin.access_token)
    payload = data["badgeCreate"]
    assert payload["errors"] == [], payload
    badge_id: str = payload["badge"]["id"]
    return badge_id


async def grant(shop: Shop, email: str, badge_id: str, reason: str = "Helped at the launch",
                *, token: str | None = None) -> dict[str, Any]:
    body = await shop.gql.execute(
        BADGE_GRANT, {"input": {"member": {"email": email}, "badgeId": badge_id,
                                "reason": reason}},
        token=token or shop.admin.access_token)
    payload: dict[str, Any] = body["data"]["badgeGrant"] if body.get("data") else body
    return payload


async def my_badges(shop: Shop, member: SignedIn) -> list[dict[str, Any]]:
    data = await shop.gql.data(MY_BADGES, token=member.access_token)
    badges: list[dict[str, Any]] = data["me"]["badges"]
    return badges


def by_name(badges: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {b["badge"]["name"]: b for b in badges}
