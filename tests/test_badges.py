"""The badge catalogue and badges granted by administrators, over GraphQL."""

from typing import Any

from strawberry.relay import from_base64, to_base64

from events.audit import AUDIT_LOG
from events.catalogue import event_from_document
from events.outbox import OUTBOX
from loyalty.badges.catalogue import BADGES
from loyalty.collections import MEMBERS
from schema.subscriptions import member_event
from tests.badge_support import (
    BADGE_ARCHIVE,
    BADGE_CREATE,
    BADGE_REVOKE,
    BADGE_UPDATE,
    by_name,
    create_badge,
    grant,
    my_badges,
)
from tests.ledger_support import open_shop
from tests.privacy_support import EXPORT, MEMBER_ERASE, needles, personal_data_found, plain_member
from tests.support import GraphQLClient


async def _events(gql: GraphQLClient, kind: str) -> list[dict[str, Any]]:
    store = gql.state.services.store
    return await store.collection(OUTBOX).find({"type": kind}).to_list(None)


async def test_admin_grants_a_badge_with_a_reason_and_the_member_sees_earned_and_locked(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    helper = await create_badge(shop, "  Launch   helper ", hint="Help us open a store",
                                imageUrl="https://cdn.example.com/helper.png")
    await create_badge(shop, "Explorer", hint="Shop in three different stores")

    payload = await grant(shop, "ann@example.com", helper, "Helped at the Paris opening")

    assert payload["errors"] == []
    assert payload["memberBadge"] == {
        "earned": True, "earnedAt": shop.now().isoformat(), "grantedBy": "ADMIN",
        "reason": "Helped at the Paris opening", "badge": {"name": "Launch helper"}}
    badges = by_name(await my_badges(shop, ann))
    assert badges["Launch helper"]["earned"] and badges["Launch helper"]["hint"] is None
    assert badges["Explorer"] == {
        "earned": False, "earnedAt": None, "grantedBy": None, "reason": None,
        "hint": "Shop in three different stores",
        "badge": {"id": badges["Explorer"]["badge"]["id"], "name": "Explorer", "active": True}}
    earned = await _events(gql, "badge.earned")
    assert [(e["member_id"], e["data"]["badge"]["name"], e["data"]["source"]["kind"])
            for e in earned] == [(await member_id(gql, ann.access_token), "Launch helper", "ADMIN")]
    store = gql.state.services.store
    audit = await store.collection(AUDIT_LOG).find(
        {"operation": {"$in": ["badgeCreate", "badgeGrant"]}}).to_list(None)
    assert sorted(a["operation"] for a in audit) == ["badgeCreate", "badgeCreate", "badgeGrant"]
    grant_record = next(a for a in audit if a["operation"] == "badgeGrant")
    assert grant_record["actor"]["id"] == shop.admin.account_id
    assert grant_record["member_id"] == earned[0]["member_id"]
    as_admin = await gql.data("""query($id: ID!) { node(id: $id) { ... on Member {
        badges { earned reason badge { name } }
        admin { badges { earned reason badge { name } } } } } }""",
        {"id": to_base64("Member", earned[0]["member_id"])}, token=shop.admin.access_token)
    assert as_admin["node"]["badges"] == [
        {"earned": True, "reason": "Helped at the Paris opening",
         "badge": {"name": "Launch helper"}},
        {"earned": False, "reason": None, "badge": {"name": "Explorer"}}]
    assert as_admin["node"]["admin"]["badges"] == as_admin["node"]["badges"]
    live = member_event(event_from_document(earned[0]))
    assert (live.type.value, live.badge.name if live.badge else None) == (
        "badge.earned", "Launch helper")


async def member_id(gql: GraphQLClient, token: str) -> str:
    me = await gql.data("{ me { id } }", token=token)
    return from_base64(me["me"]["id"])[1]


async def test_a_second_grant_and_a_revoke_of_a_badge_not_held_are_typed_errors(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    badge = await create_badge(shop, "Regular")
    assert (await grant(shop, "ann@example.com", badge))["errors"] == []

    again = await grant(shop, "ann@example.com", badge, "Once more")

    assert again["errors"] == [{"code": "BADGE_ALREADY_HELD", "message": again["errors"][0][
        "message"], "field": ["input", "badgeId"]}]
    assert len(await _events(gql, "badge.earned")) == 1
    revoke = {"input": {"member": {"email": "ann@example.com"}, "badgeId": badge,
                        "reason": "Granted by mistake"}}
    first = await gql.data(BADGE_REVOKE, revoke, token=shop.admin.access_token)
    assert first["badgeRevoke"] == {"memberBadge": {"earned": False, "hint": ""}, "errors": []}
    second = await gql.data(BADGE_REVOKE, revoke, token=shop.admin.access_token)
    assert [e["code"] for e in second["badgeRevoke"]["errors"]] == ["BADGE_NOT_HELD"]
    assert len(await _events(gql, "badge.revoked")) == 1


async def test_bad_badge_input_writes_nothing(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    store = gql.state.services.store
    token = shop.admin.access_token

    empty = await gql.data(BADGE_CREATE, {"input": {"name": "   ", "imageUrl": "http://x.io/a"}},
                           token=token)

    assert sorted(e["field"][-1] for e in empty["badgeCreate"]["errors"]) == ["imageUrl", "name"]
    assert {e["code"] for e in empty["badgeCreate"]["errors"]} == {"INVALID_BADGE"}
    assert await store.collection(BADGES).count_documents({}) == 0
    unknown = await grant(shop, "ann@example.com", "QmFkZ2U6ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZm")
    assert [e["code"] for e in unknown["errors"]] == ["UNKNOWN_BADGE"]
    badge = await create_badge(shop, "Regular")
    nobody = await grant(shop, "nobody@example.com", badge)
    assert [e["code"] for e in nobody["errors"]] == ["UNKNOWN_MEMBER"]
    no_reason = await grant(shop, "ann@example.com", badge, " ")
    assert no_reason["errors"][0]["field"] == ["input", "reason"]
    renamed = await gql.data(BADGE_UPDATE, {"input": {"badgeId": badge, "name": ""}},
                             token=token)
    assert [e["code"] for e in renamed["badgeUpdate"]["errors"]] == ["INVALID_BADGE"]
    assert (await store.collection(BADGES).find_one({}))["name"] == "Regular"
    assert await store.collection(MEMBERS).count_documents({"badges": {"$exists": True,
                                                                        "$ne": {}}}) == 0
    assert await _events(gql, "badge.earned") == []


async def test_an_archived_badge_stays_earned_for_holders_and_hides_from_others(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    bob = await shop.member("bob@example.com")
    badge = await create_badge(shop, "Pioneer")
    assert (await grant(shop, "ann@example.com", badge))["errors"] == []

    archived = await gql.data(BADGE_ARCHIVE, {"input": {"badgeId": badge}},
                              token=shop.admin.access_token)

    assert archived["badgeArchive"]["badge"]["active"] is False
    assert [(b["badge"]["name"], b["earned"]) for b in await my_badges(shop, ann)] == [
        ("Pioneer", True)]
    assert await my_badges(shop, bob) == []
    late = await grant(shop, "bob@example.com", badge)
    assert [e["code"] for e in late["errors"]] == ["UNKNOWN_BADGE"]


async def test_members_cannot_grant_badges_or_read_other_members_badges(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    await shop.member("bob@example.com")
    badge = await create_badge(shop, "Regular")

    attempt = await grant(shop, "bob@example.com", badge, token=ann.access_token)

    assert attempt["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    store = gql.state.services.store
    bob_doc = await store.collection(MEMBERS).find_one({"badges": {"$exists": True}})
    assert bob_doc is None
    assert (await grant(shop, "bob@example.com", badge))["errors"] == []
    bob_id = (await store.collection(MEMBERS).find_one({f"badges.{_raw(badge)}":
                                                        {"$exists": True}}))["_id"]
    peek = await gql.execute("""query($id: ID!) { node(id: $id) { ... on Member {
        badges { earned } } } }""", {"id": to_base64("Member", bob_id)}, token=ann.access_token)
    assert peek["data"]["node"] is None or "errors" in peek
    listing = await gql.execute("{ badges { edges { node { id } } } }", token=ann.access_token)
    assert listing["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def _raw(global_id: str) -> str:
    return from_base64(global_id)[1]


async def test_badges_are_in_the_data_export_and_erasure_empties_their_reasons(
    gql: GraphQLClient,
) -> None:
    subject = await plain_member(gql)
    badge = await create_badge(subject.shop, "Launch helper")
    assert (await grant(subject.shop, subject.email, badge,
                        f"{subject.name} carried boxes all day"))["errors"] == []

    export = (await gql.data(EXPORT, token=subject.member.access_token))["myDataExport"]

    held = export["sections"]["badges"]
    assert [(b["name"], b["granted_by"], b["reason"]) for b in held] == [
        ("Launch helper", "ADMIN", f"{subject.name} carried boxes all day")]
    erased = await gql.data(MEMBER_ERASE, {"input": {"memberId": subject.global_id,
                                                     "reason": "Request #1 by letter"}},
                            token=subject.shop.admin.access_token)
    assert erased["memberErase"]["errors"] == []
    doc = await subject.store.collection(MEMBERS).find_one({"_id": subject.member_id})
    assert doc is not None
    assert doc["badges"][_raw(badge)]["reason"] == ""
    assert doc["badges"][_raw(badge)]["source"] == "ADMIN"
    assert await personal_data_found(subject.store, needles(subject)) == []


async def test_verify_reports_a_badge_held_that_is_not_in_the_catalogue(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    badge = await create_badge(shop, "Regular")
    assert (await grant(shop, "ann@example.com", badge))["errors"] == []
    assert await shop.violations() == []
    store = gql.state.services.store

    await store.collection(MEMBERS).update_one(
        {f"badges.{_raw(badge)}": {"$exists": True}},
        {"$set": {"badges.deadbeefdeadbeefdeadbeef": {"earned_at": shop.now()}}})

    found = await shop.violations()
    assert len(found) == 1
    assert "every badge held is in the catalogue" in found[0]
    assert "deadbeefdeadbeefdeadbeef" in found[0]


async def test_my_badges_cost_the_member_reads_alone_whatever_the_catalogue(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    ids = [await create_badge(shop, f"Badge {n}", hint=f"Do thing {n}") for n in range(12)]
    for badge in ids[:5]:
        assert (await grant(shop, "ann@example.com", badge))["errors"] == []
    commands = gql.state.services.store.commands
    await my_badges(shop, ann)  # the catalogue is now cached

    before = commands.total
    await gql.data("{ me { id } }", token=ann.access_token)
    bare = commands.total - before
    before = commands.total
    badges = await my_badges(shop, ann)
    with_badges = commands.total - before
    print(f"\ncommands: me {{ id }} {bare}, me {{ badges }} {with_badges}")

    assert [b["earned"] for b in badges] == [True] * 5 + [False] * 7
    assert with_badges == bare + 2  # the member's totals and open lots (the shared loader)
