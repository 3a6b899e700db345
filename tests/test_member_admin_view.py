"""A member's admin view (`Member.admin`): an administrator sees every part of it —
consent, points, tier and its history, the ledger with actors, vouchers with who redeemed
them, orders with refunds, referrals, survey answers, last activity, card — and nobody
else does; a screen costs the same round trips whatever its lists hold."""

from typing import Any

from tests.ledger_support import PER_EURO, open_shop
from tests.scanner_support import ScannerShop
from tests.support import GraphQLClient
from tests.test_surveys import submit, survey_id

ADMIN_VIEW = """query($id: ID!) { node(id: $id) { ... on Member { email admin {
  consent { given givenAt }
  points { balance pending debt lifetimeEarned }
  tier { current { name } manual }
  tierHistory(first: 5) { edges { node { kind reason actor { kind administrator { name } } } } }
  ledger(first: 20) { edges { node { kind points reason sourceType sourceId
    actor { kind id staff { email } administrator { name } apiKey { name } } } } }
  vouchers(first: 5) { edges { redeemedBy { email } node { title status
    redemption { store { code } } } } }
  orders(first: 5) { edges { node { id total earnedPoints refundedAmount
    refunds { id amount points } } } }
  referredBy { email }
  referrals(first: 5) { edges { node { email } } }
  surveyResponses(first: 5) { edges { node { score comment survey { name } } } }
  lastActivityAt cardId } } } }"""


async def _member_with_a_history(gql: GraphQLClient) -> tuple[Any, dict[str, str]]:
    shop = await open_shop(gql)
    admin = shop.admin.access_token
    registered = await gql.data(
        """mutation { accountRegister(input: {email: "ann@example.com", name: "Ann",
             password: "correct horse battery staple", marketingConsent: true}) {
             member { id } errors { code } } }""")
    ann_id = registered["accountRegister"]["member"]["id"]
    ann = await gql.sign_in("ann@example.com")
    ann_token = ann["accessToken"]
    me = await gql.data("{ me { referralCode card { token } } }", token=ann_token)
    bob = await gql.data(
        """mutation($code: String!) { accountRegister(input: {email: "bob@example.com",
             name: "Bob", password: "correct horse battery staple", referralCode: $code}) {
             member { id } errors { code } } }""", {"code": me["me"]["referralCode"]})
    assert bob["accountRegister"]["errors"] == []
    await shop.rule(PER_EURO)
    assert (await shop.record(shop.order("ann@example.com", 12_000, order_id="o-1")))[
        "errors"] == []
    assert (await shop.refund("o-1", "r-1", amount=2_000))["errors"] == []
    assert (await shop.adjust("ann@example.com", 30, "Sorry for the wait"))["errors"] == []
    gold = await gql.data(
        """mutation { tierCreate(input: {name: "Gold", threshold: 100000}) { tier { id } } }""",
        token=admin)
    tier_set = await gql.data(
        """mutation($input: MemberTierSetInput!) { memberTierSet(input: $input) {
             errors { code } } }""",
        {"input": {"member": {"email": "ann@example.com"},
                   "tierId": gold["tierCreate"]["tier"]["id"], "reason": "VIP guest"}},
        token=admin)
    assert tier_set["memberTierSet"]["errors"] == []
    scanner = ScannerShop(gql=gql, admin=shop.admin)
    await scanner.store("PARIS-01")
    sam = await scanner.staff("sam@example.com", "PARIS-01")
    voucher = await scanner.issue("ann@example.com")
    redeemed = await scanner.redeem(sam.access_token, code=voucher["code"])
    assert redeemed["errors"] == [], redeemed
    survey = await survey_id(shop)
    await submit(gql, type("M", (), {"access_token": ann_token})(), survey, 9, "Lovely")
    return shop, {"ann": ann_id, "card": me["me"]["card"]["token"][3:19]}


async def test_an_administrator_sees_every_part_of_a_members_admin_view(
    gql: GraphQLClient,
) -> None:
    shop, ids = await _member_with_a_history(gql)

    data = await gql.data(ADMIN_VIEW, {"id": ids["ann"]}, token=shop.admin.access_token)

    view = data["node"]["admin"]
    assert view["consent"]["given"] is True and view["consent"]["givenAt"] is not None
    # 120 earned, 20 taken back, 30 given, 50 for the survey.
    assert view["points"] == {"balance": 180, "pending": 0, "debt": 0, "lifetimeEarned": 170}
    assert view["tier"] == {"current": {"name": "Gold"}, "manual": True}
    assert [e["node"]["reason"] for e in view["tierHistory"]["edges"]] == [
        "Set to Gold by an administrator: VIP guest"]
    assert view["tierHistory"]["edges"][0]["node"]["actor"]["administrator"] == {
        "name": "Ada Admin"}
    ledger = [e["node"] for e in view["ledger"]["edges"]]
    kinds = {(n["kind"], n["actor"]["kind"]) for n in ledger}
    assert {("EARN", "API_KEY"), ("REVERSAL", "API_KEY"), ("ADJUST", "ADMIN"),
            ("TIER", "ADMIN")} <= kinds
    earn = next(n for n in ledger if n["kind"] == "EARN" and n["sourceType"] == "ORDER")
    assert earn["sourceId"] == "o-1" and earn["actor"]["apiKey"] == {"name": "Web shop"}
    adjust = next(n for n in ledger if n["kind"] == "ADJUST")
    assert adjust["reason"] == "Sorry for the wait"
    assert adjust["actor"]["administrator"] == {"name": "Ada Admin"}
    voucher = view["vouchers"]["edges"][0]
    assert voucher["redeemedBy"] == {"email": "sam@example.com"}
    assert voucher["node"]["redemption"]["store"] == {"code": "PARIS-01"}
    order = view["orders"]["edges"][0]["node"]
    assert order == {"id": order["id"], "total": 12_000, "earnedPoints": 120,
                     "refundedAmount": 2_000,
                     "refunds": [{"id": "r-1", "amount": 2_000, "points": -20}]}
    assert view["referredBy"] is None
    assert [e["node"]["email"] for e in view["referrals"]["edges"]] == ["bob@example.com"]
    assert view["surveyResponses"]["edges"][0]["node"] == {
        "score": 9, "comment": "Lovely", "survey": {"name": "Autumn NPS"}}
    assert view["lastActivityAt"] is not None
    assert view["cardId"] == ids["card"]
    bob = await gql.data("""{ members(query: "bob@") { edges { node { admin {
        referredBy { email } } } } } }""", token=shop.admin.access_token)
    assert bob["members"]["edges"][0]["node"]["admin"]["referredBy"] == {
        "email": "ann@example.com"}


async def test_staff_members_and_shop_systems_are_refused_the_admin_view(
    gql: GraphQLClient,
) -> None:
    shop, _ids = await _member_with_a_history(gql)
    reader = await gql.data(
        """mutation { apiKeyCreate(input: {name: "CRM", scopes: [MEMBERS_READ]}) {
             secret } }""", token=shop.admin.access_token)
    sam = await gql.sign_in("sam@example.com")
    ann = await gql.sign_in("ann@example.com")
    by_email = '{ member(email: "ann@example.com") { email admin { lastActivityAt } } }'
    crm = reader["apiKeyCreate"]["secret"]

    refused = {
        # A shop system may read the member, not the admin view.
        "crm": await gql.execute(by_email, token=crm),
        "ann": await gql.execute("{ me { email admin { lastActivityAt } } }",
                                 token=ann["accessToken"]),
        "sam": await gql.execute(by_email, token=sam["accessToken"]),
    }

    for who, body in refused.items():
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], (who, body)
    assert refused["crm"]["errors"][0]["path"] == ["member", "admin"]
    assert refused["ann"]["errors"][0]["path"] == ["me", "admin"]
    listed = await gql.execute("""{ members(first: 5) { edges { node { email
        admin { cardId } } } } }""", token=reader["apiKeyCreate"]["secret"])
    assert {e["extensions"]["code"] for e in listed["errors"]} == {"FORBIDDEN"}


async def test_the_admin_view_costs_the_same_round_trips_whatever_its_lists_hold(
    gql: GraphQLClient,
) -> None:
    shop, ids = await _member_with_a_history(gql)
    commands = gql.state.services.store.commands

    async def round_trips() -> int:
        before = commands.total
        await gql.data(ADMIN_VIEW, {"id": ids["ann"]}, token=shop.admin.access_token)
        return commands.total - before

    await round_trips()
    few = await round_trips()
    for n in range(4):
        assert (await shop.record(shop.order("ann@example.com", 1_000, order_id=f"x-{n}")))[
            "errors"] == []
        await shop.adjust("ann@example.com", 1, f"Gesture {n}")
    await round_trips()  # the reference data (programme, rules) cached again
    many = await round_trips()

    # Five orders and twice the entries cost no more queries (a query per order's refunds
    # or per entry's actor would add at least four); the DataLoaders' batches follow the
    # event loop's ticks, and the cached reference data its expiry, so allow one of each.
    assert many <= few + 2
    assert many <= 20
