"""Defining challenges (typed errors, nothing written on bad input, audited), who they are
for (audience, opt-in), repeatable periods, and `kizuna verify` over their rewards."""

from typing import Any

import pytest
from strawberry import relay

from tests.challenge_support import (
    ARCHIVE,
    UPDATE,
    challenge,
    create,
    create_payload,
    documents,
    join,
    mine,
)
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient

LIST = """query($after: String) { challenges(first: 2, after: $after) {
  edges { node { id title active } } pageInfo { hasNextPage endCursor } } }"""

BAD: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"endsAt": "2020-01-01T00:00:00+00:00", "startsAt": "2019-12-01T00:00:00+00:00"},
     "INVALID_CHALLENGE", ["input", "endsAt"]),
    ({"startsAt": "2030-01-02T00:00:00+00:00", "endsAt": "2030-01-01T00:00:00+00:00"},
     "INVALID_CHALLENGE", ["input", "endsAt"]),
    ({"startsAt": "2027-01-01T00:00:00+00:00", "endsAt": "2030-01-01T00:00:00+00:00"},
     "INVALID_CHALLENGE", ["input", "endsAt"]),
    ({"target": 0}, "INVALID_CHALLENGE", ["input", "target"]),
    ({"target": 1_000_000}, "INVALID_CHALLENGE", ["input", "target"]),
    ({"kind": "STREAK_WEEKS", "target": 2, "recurrence": "WEEK"}, "INVALID_CHALLENGE",
     ["input", "target"]),
    ({"kind": "STREAK_WEEKS", "target": 9}, "INVALID_CHALLENGE", ["input", "target"]),
    ({"conditions": {"categoriesInclude": ["shoes"], "categoriesExclude": ["shoes"]}},
     "INVALID_CHALLENGE", ["input", "conditions", "categoriesExclude"]),
    ({"kind": "SPEND", "target": 5000}, "INVALID_CHALLENGE", ["input", "conditions", "currency"]),
    ({"conditions": {"minTotal": 100}}, "INVALID_CHALLENGE",
     ["input", "conditions", "currency"]),
    ({"kind": "ACTION_COUNT"}, "INVALID_CHALLENGE", ["input", "actionType"]),
    ({"reward": {}}, "INVALID_CHALLENGE", ["input", "reward"]),
    ({"reward": {"voucher": {"kind": "PERCENT_OFF", "title": "x", "percentOff": 300,
                             "validDays": 10}}}, "INVALID_INPUT", None),  # type: ignore[list-item]
    ({"segments": ["NOBODY"]}, "UNKNOWN_SEGMENT", ["input", "segments"]),
    ({"segments": ["", " "]}, "INVALID_CHALLENGE", ["input", "segments"]),
    ({"title": " "}, "INVALID_CHALLENGE", ["input", "title"]),
    ({"reward": {"points": 10, "badgeIds": [str(relay.GlobalID("Badge", "no-such-badge"))]}},
     "UNKNOWN_BADGE", ["input", "reward", "badgeIds"]),
]


@pytest.mark.parametrize(("fields", "code", "field"), BAD)
async def test_bad_challenges_are_refused_with_typed_errors_and_nothing_written(
    gql: GraphQLClient, fields: dict[str, Any], code: str, field: list[str] | None,
) -> None:
    shop = await open_shop(gql)
    base = challenge(shop)
    payload = await create_payload(shop, {**base, **fields})

    assert payload["challenge"] is None
    assert payload["errors"][0]["code"] == code, payload
    if field is not None:
        assert payload["errors"][0]["field"] == field
    assert await documents(shop, "challenges") == []
    assert await documents(shop, "audit_log", {"operation": "challengeCreate"}) == []


async def test_admins_list_update_and_archive_challenges_audited(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    ids = [await create(shop, challenge(shop, title=f"C{n}")) for n in range(3)]
    ann = await shop.member("ann@example.com")

    first = (await gql.data(LIST, token=shop.admin.access_token))["challenges"]
    rest = (await gql.data(LIST, {"after": first["pageInfo"]["endCursor"]},
                           token=shop.admin.access_token))["challenges"]
    assert [e["node"]["title"] for e in first["edges"] + rest["edges"]] == ["C2", "C1", "C0"]
    assert (await gql.execute(LIST, token=ann.access_token)).get("errors")

    updated = await gql.data(UPDATE, {"input": {**challenge(shop, title="C0 bis"),
                                                "challenge": ids[0]}},
                             token=shop.admin.access_token)
    assert updated["challengeUpdate"]["challenge"]["title"] == "C0 bis"
    archived = await gql.data(ARCHIVE, {"input": {"challenge": ids[1]}},
                              token=shop.admin.access_token)
    assert archived["challengeArchive"]["challenge"]["active"] is False
    await shop.record(shop.order("ann@example.com", 1000))

    seen = await mine(shop, ann)
    assert sorted(seen) == ["C0 bis", "C2"]
    assert seen["C0 bis"]["target"] == 3 and seen["C0 bis"]["progress"] == 1
    operations = sorted(d["operation"] for d in await documents(shop, "audit_log")
                        if d["operation"].startswith("challenge"))
    assert operations == ["challengeArchive", "challengeCreate", "challengeCreate",
                          "challengeCreate", "challengeUpdate"]
    unknown = await gql.data(ARCHIVE, {"input": {"challenge": "Q2hhbGxlbmdlOm5vcGU="}},
                             token=shop.admin.access_token)
    assert unknown["challengeArchive"]["errors"][0]["code"] == "UNKNOWN_CHALLENGE"


async def test_opt_in_counts_only_after_joining(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    opt_in = await create(shop, challenge(shop, title="Club", target=1, optIn=True))
    open_to_all = await create(shop, challenge(shop, title="Open", target=5))
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 1000))
    before = (await mine(shop, ann))["Club"]
    assert (before["needsJoining"], before["progress"]) == (True, 0)
    assert before["nextStep"].startswith("Join, then place 1 order before ")

    joined = await join(shop, ann, opt_in)
    assert joined["errors"] == [] and joined["challenge"]["needsJoining"] is False
    again = await join(shop, ann, opt_in)
    assert again["challenge"]["joinedAt"] == joined["challenge"]["joinedAt"]
    refused = await join(shop, ann, open_to_all)
    assert refused["errors"][0]["code"] == "CHALLENGE_NOT_JOINABLE"
    await shop.record(shop.order("ann@example.com", 1000))

    assert (await mine(shop, ann))["Club"]["completedAt"] is not None
    assert (await shop.points(ann))["balance"] == 100


async def _gold(shop: Shop) -> str:
    data = await shop.gql.data(
        """mutation($input: TierCreateInput!) { tierCreate(input: $input) {
             tier { id } errors { code } } }""",
        {"input": {"name": "Gold", "threshold": 100_000, "earnMultiplier": 1.0,
                   "perks": "Gold perks"}}, token=shop.admin.access_token)
    tier_id: str = data["tierCreate"]["tier"]["id"]
    set_tier = await shop.gql.data(
        """mutation($input: MemberTierSetInput!) { memberTierSet(input: $input) {
             errors { code } } }""",
        {"input": {"member": {"email": "ann@example.com"}, "tierId": tier_id,
                   "reason": "VIP"}}, token=shop.admin.access_token)
    assert set_tier["memberTierSet"]["errors"] == []
    return tier_id


async def test_a_tier_audience_leaves_other_members_out(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    ann = await shop.member("ann@example.com")
    bob = await shop.member("bob@example.com")
    gold = await _gold(shop)
    club = await create(shop, challenge(shop, title="Gold only", target=1, tiers=[gold],
                                        optIn=True))
    assert (await join(shop, bob, club))["errors"][0]["code"] == "CHALLENGE_NOT_JOINABLE"
    assert (await join(shop, ann, club))["errors"] == []
    await shop.record(shop.order("ann@example.com", 1000))
    await shop.record(shop.order("bob@example.com", 1000))

    assert (await mine(shop, ann))["Gold only"]["completedAt"] is not None
    assert await mine(shop, bob) == {}
    assert len(await documents(shop, "challenge_completions")) == 1


async def test_a_weekly_challenge_completes_again_each_week(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, title="Weekly", target=1, recurrence="WEEK"))
    ann = await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 1000))
    await shop.record(shop.order("ann@example.com", 1000))  # same week: no second reward
    await shop.advance(days=7)
    ann = await shop.sign_in("ann@example.com")
    fresh = (await mine(shop, ann))["Weekly"]
    assert (fresh["progress"], fresh["completedAt"]) == (0, None)
    await shop.record(shop.order("ann@example.com", 1000))

    periods = sorted(c["period"] for c in await documents(shop, "challenge_completions"))
    assert len(periods) == 2 and periods[0] < periods[1]
    assert (await shop.points(ann))["balance"] == 200
    assert await shop.violations() == []


async def test_verify_catches_a_reward_without_completion_and_a_missing_reward(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await create(shop, challenge(shop, target=1))
    await shop.member("ann@example.com")
    await shop.record(shop.order("ann@example.com", 1000))
    assert await shop.violations() == []
    store = gql.state.services.store
    (gift,) = await documents(shop, "gifts", {"occasion": "CHALLENGE"})
    await store.collection("gifts").insert_one(
        {**gift, "_id": gift["_id"].replace(":1:points", ":2:points")})
    await store.collection("challenge_completions").update_one(
        {}, {"$push": {"rounds": {"round": 9, "points": 5, "voucher": True}}})

    found = await shop.violations()

    assert any("a challenge gift without a completion" in v for v in found), found
    assert any("reward was never given" in v for v in found), found
    assert any("rounds do not add up" in v for v in found), found


async def test_a_challenge_that_is_over_or_archived_cannot_be_joined(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    short = await create(shop, challenge(shop, title="Short", optIn=True,
                                         endsAt=shop.later(days=1).isoformat()))
    archived = await create(shop, challenge(shop, title="Gone", optIn=True))
    await gql.data(ARCHIVE, {"input": {"challenge": archived}}, token=shop.admin.access_token)
    await shop.advance(days=2)
    ann = await shop.member("ann@example.com")

    over = await join(shop, ann, short)
    gone = await join(shop, ann, archived)

    assert over["errors"][0]["code"] == "CHALLENGE_NOT_JOINABLE"
    assert gone["errors"][0]["code"] == "UNKNOWN_CHALLENGE"
    assert await mine(shop, ann) == {}
    members = await documents(shop, "members", {"challenges_joined": {"$exists": True}})
    assert members == []
