"""Consent per purpose with the history that proves it: recorded at registration, changed
by the member, read by the member and administrators; offers honour PERSONALISATION."""

from datetime import timedelta
from typing import Any

from strawberry.relay import to_base64

from auth.collections import ACCOUNTS, CONSENTS
from tests.account_support import events_of, member_id
from tests.reward_support import open_reward_shop
from tests.support import DEFAULT_PASSWORD, GraphQLClient, ManualClock, SignedIn

REGISTER = """mutation($input: AccountRegisterInput!) { accountRegister(input: $input) {
  member { id } errors { code } } }"""
CONSENTS_QUERY = """{ me { marketingConsent consents { purpose granted updatedAt channel }
  consentHistory(first: 10) { edges { node { purpose granted at channel } } } } }"""
UPDATE = """mutation($input: ConsentUpdateInput!) { consentUpdate(input: $input) {
  consents { purpose granted channel } errors { code field } } }"""
OF_MEMBER = """query($id: ID!) { node(id: $id) { ... on Member {
  consents { purpose granted channel }
  consentHistory(first: 10, purpose: SMS) { edges { node { granted channel } } } } } }"""
OFFERS = "{ me { offers(first: 5) { kind title explanation } } }"


async def _join(gql: GraphQLClient, **extra: Any) -> tuple[str, SignedIn]:
    data = await gql.data(REGISTER, {"input": {
        "email": "ann@example.com", "password": DEFAULT_PASSWORD, "name": "Ann", **extra}})
    assert data["accountRegister"]["errors"] == [], data
    tokens = await gql.sign_in("ann@example.com")
    return data["accountRegister"]["member"]["id"], SignedIn(tokens["accessToken"],
                                                             tokens["refreshToken"])


async def _update(gql: GraphQLClient, member: SignedIn, **choices: bool) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.data(UPDATE, {"input": {"consents": [
        {"purpose": purpose, "granted": granted} for purpose, granted in choices.items()]}},
        token=member.access_token))["consentUpdate"]
    return payload


async def test_registration_records_every_purpose_given_or_not(gql: GraphQLClient) -> None:
    _, ann = await _join(gql, consents=["SMS", "PERSONALISATION"])

    me = (await gql.data(CONSENTS_QUERY, token=ann.access_token))["me"]

    assert me["marketingConsent"] is False
    assert [(c["purpose"], c["granted"], c["channel"]) for c in me["consents"]] == [
        ("MARKETING_EMAIL", False, "REGISTRATION"), ("SMS", True, "REGISTRATION"),
        ("PERSONALISATION", True, "REGISTRATION")]
    assert sorted((e["node"]["purpose"], e["node"]["granted"])
                  for e in me["consentHistory"]["edges"]) == [
        ("MARKETING_EMAIL", False), ("PERSONALISATION", True), ("SMS", True)]
    [registered] = await events_of(gql, "member.registered")
    assert registered["data"]["consents"] == {
        "marketing_email": False, "sms": True, "personalisation": True}


async def test_the_older_marketing_consent_field_still_registers_consent(
    gql: GraphQLClient,
) -> None:
    _, ann = await _join(gql, marketingConsent=True)

    me = (await gql.data(CONSENTS_QUERY, token=ann.access_token))["me"]

    assert me["marketingConsent"] is True
    assert me["consents"][0] == {"purpose": "MARKETING_EMAIL", "granted": True,
                                 "updatedAt": me["consents"][0]["updatedAt"],
                                 "channel": "REGISTRATION"}


async def test_a_member_gives_and_withdraws_consent_and_each_choice_is_kept(
    gql: GraphQLClient, clock: ManualClock,
) -> None:
    ann_id, ann = await _join(gql)
    clock.advance(minutes=1)

    given = await _update(gql, ann, MARKETING_EMAIL=True, SMS=True)
    clock.advance(minutes=1)
    withdrawn = await _update(gql, ann, SMS=False, MARKETING_EMAIL=True)

    assert given["errors"] == withdrawn["errors"] == []
    assert [(c["purpose"], c["granted"], c["channel"]) for c in withdrawn["consents"]] == [
        ("MARKETING_EMAIL", True, "APP"), ("SMS", False, "APP"),
        ("PERSONALISATION", False, "REGISTRATION")]
    me = (await gql.data(CONSENTS_QUERY, token=ann.access_token))["me"]
    assert me["marketingConsent"] is True  # the older field follows MARKETING_EMAIL
    history = [(e["node"]["purpose"], e["node"]["granted"], e["node"]["channel"])
               for e in me["consentHistory"]["edges"]]
    # Newest first; repeating a choice that stands records nothing.
    assert history[:3] == [("SMS", False, "APP"), ("SMS", True, "APP"),
                           ("MARKETING_EMAIL", True, "APP")]
    assert len(history) == 3 + 3
    changes = await events_of(gql, "member.consent_changed", member_id=member_id(ann_id))
    assert sorted((e["data"]["consent"]["purpose"], e["data"]["consent"]["granted"])
                  for e in changes) == [("marketing_email", True), ("sms", False),
                                        ("sms", True)]
    account = await gql.state.services.store.collection(ACCOUNTS).find_one(
        {"_id": member_id(ann_id)})
    assert account is not None and account["marketing_consent_at"] == clock.now - timedelta(
        minutes=1)


async def test_a_bad_consent_update_writes_nothing(gql: GraphQLClient) -> None:
    _, ann = await _join(gql)
    store = gql.state.services.store
    records = await store.collection(CONSENTS).count_documents({})

    twice = await gql.data(UPDATE, {"input": {"consents": [
        {"purpose": "SMS", "granted": True}, {"purpose": "SMS", "granted": False}]}},
        token=ann.access_token)
    empty = await gql.data(UPDATE, {"input": {"consents": []}}, token=ann.access_token)

    assert twice["consentUpdate"]["errors"] == empty["consentUpdate"]["errors"] == [
        {"code": "INVALID_INPUT", "field": ["input", "consents"]}]
    assert await store.collection(CONSENTS).count_documents({}) == records
    assert await events_of(gql, "member.consent_changed") == []


async def test_an_administrator_reads_a_members_consent_and_another_member_cannot(
    gql: GraphQLClient,
) -> None:
    ann_id, ann = await _join(gql)
    await _update(gql, ann, SMS=True)
    admin = await gql.admin()
    bob = await gql.member(email="bob@example.com", name="Bob")

    seen = (await gql.data(OF_MEMBER, {"id": ann_id}, token=admin.access_token))["node"]
    by_bob = await gql.execute(OF_MEMBER, {"id": ann_id}, token=bob.access_token)
    anonymous = await gql.execute(UPDATE, {"input": {"consents": [
        {"purpose": "SMS", "granted": False}]}})

    assert seen["consents"][1] == {"purpose": "SMS", "granted": True, "channel": "APP"}
    assert [e["node"] for e in seen["consentHistory"]["edges"]] == [
        {"granted": True, "channel": "APP"}, {"granted": False, "channel": "REGISTRATION"}]
    assert by_bob["data"]["node"] is None
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_consent_record_is_a_node_only_its_member_and_administrators_see(
    gql: GraphQLClient,
) -> None:
    ann_id, _ = await _join(gql)
    bob = await gql.member(email="bob@example.com", name="Bob")
    record = await gql.state.services.store.collection(CONSENTS).find_one(
        {"member_id": member_id(ann_id)})
    assert record is not None
    query = "query($id: ID!) { node(id: $id) { ... on ConsentRecord { purpose } } }"
    node_id = to_base64("ConsentRecord", record["_id"])

    by_bob = await gql.data(query, {"id": node_id}, token=bob.access_token)
    by_admin = await gql.data(query, {"id": node_id}, token=(await gql.admin()).access_token)

    assert by_bob["node"] is None
    assert by_admin["node"] == {"purpose": record["purpose"].upper()}


async def test_an_account_from_before_the_history_reads_its_marketing_consent(
    gql: GraphQLClient,
) -> None:
    ann_id, ann = await _join(gql, marketingConsent=True)
    await gql.state.services.store.collection(ACCOUNTS).update_one(
        {"_id": member_id(ann_id)}, {"$unset": {"consents": ""}})

    me = (await gql.data(CONSENTS_QUERY, token=ann.access_token))["me"]

    assert [(c["purpose"], c["granted"], c["channel"]) for c in me["consents"]] == [
        ("MARKETING_EMAIL", True, "REGISTRATION"), ("SMS", False, None),
        ("PERSONALISATION", False, None)]


async def test_offers_are_personal_only_with_the_personalisation_consent(
    gql: GraphQLClient,
) -> None:
    shop = await open_reward_shop(gql)
    ann = await shop.member("ann@example.com", points=300)
    await shop.shop.record(shop.shop.order("ann@example.com", 6_000, items=[
        {"sku": "BOOT", "category": "shoes", "quantity": 1, "unitPrice": 6_000}]))
    ends = (shop.shop.now() + timedelta(days=5)).isoformat()
    await shop.shop.rule({"name": "Double points on shoes", "trigger": "ORDER",
                          "conditions": {"categoriesInclude": ["shoes"], "endsAt": ends},
                          "formula": {"kind": "MULTIPLIER", "factor": 2}})
    await shop.shop.rule({"name": "Weekend bonus", "trigger": "ORDER",
                          "conditions": {"endsAt": ends},
                          "formula": {"kind": "FIXED", "points": 50}})
    for title, cost in (("Weekend trip", 5000), ("Tote bag", 250)):
        await shop.create(title=title, cost=cost)

    async def offers() -> list[tuple[str, str]]:
        found = (await gql.data(OFFERS, token=ann.access_token))["me"]["offers"]
        return [(o["title"], o["explanation"]) for o in found]

    general = await offers()
    await gql.consent(ann)
    personal = await offers()
    await gql.consent(ann, granted=False)

    # The same list for every member: campaigns for every order, then rewards open to all.
    assert general[1:] == [("Tote bag", "Open to every member, for 250 points."),
                           ("Weekend trip", "Open to every member, for 5000 points.")]
    assert general[0][0] == "Weekend bonus"
    assert general[0][1].startswith("Weekend bonus until ")
    assert personal[0][0] == "Double points on shoes"
    assert "your favourite category" in personal[0][1]
    assert ("Tote bag", "You have enough points: it costs 250.") in personal
    assert await offers() == general


async def test_when_registration_lists_consents_they_alone_decide(gql: GraphQLClient) -> None:
    _, ann = await _join(gql, marketingConsent=True, consents=["SMS"])

    me = (await gql.data(CONSENTS_QUERY, token=ann.access_token))["me"]

    assert me["marketingConsent"] is False
    assert [c["granted"] for c in me["consents"]] == [False, True, False]
