"""A member lists their sign-ins and ends them: one, or all but this one; nobody else's."""

from typing import Any

from tests.account_support import member_id, refresh, still_signed_in
from tests.support import DEFAULT_PASSWORD, GraphQLClient, ManualClock, SignedIn

SESSIONS = """{ sessions { id current signedInAt lastUsedAt expiresAt deviceName userAgent
  clientAddress } }"""
REVOKE = """mutation($input: SessionRevokeInput!) { sessionRevoke(input: $input) {
  sessionsEnded errors { code field } } }"""
REVOKE_OTHERS = "mutation { sessionRevokeOthers { sessionsEnded errors { code } } }"
SIGN_IN = """mutation($input: TokenCreateInput!) { tokenCreate(input: $input) {
  accessToken refreshToken errors { code } } }"""


async def _sign_in(gql: GraphQLClient, device: str | None, agent: str,
                   email: str = "ann@example.com") -> SignedIn:
    response = await gql.http.post("/graphql", headers={"user-agent": agent}, json={
        "query": SIGN_IN, "variables": {"input": {
            "email": email, "password": DEFAULT_PASSWORD, "deviceName": device}}})
    payload = response.json()["data"]["tokenCreate"]
    assert payload["errors"] == [], payload
    return SignedIn(payload["accessToken"], payload["refreshToken"])


async def _sessions(gql: GraphQLClient, member: SignedIn) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await gql.data(SESSIONS, token=member.access_token))[
        "sessions"]
    return found


async def _revoke(gql: GraphQLClient, member: SignedIn, session: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(REVOKE, {"input": {"session": session}},
                                              token=member.access_token))["sessionRevoke"]
    return payload


async def test_a_member_sees_each_sign_in_with_its_device_and_which_is_this_one(
    gql: GraphQLClient, clock: ManualClock,
) -> None:
    await gql.register()
    phone = await _sign_in(gql, "  Ann's   phone ", "KizunaApp/2.1 (iOS 18)")
    clock.advance(minutes=5)
    laptop = await _sign_in(gql, None, "Mozilla/5.0 (X11; Linux)")
    signed_in_at = clock.now
    clock.advance(minutes=5)
    refreshed = await refresh(gql, laptop)
    laptop = SignedIn(refreshed["accessToken"], refreshed["refreshToken"])

    listed = await _sessions(gql, phone)

    assert [(s["deviceName"], s["userAgent"], s["current"]) for s in listed] == [
        (None, "Mozilla/5.0 (X11; Linux)", False),  # used last: refreshed just now
        ("Ann's phone", "KizunaApp/2.1 (iOS 18)", True),
    ]
    assert {s["clientAddress"] for s in listed} == {"203.0.113.7"}
    assert listed[0]["signedInAt"] < listed[0]["lastUsedAt"]
    assert listed[0]["signedInAt"].startswith(signed_in_at.strftime("%Y-%m-%dT%H:%M"))
    # A refresh keeps the sign-in's id: the laptop is still the same session.
    assert [s["id"] for s in await _sessions(gql, laptop)] == [s["id"] for s in listed]
    assert [s["current"] for s in await _sessions(gql, laptop)] == [True, False]


async def test_ending_one_sign_in_stops_its_tokens_only(gql: GraphQLClient) -> None:
    await gql.register()
    phone = await _sign_in(gql, "phone", "app")
    laptop = await _sign_in(gql, "laptop", "browser")
    laptop_id = next(s["id"] for s in await _sessions(gql, phone) if not s["current"])

    ended = await _revoke(gql, phone, laptop_id)

    assert ended == {"sessionsEnded": 1, "errors": []}
    assert not await still_signed_in(gql, laptop)
    assert (await refresh(gql, laptop))["errors"] == [{"code": "INVALID_TOKEN"}]
    assert await still_signed_in(gql, phone)
    assert [s["deviceName"] for s in await _sessions(gql, phone)] == ["phone"]


async def test_ending_every_other_sign_in_keeps_this_one(gql: GraphQLClient) -> None:
    await gql.register()
    devices = [await _sign_in(gql, f"device {i}", "app") for i in range(3)]

    ended = (await gql.data(REVOKE_OTHERS, token=devices[0].access_token))[
        "sessionRevokeOthers"]

    assert ended == {"sessionsEnded": 2, "errors": []}
    assert [await still_signed_in(gql, d) for d in devices] == [True, False, False]
    assert [s["deviceName"] for s in await _sessions(gql, devices[0])] == ["device 0"]


async def test_a_member_neither_sees_nor_ends_another_members_sign_ins(
    gql: GraphQLClient,
) -> None:
    await gql.register()
    await gql.register(email="bob@example.com", name="Bob")
    ann = await _sign_in(gql, "ann's phone", "app")
    bob = await _sign_in(gql, "bob's phone", "app", email="bob@example.com")
    ann_session = (await _sessions(gql, ann))[0]["id"]

    bobs_view = await _sessions(gql, bob)
    attempt = await _revoke(gql, bob, ann_session)
    unknown = await _revoke(gql, bob, "no-such-session")
    others = (await gql.data(REVOKE_OTHERS, token=bob.access_token))["sessionRevokeOthers"]

    assert [s["deviceName"] for s in bobs_view] == ["bob's phone"]
    # Another member's sign-in is "not found", exactly like one that does not exist.
    assert attempt == unknown == {"sessionsEnded": 0, "errors": [
        {"code": "NOT_FOUND", "field": ["input", "session"]}]}
    assert others["sessionsEnded"] == 0
    assert await still_signed_in(gql, ann)


async def test_only_members_list_or_end_sign_ins(gql: GraphQLClient) -> None:
    admin = await gql.admin()

    anonymous = await gql.execute(SESSIONS)
    as_admin = await gql.execute(SESSIONS, token=admin.access_token)
    revoke = await gql.execute(REVOKE_OTHERS, token=admin.access_token)

    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert as_admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert revoke["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_ending_every_other_sign_in_reaches_past_the_hundred_listed(
    gql: GraphQLClient,
) -> None:
    registered = await gql.register()
    current = await _sign_in(gql, "phone", "app")
    tokens = gql.state.services.authenticator.refresh_tokens
    # Sign-ins straight from the token service: 104 password checks would only be slow.
    for _ in range(104):
        await tokens.issue(member_id(registered["member"]["id"]))

    listed = await _sessions(gql, current)
    ended = (await gql.data(REVOKE_OTHERS, token=current.access_token))["sessionRevokeOthers"]

    assert len(listed) == 100
    assert ended["sessionsEnded"] == 104
    assert [s["deviceName"] for s in await _sessions(gql, current)] == ["phone"]
