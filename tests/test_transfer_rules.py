"""Who may gift points, how often they may name nobody, and the programme's transfer
settings: off by default, changed by administrators, checked, audited."""

from tests.ledger_support import Shop
from tests.support import DEFAULT_PASSWORD, GraphQLClient
from tests.test_audit import changed, latest
from tests.transfer_support import POINTS_TRANSFER, GiftShop, open_gift_shop


async def test_only_signed_in_members_can_gift(gql: GraphQLClient) -> None:
    gifts = await open_gift_shop(gql)
    await gifts.member("bob@example.com", "Bob")
    admin = gifts.shop.admin
    store_id = (await gifts.gql.data(
        """mutation { storeCreate(input: {code: "P-1", name: "Paris", timezone: "UTC"}) {
             store { id } } }""", token=admin.access_token))["storeCreate"]["store"]["id"]
    await gifts.gql.data(
        """mutation($input: StaffCreateInput!) { staffCreate(input: $input) {
             errors { code } } }""",
        {"input": {"email": "sam@example.com", "password": DEFAULT_PASSWORD, "name": "Sam",
                   "store": store_id}}, token=admin.access_token)
    staff = (await gifts.gql.sign_in("sam@example.com"))["accessToken"]
    variables = {"input": {"to": {"email": "bob@example.com"}, "points": 100,
                           "idempotencyKey": "k"}}
    before = await gifts.written()

    for token, code in ((None, "UNAUTHENTICATED"), (staff, "FORBIDDEN"),
                        (admin.access_token, "FORBIDDEN"), (gifts.shop.api_key, "FORBIDDEN")):
        body = await gifts.gql.execute(POINTS_TRANSFER, variables, token=token)
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert await gifts.written() == before


async def test_naming_recipients_again_and_again_is_slowed_down_found_or_not(
    gql: GraphQLClient,
) -> None:
    """Found recipients count too: a gift too large to afford would otherwise tell a member
    (INSUFFICIENT_POINTS) from nobody (UNKNOWN_MEMBER) for free."""
    gifts = await open_gift_shop(gql)
    ann = await gifts.member("ann@example.com", "Ann", points=1000)
    await gifts.member("bob@example.com", "Bob")
    for n in range(15):
        sent = await gifts.gift(ann, 100, email=f"guess{n}@example.com")
        assert [e["code"] for e in sent["errors"]] == ["UNKNOWN_MEMBER"]
        probe = await gifts.gift(ann, 2_000, email="bob@example.com")
        assert [e["code"] for e in probe["errors"]] == ["INSUFFICIENT_POINTS"]

    limited = await gifts.gift(ann, 2_000, email="bob@example.com")

    assert [e["code"] for e in limited["errors"]] == ["RATE_LIMITED"]
    assert limited["errors"][0]["field"] is None


PROGRAMME = """{ programme { transfers { enabled minMemberDays minPoints dailySendCap
  monthlySendCap dailyReceiveCap monthlyReceiveCap } } }"""


async def test_transfer_settings_are_off_by_default_and_changed_by_admins_with_an_audit(
    gql: GraphQLClient,
) -> None:
    admin = await gql.admin()
    data = await gql.data(PROGRAMME, token=admin.access_token)
    assert data["programme"]["transfers"] == {
        "enabled": False, "minMemberDays": 30, "minPoints": 100, "dailySendCap": 5000,
        "monthlySendCap": 20000, "dailyReceiveCap": None, "monthlyReceiveCap": 20000}
    shop = GiftShop(Shop(gql, admin, api_key=""))

    updated = await shop.settings(enabled=True, dailySendCap=None, minPoints=10)
    refused = await shop.settings(dailyReceiveCap=900, monthlyReceiveCap=800, minPoints=0)

    assert updated["errors"] == []
    assert updated["programme"]["transfers"]["dailySendCap"] is None
    assert {e["field"][-1] for e in refused["errors"]} == {"dailyReceiveCap", "minPoints"}
    data = await gql.data(PROGRAMME, token=admin.access_token)
    assert data["programme"]["transfers"] | {"enabled": None} == {
        "enabled": None, "minMemberDays": 30, "minPoints": 10, "dailySendCap": None,
        "monthlySendCap": 20000, "dailyReceiveCap": None, "monthlyReceiveCap": 20000}
    record = await latest(gql, admin.access_token, "programmeUpdate")
    assert changed(record) == {
        "transfers.enabled": (None, True), "transfers.min_member_days": (None, 30),
        "transfers.min_points": (None, 10), "transfers.monthly_send_cap": (None, 20000),
        "transfers.monthly_receive_cap": (None, 20000)}
    assert (await shop.settings(dailySendCap=700))["errors"] == []
    record = await latest(gql, admin.access_token, "programmeUpdate")
    assert changed(record) == {"transfers.daily_send_cap": (None, 700)}


def test_a_gift_counts_in_the_local_day_and_month_and_old_counters_count_zero() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from loyalty.programme.transfer_policy import Window, counted, totals

    # 02:00 UTC on 1 March is still 28 February in New York.
    window = Window.at(datetime(2027, 3, 1, 2, 0, tzinfo=UTC), ZoneInfo("America/New_York"))
    assert window == Window(day="2027-02-28", month="2027-02")
    stored = {"day": "2027-02-27", "day_points": 300, "month": "2027-02", "month_points": 450}
    assert totals(stored, window) == (0, 450)
    assert counted(stored, window, 100) == {"day": "2027-02-28", "day_points": 100,
                                            "month": "2027-02", "month_points": 550}
    assert totals(None, window) == (0, 0)
