"""The member's own account operations answer only to the member: a store's staff, an
administrator (where the operation is a member's own), an API key and an anonymous caller are
refused before anything is read or written."""

from typing import Any

import pytest

from tests.ledger_support import open_shop
from tests.support import DEFAULT_PASSWORD, GraphQLClient

OPERATIONS = {
    "accountUpdate": ("""mutation { accountUpdate(input: {name: "Mallory"}) {
        errors { code } } }""", None),
    "accountEmailChange": ("""mutation($p: String!) { accountEmailChange(input: {
        newEmail: "mallory@example.com", currentPassword: $p}) { errors { code } } }""",
        {"p": DEFAULT_PASSWORD}),
    "accountEmailChangeConfirm": ("""mutation { accountEmailChangeConfirm(input: {
        code: "ABCD2345"}) { errors { code } } }""", None),
    "accountPasswordChange": ("""mutation($p: String!) { accountPasswordChange(input: {
        currentPassword: $p, newPassword: "a brand new passphrase 8"}) {
        errors { code } } }""", {"p": DEFAULT_PASSWORD}),
    "sessions": ("{ sessions { id } }", None),
    "sessionRevokeOthers": ("mutation { sessionRevokeOthers { sessionsEnded } }", None),
    "consentUpdate": ("""mutation { consentUpdate(input: {consents: [
        {purpose: MARKETING_EMAIL, granted: true}]}) { errors { code } } }""", None),
    "myDataExport": ("{ myDataExport }", None),
    "accountDelete": ("""mutation($p: String!) { accountDelete(input: {password: $p}) {
        errors { code } } }""", {"p": DEFAULT_PASSWORD}),
}


async def _snapshot(gql: GraphQLClient) -> dict[str, list[dict[str, Any]]]:
    store = gql.state.services.store
    # Sign-in attempt counters and webhook bookkeeping move on by design.
    return {name: await store.collection(name).find({}, {"webhooks": 0}).sort(
                "_id", 1).to_list(None)
            for name in sorted(await store.db.list_collection_names())
            if name not in {"auth_attempts", "refresh_tokens"}}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_only_the_member_may_run_their_account_operations(
    gql: GraphQLClient, operation: str,
) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    admin = shop.admin.access_token
    store_id = (await gql.data(
        """mutation { storeCreate(input: {code: "P-1", name: "Paris", timezone: "UTC"}) {
             store { id } } }""", token=admin))["storeCreate"]["store"]["id"]
    await gql.data(
        """mutation($input: StaffCreateInput!) { staffCreate(input: $input) {
             errors { code } } }""",
        {"input": {"email": "sam@example.com", "password": DEFAULT_PASSWORD, "name": "Sam",
                   "store": store_id}}, token=admin)
    staff = (await gql.sign_in("sam@example.com"))["accessToken"]
    query, variables = OPERATIONS[operation]
    before = await _snapshot(gql)

    for token, code in ((None, "UNAUTHENTICATED"), (staff, "FORBIDDEN"),
                        (admin, "FORBIDDEN"), (shop.api_key, "FORBIDDEN")):
        body = (await gql.post(query, variables, token=token)).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], (token, body)
        assert not (body.get("data") or {}).get(operation), body

    assert await _snapshot(gql) == before
