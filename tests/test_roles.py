"""Who may do what: admin mutations and queries, `node(id:)`, staff and API keys."""

import base64
from typing import Any

import pytest

from tests.support import DEFAULT_PASSWORD, GraphQLClient, SignedIn

STORE_CREATE = """mutation($input: StoreCreateInput!) {
  storeCreate(input: $input) {
    store { id code name timezone createdAt } errors { code message field } } }"""
STAFF_CREATE = """mutation($input: StaffCreateInput!) {
  staffCreate(input: $input) {
    staff { id email name store { id code } } errors { code message field } } }"""
API_KEY_CREATE = """mutation($input: ApiKeyCreateInput!) {
  apiKeyCreate(input: $input) {
    apiKey { id name prefix scopes createdAt revokedAt } secret errors { code message field } } }"""
API_KEY_REVOKE = """mutation($input: ApiKeyRevokeInput!) {
  apiKeyRevoke(input: $input) { apiKey { id revokedAt } errors { code message field } } }"""
STORES = """query($first: Int!, $after: String) {
  stores(first: $first, after: $after) {
    edges { cursor node { id code } } pageInfo { hasNextPage endCursor } } }"""
API_KEYS = "{ apiKeys(first: 10) { edges { node { id name prefix revokedAt } } } }"
NODE = """query($id: ID!) {
  node(id: $id) {
    id
    ... on Member { email }
    ... on Staff { email store { code } }
    ... on Store { code }
    ... on ApiKey { name }
  } }"""


def _global_id(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def _top_level_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


async def _count(gql: GraphQLClient, collection: str) -> int:
    return await gql.state.services.store.collection(collection).count_documents({})


async def _create_store(
    gql: GraphQLClient, admin: SignedIn, code: str = "PARIS-01", timezone: str = "Europe/Paris"
) -> dict[str, Any]:
    data = await gql.data(
        STORE_CREATE, {"input": {"code": code, "name": f"Store {code}", "timezone": timezone}},
        token=admin.access_token,
    )
    payload: dict[str, Any] = data["storeCreate"]
    assert payload["errors"] == [], payload
    store: dict[str, Any] = payload["store"]
    return store


async def _create_staff(
    gql: GraphQLClient, admin: SignedIn, store_id: str, email: str = "sam@example.com"
) -> dict[str, Any]:
    data = await gql.data(
        STAFF_CREATE,
        {"input": {"email": email, "password": DEFAULT_PASSWORD, "name": "Sam Staff",
                   "store": store_id}},
        token=admin.access_token,
    )
    payload: dict[str, Any] = data["staffCreate"]
    return payload


async def _create_api_key(gql: GraphQLClient, admin: SignedIn) -> dict[str, Any]:
    data = await gql.data(
        API_KEY_CREATE, {"input": {"name": "Shopify store", "scopes": ["ORDERS_WRITE"]}},
        token=admin.access_token,
    )
    payload: dict[str, Any] = data["apiKeyCreate"]
    assert payload["errors"] == [], payload
    return payload


def _admin_operations(
    store_id: str, api_key_id: str
) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "storeCreate": (
            STORE_CREATE, {"input": {"code": "LYON-01", "name": "Lyon", "timezone": "UTC"}}
        ),
        "staffCreate": (STAFF_CREATE, {"input": {
            "email": "eve@example.com", "password": DEFAULT_PASSWORD, "name": "Eve",
            "store": store_id}}),
        "apiKeyCreate": (
            API_KEY_CREATE, {"input": {"name": "Mine now", "scopes": ["MEMBERS_READ"]}}
        ),
        "apiKeyRevoke": (API_KEY_REVOKE, {"input": {"apiKey": api_key_id}}),
        "stores": (STORES, {"first": 10}),
        "apiKeys": (API_KEYS, {}),
    }


async def _counts(gql: GraphQLClient) -> dict[str, int]:
    return {name: await _count(gql, name) for name in ("stores", "accounts", "api_keys")}


async def test_member_is_forbidden_admin_operations_and_nothing_is_written(
    gql: GraphQLClient, subtests: pytest.Subtests
) -> None:
    admin = await gql.admin()
    store = await _create_store(gql, admin)
    key = await _create_api_key(gql, admin)
    member = await gql.member()
    before = await _counts(gql)

    for name, (query, variables) in _admin_operations(store["id"], key["apiKey"]["id"]).items():
        with subtests.test(operation=name):
            body = await gql.execute(query, variables, token=member.access_token)
            assert body["data"] is None
            assert _top_level_codes(body) == ["FORBIDDEN"]
            assert body["errors"][0]["message"] == "Only administrators can do this."
            assert await _counts(gql) == before
    key_doc = await gql.state.services.store.collection("api_keys").find_one({})
    assert key_doc is not None and key_doc["revoked_at"] is None


async def test_anonymous_caller_must_sign_in_for_admin_operations(
    gql: GraphQLClient, subtests: pytest.Subtests
) -> None:
    admin = await gql.admin()
    store = await _create_store(gql, admin)
    key = await _create_api_key(gql, admin)
    before = await _counts(gql)

    for name, (query, variables) in _admin_operations(store["id"], key["apiKey"]["id"]).items():
        with subtests.test(operation=name):
            body = await gql.execute(query, variables)
            assert body["data"] is None
            assert _top_level_codes(body) == ["UNAUTHENTICATED"]
            assert await _counts(gql) == before
    key_doc = await gql.state.services.store.collection("api_keys").find_one({})
    assert key_doc is not None and key_doc["revoked_at"] is None


async def test_anonymous_me_is_unauthenticated(gql: GraphQLClient) -> None:
    body = await gql.execute("{ me { id } }")
    assert body["data"] == {"me": None}
    assert _top_level_codes(body) == ["UNAUTHENTICATED"]


async def test_admin_creates_a_store(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    store = await _create_store(gql, admin, code=" paris-01 ")
    assert store["code"] == "PARIS-01"
    assert store["name"] == "Store paris-01"
    assert store["timezone"] == "Europe/Paris"
    assert await _count(gql, "stores") == 1


async def test_store_code_must_be_unique_whatever_its_case(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    await _create_store(gql, admin, code="PARIS-01")
    data = await gql.data(
        STORE_CREATE, {"input": {"code": "paris-01", "name": "Again"}}, token=admin.access_token
    )
    payload = data["storeCreate"]
    assert payload["store"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("STORE_CODE_TAKEN", ["input", "code"])
    ]
    assert await _count(gql, "stores") == 1


async def test_invalid_timezone_is_reported_on_its_field(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    data = await gql.data(
        STORE_CREATE, {"input": {"code": "MARS-01", "name": "Mars", "timezone": "Mars/Olympus"}},
        token=admin.access_token,
    )
    payload = data["storeCreate"]
    assert payload["store"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["input", "timezone"])
    ]
    assert await _count(gql, "stores") == 0


async def test_staff_account_is_bound_to_its_store(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    store = await _create_store(gql, admin)
    payload = await _create_staff(gql, admin, store["id"])
    assert payload["errors"] == []
    assert payload["staff"]["email"] == "sam@example.com"
    assert payload["staff"]["store"] == {"id": store["id"], "code": "PARIS-01"}
    doc = await gql.state.services.store.collection("accounts").find_one(
        {"email": "sam@example.com"}
    )
    assert doc is not None and doc["role"] == "STAFF"


@pytest.mark.parametrize(
    "store_id",
    [_global_id("Store", "0123456789abcdef01234567"), _global_id("Member", "whatever")],
)
async def test_staff_for_an_unknown_store_is_not_found_and_not_written(
    gql: GraphQLClient, store_id: str
) -> None:
    admin = await gql.admin()
    await _create_store(gql, admin)
    accounts_before = await _count(gql, "accounts")
    payload = await _create_staff(gql, admin, store_id)
    assert payload["staff"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("NOT_FOUND", ["input", "store"])
    ]
    assert await _count(gql, "accounts") == accounts_before


async def test_staff_signs_in_but_me_is_for_members_only(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    store = await _create_store(gql, admin)
    staff = (await _create_staff(gql, admin, store["id"]))["staff"]
    tokens = await gql.sign_in("sam@example.com")
    assert tokens["errors"] == []

    body = await gql.execute("{ me { id } }", token=tokens["accessToken"])
    assert body["data"] == {"me": None}
    assert _top_level_codes(body) == ["FORBIDDEN"]

    own = await gql.data(NODE, {"id": staff["id"]}, token=tokens["accessToken"])
    assert own["node"] == {"id": staff["id"], "email": "sam@example.com",
                           "store": {"code": "PARIS-01"}}
    own_store = await gql.data(NODE, {"id": store["id"]}, token=tokens["accessToken"])
    assert own_store["node"] == {"id": store["id"], "code": "PARIS-01"}

    other_store = await _create_store(gql, admin, code="LYON-01")
    hidden = await gql.data(NODE, {"id": other_store["id"]}, token=tokens["accessToken"])
    assert hidden["node"] is None

    forbidden = await gql.execute(STORES, {"first": 5}, token=tokens["accessToken"])
    assert _top_level_codes(forbidden) == ["FORBIDDEN"]


async def test_member_sees_own_node_and_not_another_members(gql: GraphQLClient) -> None:
    ann_id = (await gql.register(email="ann@example.com"))["member"]["id"]
    bob_id = (await gql.register(email="bob@example.com", name="Bob"))["member"]["id"]
    ann = await gql.sign_in("ann@example.com")

    own = await gql.data(NODE, {"id": ann_id}, token=ann["accessToken"])
    assert own["node"] == {"id": ann_id, "email": "ann@example.com"}
    other = await gql.data(NODE, {"id": bob_id}, token=ann["accessToken"])
    assert other["node"] is None
    anonymous = await gql.data(NODE, {"id": ann_id})
    assert anonymous["node"] is None

    admin = await gql.admin()
    seen_by_admin = await gql.data(NODE, {"id": bob_id}, token=admin.access_token)
    assert seen_by_admin["node"] == {"id": bob_id, "email": "bob@example.com"}


async def test_member_cannot_see_stores_staff_or_api_keys_through_node(
    gql: GraphQLClient,
) -> None:
    admin = await gql.admin()
    store = await _create_store(gql, admin)
    staff = (await _create_staff(gql, admin, store["id"]))["staff"]
    key = await _create_api_key(gql, admin)
    member = await gql.member()
    for node_id in (store["id"], staff["id"], key["apiKey"]["id"]):
        data = await gql.data(NODE, {"id": node_id}, token=member.access_token)
        assert data["node"] is None, node_id
        as_admin = await gql.data(NODE, {"id": node_id}, token=admin.access_token)
        assert as_admin["node"] is not None and as_admin["node"]["id"] == node_id


async def test_member_id_read_as_another_type_is_null(gql: GraphQLClient) -> None:
    """A Member's id relabelled as a Staff id must not reveal the account."""
    ann_id = (await gql.register(email="ann@example.com"))["member"]["id"]
    ann = await gql.sign_in("ann@example.com")
    raw = base64.b64decode(ann_id).decode().split(":", 1)[1]
    data = await gql.data(NODE, {"id": _global_id("Staff", raw)}, token=ann["accessToken"])
    assert data["node"] is None


async def test_api_key_secret_is_shown_once_and_authenticates_until_revoked(
    gql: GraphQLClient,
) -> None:
    admin = await gql.admin()
    created = await _create_api_key(gql, admin)
    secret = created["secret"]
    api_key = created["apiKey"]
    assert secret.startswith(f"kz_{api_key['prefix']}_")
    assert api_key["scopes"] == ["ORDERS_WRITE"]
    assert api_key["revokedAt"] is None

    stored = await gql.state.services.store.collection("api_keys").find_one({})
    assert stored is not None
    assert secret.split("_", 2)[2] not in str(stored), "the secret is stored in clear"

    listed = await gql.data(API_KEYS, token=admin.access_token)
    assert [e["node"]["id"] for e in listed["apiKeys"]["edges"]] == [api_key["id"]]
    assert "secret" not in str(listed)

    authenticated = await gql.post("{ __typename }", token=secret)
    assert authenticated.status_code == 200
    # An integration is neither a member nor an admin.
    assert _top_level_codes(await gql.execute("{ me { id } }", token=secret)) == ["FORBIDDEN"]
    assert _top_level_codes(await gql.execute(API_KEYS, token=secret)) == ["FORBIDDEN"]

    wrong_secret = secret[:-3] + ("aaa" if not secret.endswith("aaa") else "bbb")
    assert (await gql.post("{ __typename }", token=wrong_secret)).status_code == 401

    revoked = await gql.data(
        API_KEY_REVOKE, {"input": {"apiKey": api_key["id"]}}, token=admin.access_token
    )
    assert revoked["apiKeyRevoke"]["errors"] == []
    assert revoked["apiKeyRevoke"]["apiKey"]["revokedAt"] is not None
    assert (await gql.post("{ __typename }", token=secret)).status_code == 401


async def test_revoking_an_unknown_api_key_is_not_found(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    data = await gql.data(
        API_KEY_REVOKE, {"input": {"apiKey": _global_id("ApiKey", "0123456789abcdef01234567")}},
        token=admin.access_token,
    )
    assert [(e["code"], e["field"]) for e in data["apiKeyRevoke"]["errors"]] == [
        ("NOT_FOUND", ["input", "apiKey"])
    ]


async def test_api_key_needs_a_scope(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    data = await gql.data(
        API_KEY_CREATE, {"input": {"name": "Nothing", "scopes": []}}, token=admin.access_token
    )
    payload = data["apiKeyCreate"]
    assert payload["secret"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["input", "scopes"])
    ]
    assert await _count(gql, "api_keys") == 0


async def test_admin_pages_through_stores_oldest_first(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    codes = [f"SHOP-{i}" for i in range(5)]
    for code in codes:
        await _create_store(gql, admin, code=code)

    seen: list[str] = []
    after = None
    pages = []
    while True:
        data = await gql.data(STORES, {"first": 2, "after": after}, token=admin.access_token)
        connection = data["stores"]
        pages.append(len(connection["edges"]))
        seen += [edge["node"]["code"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
    assert pages == [2, 2, 1]
    assert seen == codes


async def test_first_over_100_is_an_input_error_not_an_internal_error(
    gql: GraphQLClient,
) -> None:
    admin = await gql.admin()
    body = await gql.execute(STORES, {"first": 101}, token=admin.access_token)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] != "Internal server error."
    assert "first" in error["message"]
    assert error.get("extensions", {}).get("code") == "INVALID_INPUT"


async def test_a_cursor_we_did_not_make_is_an_input_error(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    body = await gql.execute(STORES, {"first": 2, "after": "bogus"}, token=admin.access_token)
    [error] = body["errors"]
    assert error["message"] != "Internal server error."
    assert error.get("extensions", {}).get("code") == "INVALID_INPUT"
