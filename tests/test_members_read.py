"""A shop system with MEMBERS_READ (a CRM) looks members up and reads their profile, points
and tier - nothing more; without the scope it reads nothing."""

from typing import Any

from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.scanner_support import ScannerShop
from tests.support import GraphQLClient

LOOKUP = """query($email: String!) { member(email: $email) { id email name memberSince
  marketingConsent points { balance } tier { current { name } next { name } } } }"""


async def _key(shop: Shop, scopes: str) -> str:
    data = await shop.gql.data(
        f"""mutation {{ apiKeyCreate(input: {{name: "CRM", scopes: {scopes}}}) {{
              secret errors {{ code }} }} }}""", token=shop.admin.access_token)
    secret: str = data["apiKeyCreate"]["secret"]
    return secret


async def _shop(gql: GraphQLClient) -> Shop:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    await gql.data("""mutation { tierCreate(input: {name: "Silver", threshold: 100,
        earnMultiplier: 1, perks: ""}) { errors { code } } }""", token=shop.admin.access_token)
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 42_000))
    return shop


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_a_crm_looks_a_member_up_by_email_and_reads_points_and_tier(
    gql: GraphQLClient,
) -> None:
    shop = await _shop(gql)
    crm = await _key(shop, "[MEMBERS_READ]")

    found = (await gql.data(LOOKUP, {"email": " ANN@example.com"}, token=crm))["member"]
    by_node = await gql.data(
        "query($id: ID!) { node(id: $id) { ... on Member { email points { balance } } } }",
        {"id": found["id"]}, token=crm)
    nobody = await gql.data(LOOKUP, {"email": "nobody@example.com"}, token=crm)

    assert found["email"] == "ann@example.com"
    assert found["points"] == {"balance": 420}
    assert found["tier"]["current"] == {"name": "Silver"}
    assert by_node["node"] == {"email": "ann@example.com", "points": {"balance": 420}}
    assert nobody == {"member": None}


async def test_a_crm_does_not_read_a_members_history_vouchers_birthday_or_offers(
    gql: GraphQLClient,
) -> None:
    shop = await _shop(gql)
    crm = await _key(shop, "[MEMBERS_READ]")
    for field in ("birthday", "referralCode", "history { edges { node { points } } }",
                  "vouchers { edges { node { code } } }", "offers { title }"):
        body = await gql.execute(
            f'{{ member(email: "ann@example.com") {{ email {field} }} }}', token=crm)
        assert _codes(body) == ["FORBIDDEN"], (field, body)
        member = (body.get("data") or {}).get("member")
        assert member is None or member[field.split()[0]] is None, (field, body)


async def test_without_members_read_no_key_member_or_staff_looks_members_up(
    gql: GraphQLClient,
) -> None:
    shop = await _shop(gql)
    web_shop = await _key(shop, "[ORDERS_WRITE]")
    bob = await shop.member("bob@example.com")
    stores = ScannerShop(gql=gql, admin=shop.admin)
    await stores.store("PARIS-01")
    staff = await stores.staff("sam@example.com", "PARIS-01")
    admin = (await gql.data(LOOKUP, {"email": "ann@example.com"},
                            token=shop.admin.access_token))["member"]

    for token in (web_shop, bob.access_token, staff.access_token, None):
        body = await gql.execute(LOOKUP, {"email": "ann@example.com"}, token=token)
        assert _codes(body) in (["FORBIDDEN"], ["UNAUTHENTICATED"]), body
        node = await gql.execute('query($id: ID!) { node(id: $id) { id } }',
                                 {"id": admin["id"]}, token=token)
        assert node["data"] == {"node": None}
    assert admin["points"] == {"balance": 420}
