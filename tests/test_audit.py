"""The audit trail: every write by an administrator, staff or a shop system is recorded with
who, what, when and the change, in the change's transaction; `auditLog` reads it."""

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from strawberry.relay import to_base64

from api.jobs import expire_audit_records
from api.settings import Settings
from events.audit import AUDIT_LOG
from scanner.audit import adopt_legacy_records
from scanner.collections import SCAN_AUDIT
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.scanner_support import open_scanner_shop
from tests.support import DEFAULT_PASSWORD, TEST_CLIENT_ADDRESS, GraphQLClient, ManualClock

AUDIT_LOG_QUERY = """
query($operation: String, $target: ID, $actor: ID, $from: DateTime, $to: DateTime,
      $first: Int! = 20, $after: String) {
  auditLog(operation: $operation, target: $target, actor: $actor, from: $from, to: $to,
           first: $first, after: $after) {
    edges { cursor node { id at operation outcome memberId
      actor { id role apiKeyId storeId deviceId clientAddress requestId }
      target { type id } changes { field before after redacted } } }
    pageInfo { hasNextPage endCursor } } }"""

INPUT_TYPES = {"earningRuleCreate": "EarningRuleInput",
               "webhookEndpointRotateSecret": "WebhookEndpointInput",
               "webhookEndpointDelete": "WebhookEndpointInput"}


async def audit_log(gql: GraphQLClient, token: str, **variables: Any) -> list[dict[str, Any]]:
    data = await gql.data(AUDIT_LOG_QUERY, {"first": 20, **variables}, token=token)
    return [edge["node"] for edge in data["auditLog"]["edges"]]


async def latest(gql: GraphQLClient, token: str, operation: str) -> dict[str, Any]:
    records = await audit_log(gql, token, operation=operation, first=1)
    assert records, f"no audit record of {operation}"
    return records[0]


def changed(record: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["before"], c["after"]) for c in record["changes"]}


async def mutate(shop: Shop, mutation: str, input: dict[str, Any], token: str | None = None,
                 ) -> dict[str, Any]:
    """Run `mutation(input:)` (selecting only `errors` besides `selection`)."""
    name, selection = mutation.split(" ", 1) if " " in mutation else (mutation, "")
    data = await shop.gql.data(
        f"mutation($input: {INPUT_TYPES.get(name, name[0].upper() + name[1:] + 'Input')}!) "
        f"{{ {name}(input: $input) {{ "
        f"{selection} errors {{ code message field }} }} }}",
        {"input": input}, token=token or shop.admin.access_token)
    payload: dict[str, Any] = data[name]
    assert payload["errors"] == [], payload
    return payload


@pytest.fixture
async def shop(gql: GraphQLClient) -> Shop:
    return await open_shop(gql)


async def test_admin_writes_are_recorded_with_who_what_and_the_change(shop: Shop) -> None:
    gql, admin = shop.gql, shop.admin.access_token
    rule = (await mutate(shop, "earningRuleCreate rule { id }", PER_EURO))["rule"]["id"]
    await mutate(shop, "earningRuleUpdate rule { id }", {**PER_EURO, "rule": rule,
                                                         "name": "Base points"})
    await mutate(shop, "earningRuleArchive rule { id }", {"rule": rule})
    await mutate(shop, "earningRuleActivate rule { id }", {"rule": rule})
    reward = (await mutate(shop, "rewardCreate reward { id }", {
        "title": "€5 off", "kind": "AMOUNT_OFF", "amountOff": 500, "currency": "EUR",
        "cost": 100, "stock": 10}))["reward"]["id"]
    await mutate(shop, "rewardUpdate reward { id }", {"rewardId": reward, "stock": 20})
    await mutate(shop, "rewardDelete deletedRewardId", {"rewardId": reward})
    tier = (await mutate(shop, "tierCreate tier { id }", {
        "name": "Gold", "threshold": 500, "earnMultiplier": 1.5}))["tier"]["id"]
    await mutate(shop, "tierUpdate tier { id }", {"id": tier, "threshold": 800})
    await mutate(shop, "tierDelete tier { id }", {"id": tier})
    await mutate(shop, "programmeUpdate programme { timezone }",
                 {"timezone": "Asia/Tokyo", "tierGraceDays": 10})

    # operation → (target type, target id, field, before, after)
    expected: list[tuple[str, str, str | None, str, Any, Any]] = [
        ("earningRuleCreate", "EarningRule", rule, "name", None, "Base"),
        ("earningRuleUpdate", "EarningRule", rule, "name", "Base", "Base points"),
        ("earningRuleArchive", "EarningRule", rule, "active", True, False),
        ("earningRuleActivate", "EarningRule", rule, "active", False, True),
        ("rewardCreate", "Reward", reward, "stock", None, 10),
        ("rewardUpdate", "Reward", reward, "stock", 10, 20),
        ("rewardDelete", "Reward", reward, "title", "€5 off", None),
        ("tierCreate", "Tier", tier, "threshold", None, 500),
        ("tierUpdate", "Tier", tier, "threshold", 500, 800),
        ("tierDelete", "Tier", tier, "name", "Gold", None),
        ("programmeUpdate", "Programme", None, "timezone", None, "Asia/Tokyo"),
    ]
    records = await audit_log(gql, admin, first=30)
    by_operation: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_operation.setdefault(record["operation"], []).append(record)
    for operation, type_name, target_id, field, before, after in expected:
        record = by_operation[operation][-1]  # the oldest of the operation's records
        assert record["target"]["type"] == type_name, operation
        if target_id is not None:
            assert record["target"]["id"] == target_id, operation
        assert changed(record)[field] == (before, after), (operation, record["changes"])
        assert record["actor"]["id"] == to_base64("Administrator", shop.admin.account_id)
        assert record["actor"]["role"] == "ADMIN"
        assert record["actor"]["clientAddress"] == TEST_CLIENT_ADDRESS
        assert len(record["actor"]["requestId"]) == 32
        assert record["outcome"] == "OK"
    # The tier policy and the other settings are recorded, each with its change.
    assert {f for r in by_operation["programmeUpdate"] for f in changed(r)} >= {
        "timezone", "tier_policy.grace_days"}
    # Newest first, and every write recorded once (plus the API key the shop was opened with).
    assert [r["at"] for r in records] == sorted((r["at"] for r in records), reverse=True)
    assert len([r for r in records if r["operation"] != "apiKeyCreate"]) == 12


async def test_points_writes_record_the_balance_before_and_after(shop: Shop) -> None:
    gql, admin = shop.gql, shop.admin.access_token
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    assert (await shop.adjust("ann@example.com", 50))["errors"] == []
    assert (await shop.record(shop.order("ann@example.com", 2000, order_id="W-1")))[
        "errors"] == []
    assert (await shop.refund("W-1", "R-1", amount=1000))["errors"] == []
    action = await gql.data(
        """mutation { actionRecord(input: {member: {email: "ann@example.com"}, type: "REVIEW",
             reference: "rev-1"}) { pointsEarned errors { code } } }""", token=shop.api_key)
    assert action["actionRecord"]["errors"] == []
    tier = (await mutate(shop, "tierCreate tier { id }", {"name": "Gold", "threshold": 900}))
    await mutate(shop, "memberTierSet entry { kind }", {
        "member": {"email": "ann@example.com"}, "tierId": tier["tier"]["id"], "reason": "VIP"})

    adjust = await latest(gql, admin, "pointsAdjust")
    assert adjust["target"]["type"] == "Member"
    assert changed(adjust)["points"] == (0, 50)
    assert changed(adjust)["entry.kind"] == (None, "ADJUST")
    order = await latest(gql, admin, "orderRecord")
    assert order["target"] == {"type": "MemberOrder", "id": to_base64("MemberOrder", "W-1")}
    assert changed(order)["points"] == (50, 70)
    assert changed(order)["order.total"] == (None, 2000)
    # A shop system's write names its API key.
    assert order["actor"]["role"] == "INTEGRATION"
    assert order["actor"]["apiKeyId"] is not None
    assert order["actor"]["apiKeyId"] == order["actor"]["id"]
    refund = await latest(gql, admin, "orderRefund")
    assert changed(refund)["points"] == (70, 60)
    assert changed(refund)["refund.amount"] == (None, 1000)
    assert (await latest(gql, admin, "actionRecord"))["memberId"] == adjust["target"]["id"]
    tier_set = await latest(gql, admin, "memberTierSet")
    assert changed(tier_set)["tier.manual"] == (None, True)


async def test_the_scan_audit_reads_through_the_audit_log(gql: GraphQLClient) -> None:
    scanner_shop = await open_scanner_shop(gql)
    cashier = await scanner_shop.staff("sam@example.com", "PARIS-01")
    await gql.member("ann@example.com")
    issued = await scanner_shop.issue("ann@example.com")
    await scanner_shop.check(cashier.access_token, code=issued["code"], deviceId="till-1")
    await scanner_shop.redeem(cashier.access_token, code=issued["code"], deviceId="till-1")
    await gql.state.services.scanning.audit.flush()

    admin = scanner_shop.admin.access_token
    records = await audit_log(gql, admin, target=issued["id"])
    scans = [r for r in records if r["operation"] in {"voucherCheck", "voucherRedeem"}]
    assert [r["operation"] for r in scans] == ["voucherRedeem", "voucherCheck"]
    redeem = scans[0]
    assert redeem["actor"]["role"] == "STAFF"
    assert redeem["actor"]["deviceId"] == "till-1"
    assert redeem["actor"]["storeId"] == scanner_shop.store_ids["PARIS-01"]
    assert changed(redeem) == {"status": ("ACTIVE", "REDEEMED")}


async def test_a_failed_write_leaves_no_record(shop: Shop) -> None:
    data = await shop.gql.data(
        """mutation { rewardCreate(input: {title: "", kind: AMOUNT_OFF, amountOff: 500,
             currency: "EUR", cost: -1}) { reward { id } errors { code } } }""",
        token=shop.admin.access_token)
    assert data["rewardCreate"]["errors"]
    refused = await shop.adjust("nobody@example.com", 10)
    assert refused["errors"]

    records = await shop.gql.state.services.store.collection(AUDIT_LOG).find(
        {"operation": {"$ne": "apiKeyCreate"}}).to_list()
    assert records == []


async def test_a_failed_audit_insert_leaves_no_change(shop: Shop) -> None:
    """The record commits with the change or neither does: a duplicate request id that a
    unique index refuses aborts the write's transaction."""
    store = shop.gql.state.services.store
    await store.collection(AUDIT_LOG).create_index("actor.request_id", unique=True,
                                                   name="test_unique_request")
    await store.collection(AUDIT_LOG).insert_one({"_id": "f" * 24, "actor": {
        "request_id": "taken-1"}})
    await shop.member("ann@example.com")
    before = (await shop.gql.data("{ programme { timezone } }",
                                  token=shop.admin.access_token))["programme"]

    for mutation, variables in (
        ("""mutation { programmeUpdate(input: {timezone: "Asia/Tokyo"}) {
              errors { code } } }""", {}),
        ("""mutation { pointsAdjust(input: {member: {email: "ann@example.com"}, points: 50,
              reason: "Goodwill"}) { errors { code } } }""", {}),
    ):
        response = await shop.gql.http.post(
            "/graphql", json={"query": mutation, "variables": variables},
            headers={"authorization": f"Bearer {shop.admin.access_token}",
                     "x-request-id": "taken-1"})
        assert response.status_code == 200
        assert response.json()["errors"][0]["message"] == "Internal server error."

    after = (await shop.gql.data("{ programme { timezone } }",
                                 token=shop.admin.access_token))["programme"]
    assert after == before
    ann = await shop.sign_in("ann@example.com")
    assert (await shop.points(ann))["balance"] == 0


async def test_filters_by_operation_target_actor_and_time_with_pages(
    shop: Shop, clock: ManualClock
) -> None:
    gql, admin = shop.gql, shop.admin.access_token
    start = clock()
    rewards = []
    for number in range(5):
        clock.advance(minutes=1)
        created = await mutate(shop, "rewardCreate reward { id }", {
            "title": f"Reward {number}", "kind": "AMOUNT_OFF", "amountOff": 500,
            "currency": "EUR", "cost": 100})
        rewards.append(created["reward"]["id"])
    clock.advance(minutes=1)
    await mutate(shop, "rewardUpdate reward { id }", {"rewardId": rewards[0], "cost": 90})
    await shop.member("ann@example.com")
    await shop.rule(PER_EURO)
    await shop.record(shop.order("ann@example.com", 1000, order_id="W-1"))

    created = await audit_log(gql, admin, operation="rewardCreate")
    assert [r["target"]["id"] for r in created] == rewards[::-1]
    on_first = await audit_log(gql, admin, target=rewards[0])
    assert [r["operation"] for r in on_first] == ["rewardUpdate", "rewardCreate"]
    by_key = await audit_log(gql, admin, actor=(await latest(gql, admin, "orderRecord"))[
        "actor"]["id"])
    assert [r["operation"] for r in by_key] == ["orderRecord"]
    by_admin = await audit_log(gql, admin, actor=to_base64("Administrator",
                                                           shop.admin.account_id), first=30)
    assert "orderRecord" not in {r["operation"] for r in by_admin}
    window = await audit_log(gql, admin, **{
        "from": (start + timedelta(minutes=2)).isoformat(),
        "to": (start + timedelta(minutes=4)).isoformat()})
    assert [r["target"]["id"] for r in window] == [rewards[2], rewards[1]]

    seen: list[str] = []
    after = None
    while True:
        data = await gql.data(AUDIT_LOG_QUERY, {"first": 2, "after": after}, token=admin)
        page = data["auditLog"]
        seen.extend(edge["node"]["id"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    everything = await audit_log(gql, admin, first=30)
    assert seen == [r["id"] for r in everything]
    capped = await gql.data("{ auditLog(first: 150) { pageInfo { hasNextPage } } }",
                            token=admin)  # more than 100 is capped, not refused
    assert capped["auditLog"]["pageInfo"]["hasNextPage"] is False
    assert len(seen) == len(set(seen)) >= 8


@pytest.mark.parametrize(("variables", "field"), [
    ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ({"after": "bm90LWEtY3Vyc29y"}, "after"),
    ({"after": "Y3Vyc29yOnp6eg=="}, "after"),
    ({"actor": "!!not-an-id"}, "actor"),
    ({"target": "bm9wZQ=="}, "target"),
    ({"first": -1}, "first"),
    ({"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}, "from"),
], ids=["from-after-to", "foreign-cursor", "cursor-bad-id", "actor", "target", "first",
        "naive-time"])
async def test_bad_arguments_are_clear_errors(
    shop: Shop, variables: dict[str, Any], field: str
) -> None:
    body = await shop.gql.execute(AUDIT_LOG_QUERY, {"first": 5, **variables},
                                  token=shop.admin.access_token)
    assert body["data"] is None
    extensions = body["errors"][0]["extensions"]
    assert extensions.pop("requestId")  # every top-level error carries it (operability)
    assert extensions == {"code": "INVALID_INPUT", "field": [field]}


async def test_only_administrators_read_the_audit_log(gql: GraphQLClient) -> None:
    scanner_shop = await open_scanner_shop(gql)
    member = await gql.member("ann@example.com")
    cashier = await scanner_shop.staff("sam@example.com", "PARIS-01")
    data = await gql.data(
        """mutation { apiKeyCreate(input: {name: "CRM", scopes: [MEMBERS_READ, ORDERS_WRITE]})
             { secret } }""", token=scanner_shop.admin.access_token)
    for token in (member.access_token, cashier.access_token, data["apiKeyCreate"]["secret"]):
        body = await gql.execute(AUDIT_LOG_QUERY, {"first": 5}, token=token)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await gql.execute(AUDIT_LOG_QUERY, {"first": 5})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(("header", "kept"), [
    ("req-7f3a:edge.1_X", True), ("x" * 129, False), ("bad id\n", False), ("<script>", False),
])
async def test_the_request_id_is_the_clients_when_sane(
    shop: Shop, header: str, kept: bool
) -> None:
    response = await shop.gql.http.post("/graphql", json={
        "query": """mutation { programmeUpdate(input: {pendingDays: 3}) { errors { code } } }"""},
        headers={"authorization": f"Bearer {shop.admin.access_token}", "x-request-id": header})
    assert response.json()["data"]["programmeUpdate"]["errors"] == []

    record = await latest(shop.gql, shop.admin.access_token, "programmeUpdate")
    if kept:
        assert record["actor"]["requestId"] == header
    else:
        assert record["actor"]["requestId"] != header
        assert len(record["actor"]["requestId"]) == 32


async def test_records_older_than_the_retention_are_deleted(
    shop: Shop, clock: ManualClock
) -> None:
    await mutate(shop, "programmeUpdate programme { timezone }", {"pendingDays": 1})
    await shop.advance(days=300)
    await mutate(shop, "programmeUpdate programme { timezone }", {"pendingDays": 2})
    store = shop.gql.state.services.store

    deleted = await expire_audit_records(
        store, clock=lambda: clock() + timedelta(days=101), retention=timedelta(days=400))

    assert deleted == 2  # the first update and the API key created with the shop
    left = await store.collection(AUDIT_LOG).find({}).to_list()
    assert [changed({"changes": r["changes"]}).get("pending_days") for r in left] == [(1, 2)]


async def test_records_of_the_former_scan_audit_are_adopted(gql: GraphQLClient) -> None:
    scanner_shop = await open_scanner_shop(gql)
    store = gql.state.services.store
    await store.collection(SCAN_AUDIT).insert_one({
        "_id": "5f0000000000000000000001", "at": gql.state.services.clock(),
        "action": "REDEEM", "outcome": "OK", "actor_id": "staff-1", "store_id": "store-1",
        "device_id": "till-1", "client_address": "198.51.100.1", "voucher_id": "v-1",
        "member_id": "m-1"})

    assert await adopt_legacy_records(store) == 1
    assert await adopt_legacy_records(store) == 0

    (record,) = await audit_log(gql, scanner_shop.admin.access_token,
                                target=to_base64("Voucher", "v-1"))
    assert record["operation"] == "voucherRedeem"
    assert record["actor"]["deviceId"] == "till-1"
    assert record["actor"]["storeId"] == to_base64("Store", "store-1")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Webhook endpoints on this machine (nothing is delivered in these tests).
    return dataclasses.replace(settings, webhook_private_targets=True)


async def test_every_other_admin_write_is_recorded_and_no_secret_is(shop: Shop) -> None:
    gql, admin = shop.gql, shop.admin.access_token
    await shop.member("ann@example.com")
    paris = (await mutate(shop, "storeCreate store { id }", {
        "code": "PARIS-01", "name": "Paris", "timezone": "Europe/Paris"}))["store"]["id"]
    await mutate(shop, "staffCreate staff { id }", {
        "email": "sam@example.com", "password": DEFAULT_PASSWORD, "name": "Sam",
        "store": paris})
    key = await mutate(shop, "apiKeyCreate apiKey { id } secret", {
        "name": "CRM", "scopes": ["MEMBERS_READ"]})
    await mutate(shop, "apiKeyRevoke apiKey { id }", {"apiKey": key["apiKey"]["id"]})
    hook = await mutate(shop, "webhookEndpointCreate endpoint { id } secret", {
        "url": "http://127.0.0.1:9/hook"})
    hook_id = hook["endpoint"]["id"]
    await mutate(shop, "webhookEndpointUpdate endpoint { id }", {
        "endpointId": hook_id, "description": "CRM sync"})
    rotated = await mutate(shop, "webhookEndpointRotateSecret secret",
                           {"endpointId": hook_id}, )
    await mutate(shop, "webhookEndpointDelete deletedEndpointId", {"endpointId": hook_id})
    segment = (await mutate(shop, "segmentCreate segment { id }", {
        "name": "LAPSED", "conditions": {"lapsedDays": 30}}))["segment"]["id"]
    await mutate(shop, "segmentUpdate segment { id }", {"segment": segment,
                                                        "description": "Come back"})
    await mutate(shop, "segmentDelete deletedSegmentId", {"segment": segment})
    survey = (await mutate(shop, "surveyCreate survey { id }", {
        "name": "NPS", "points": 50}))["survey"]["id"]
    await mutate(shop, "surveyUpdate survey { id }", {"surveyId": survey, "points": 60})
    await mutate(shop, "birthdayGiftSet birthdayGift { daysBefore }", {
        "gift": {"points": 100}, "daysBefore": 0})
    await mutate(shop, "referralRewardSet referralReward { referee { points } }", {
        "referrer": {"points": 500}, "referee": {"points": 200}})
    voucher = await mutate(shop, "voucherIssue voucher { id code }", {
        "member": {"email": "ann@example.com"}, "kind": "AMOUNT_OFF", "title": "Sorry",
        "amountOff": 500, "currency": "EUR", "validDays": 30})

    records = await audit_log(gql, admin, first=30)
    assert {r["operation"] for r in records} >= {
        "storeCreate", "staffCreate", "apiKeyCreate", "apiKeyRevoke", "webhookEndpointCreate",
        "webhookEndpointUpdate", "webhookEndpointRotateSecret", "webhookEndpointDelete",
        "segmentCreate", "segmentUpdate", "segmentDelete", "surveyCreate", "surveyUpdate",
        "birthdayGiftSet", "referralRewardSet", "voucherIssue"}
    assert changed(await latest(gql, admin, "surveyUpdate"))["points"] == (50, 60)
    assert changed(await latest(gql, admin, "segmentUpdate"))["description"] == ("",
                                                                                  "Come back")
    rotation = await latest(gql, admin, "webhookEndpointRotateSecret")
    assert [(c["field"], c["redacted"]) for c in rotation["changes"]] == [("secrets", True)]
    assert changed(await latest(gql, admin, "voucherIssue"))["benefit.title"] == (None, "Sorry")

    stored = await gql.state.services.store.collection(AUDIT_LOG).find({}).to_list()
    text = repr(stored)
    for secret in (DEFAULT_PASSWORD, key["secret"], key["secret"].rsplit("_", 1)[-1],
                   hook["secret"], rotated["secret"], voucher["voucher"]["code"],
                   "$argon2"):
        assert secret not in text
    fields = {c["field"] for r in stored for c in r["changes"]}
    assert {"password_hash", "secret_hash", "secrets"} <= fields  # listed, values withheld
    assert all(c["before"] is None and c["after"] is None
               for r in stored for c in r["changes"] if c["redacted"])


async def test_a_refund_into_debt_records_the_balance_and_the_debt_it_left(
    shop: Shop,
) -> None:
    """Ann spends the 20 points an order earned, then the order is refunded in full: the
    refund takes 20 points she no longer has, so her balance goes to −20 (Σ entries) and
    her debt to 20."""
    await shop.rule(PER_EURO)
    await shop.member("ann@example.com")
    assert (await shop.record(shop.order("ann@example.com", 2000, order_id="W-9")))[
        "errors"] == []
    assert (await shop.adjust("ann@example.com", -20))["errors"] == []
    assert (await shop.refund("W-9", "R-9", amount=2000))["errors"] == []
    refund = await latest(shop.gql, shop.admin.access_token, "orderRefund")
    assert changed(refund)["points"] == (0, -20)
    assert changed(refund)["debt"] == (0, 20)
