"""The administrators' member list (`members`): search by every key, filters, sorts paged
across pages, bad input as typed errors, who may read it, constant round trips per page."""

import base64
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from strawberry import relay

from api.migrations import member_directory
from auth.accounts import get_accounts
from auth.member_search import by_name_words
from tests.ledger_support import PER_EURO, Shop, open_shop
from tests.support import DEFAULT_PASSWORD, GraphQLClient, SignedIn

MEMBERS = """
query($query: String, $tier: ID, $segment: ID, $from: DateTime, $to: DateTime,
      $sort: MemberSort, $first: Int!, $after: String) {
  members(query: $query, tier: $tier, segment: $segment, joinedFrom: $from, joinedTo: $to,
          sort: $sort, first: $first, after: $after) {
    edges { cursor node { id email name } }
    pageInfo { hasNextPage endCursor }
    searchTruncated } }"""

# name, email, points adjusted (None: never moved points)
PEOPLE = [
    ("Ann Smithers", "ann@example.com", 50),
    ("Bob Stone", "bob.s@example.com", 10),
    ("Carla Smith-Jones", "CARLA@shop.example", None),
    ("Dmitri Ivanov", "dmitri@example.com", 50),
    ("Eve Mary Ann", "eve@example.com", 5),
    ("Fay A.*B", "fay+1@example.com", None),
]


@dataclass
class Directory:
    shop: Shop
    ids: dict[str, str]  # email (lower case) → global id

    @property
    def admin(self) -> str:
        return self.shop.admin.access_token

    async def page(self, token: str | None = None, **variables: Any) -> dict[str, Any]:
        variables.setdefault("first", 20)
        data = await self.shop.gql.data(MEMBERS, variables, token=token or self.admin)
        members: dict[str, Any] = data["members"]
        return members

    async def emails(self, **variables: Any) -> list[str]:
        return [edge["node"]["email"] for edge in (await self.page(**variables))["edges"]]

    async def codes(self, token: str | None = None, **variables: Any) -> list[str]:
        variables.setdefault("first", 20)
        body = await self.shop.gql.execute(MEMBERS, variables, token=token or self.admin)
        return [error["extensions"]["code"] for error in body.get("errors", [])]


async def _directory(gql: GraphQLClient) -> Directory:
    """Six members who joined a day apart; some moved points (an hour apart, so their last
    activity follows the order of PEOPLE)."""
    shop = await open_shop(gql)
    ids: dict[str, str] = {}
    for name, email, _points in PEOPLE:
        registered = await gql.register(email=email, name=name)
        assert registered["errors"] == [], registered
        ids[email.lower()] = registered["member"]["id"]
        await shop.advance(days=1)
    await shop.rule(PER_EURO)
    for _name, email, points in PEOPLE:
        if points is not None:  # an earn: points and last activity
            recorded = await shop.record(shop.order(email.lower(), points * 100))
            assert recorded["errors"] == [], recorded
            await shop.advance(hours=1)
    return Directory(shop, ids)


async def test_a_search_finds_members_by_email_name_id_referral_code_and_card(
    gql: GraphQLClient,
) -> None:
    directory = await _directory(gql)
    ann = await gql.sign_in("ann@example.com")
    me = await gql.data("{ me { referralCode card { token } } }", token=ann["accessToken"])
    token = me["me"]["card"]["token"]

    assert await directory.emails(query="ANN@EX") == ["ann@example.com"]
    assert await directory.emails(query="carla@") == ["carla@shop.example"]
    assert sorted(await directory.emails(query="smith")) == [
        "ann@example.com", "carla@shop.example"]
    assert await directory.emails(query="jones") == ["carla@shop.example"]
    assert sorted(await directory.emails(query="ann")) == ["ann@example.com", "eve@example.com"]
    assert await directory.emails(query="mary ann") == ["eve@example.com"]
    assert await directory.emails(query="Ivanov Dmitri") == ["dmitri@example.com"]
    global_id = directory.ids["bob.s@example.com"]
    assert await directory.emails(query=global_id) == ["bob.s@example.com"]
    raw_id = relay.GlobalID.from_id(global_id).node_id
    assert await directory.emails(query=raw_id) == ["bob.s@example.com"]
    assert await directory.emails(query=me["me"]["referralCode"].lower()) == ["ann@example.com"]
    assert await directory.emails(query=token) == ["ann@example.com"]
    assert await directory.emails(query=token[3:19]) == ["ann@example.com"]
    assert await directory.emails(query="nobody") == []


async def test_regex_metacharacters_in_a_search_are_literal(gql: GraphQLClient) -> None:
    directory = await _directory(gql)

    assert await directory.emails(query="a.*") == ["fay+1@example.com"]  # "Fay A.*B"
    assert await directory.emails(query=".*") == []
    assert await directory.emails(query="[a]") == []
    assert await directory.emails(query="^ann") == []
    assert await directory.emails(query="fay+") == ["fay+1@example.com"]
    assert await directory.emails(query="bob.s") == ["bob.s@example.com"]
    assert await directory.emails(query="bob.") == ["bob.s@example.com"]
    assert await directory.emails(query="b.b") == []


async def _all_pages(directory: Directory, sort: dict[str, str], first: int) -> list[str]:
    emails: list[str] = []
    after = None
    for _ in range(10):
        page = await directory.page(sort=sort, first=first, after=after)
        emails += [edge["node"]["email"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return emails
        after = page["pageInfo"]["endCursor"]
    raise AssertionError(f"no last page: {emails}")


async def test_every_sort_pages_through_every_member_in_order_in_both_directions(
    gql: GraphQLClient,
) -> None:
    directory = await _directory(gql)
    joined = [email.lower() for _name, email, _points in PEOPLE]
    # Balance ties (ann and dmitri: 50; carla and fay: 0) go by id, in joining order here.
    by_balance = ["carla@shop.example", "fay+1@example.com", "eve@example.com",
                  "bob.s@example.com", "ann@example.com", "dmitri@example.com"]
    # Never active (carla, fay) first ascending, by id; then by the time of their activity.
    by_activity = ["carla@shop.example", "fay+1@example.com", "ann@example.com",
                   "bob.s@example.com", "dmitri@example.com", "eve@example.com"]

    for field, ascending in (("JOINED", joined), ("BALANCE", by_balance),
                             ("LAST_ACTIVITY", by_activity)):
        for first in (2, 4):
            assert await _all_pages(directory, {"field": field, "direction": "ASC"},
                                    first) == ascending, (field, first)
            assert await _all_pages(directory, {"field": field, "direction": "DESC"},
                                    first) == ascending[::-1], (field, first)
    assert await directory.emails(first=2) == joined[::-1][:2]  # newest first by default


async def test_filters_by_join_dates_tier_and_segment_combine_with_search(
    gql: GraphQLClient,
) -> None:
    directory = await _directory(gql)
    admin = directory.admin
    start = gql.state.services.clock() - timedelta(days=6, hours=4)  # Ann joined then
    gold = await gql.data(
        """mutation { tierCreate(input: {name: "Gold", threshold: 1000}) { tier { id } } }""",
        token=admin)
    gold_id = gold["tierCreate"]["tier"]["id"]
    for email in ("bob.s@example.com", "eve@example.com"):
        data = await gql.data(
            """mutation($input: MemberTierSetInput!) { memberTierSet(input: $input) {
                 errors { code } } }""",
            {"input": {"member": {"email": email}, "tierId": gold_id, "reason": "VIP"}},
            token=admin)
        assert data["memberTierSet"]["errors"] == []
    segment = await gql.data(
        """mutation($input: SegmentCreateInput!) { segmentCreate(input: $input) {
             segment { id } errors { code } } }""",
        {"input": {"name": "GOLDEN", "conditions": {"tiers": [gold_id]}}}, token=admin)
    segment_id = segment["segmentCreate"]["segment"]["id"]
    ascending = {"field": "JOINED", "direction": "ASC"}

    assert await directory.emails(sort=ascending, **{
        "from": (start + timedelta(days=1)).isoformat(),
        "to": (start + timedelta(days=3)).isoformat()}) == [
        "bob.s@example.com", "carla@shop.example"]
    assert await directory.emails(sort=ascending, tier=gold_id) == [
        "bob.s@example.com", "eve@example.com"]
    assert await directory.emails(sort=ascending, segment=segment_id) == [
        "bob.s@example.com", "eve@example.com"]
    assert await directory.emails(sort=ascending, segment=segment_id, query="eve") == [
        "eve@example.com"]
    assert await directory.emails(sort=ascending, tier=gold_id, **{
        "to": (start + timedelta(days=2)).isoformat()}) == ["bob.s@example.com"]


async def test_bad_arguments_are_typed_errors(gql: GraphQLClient) -> None:
    directory = await _directory(gql)
    now = gql.state.services.clock()
    page = await directory.page(first=2)
    cursor = page["pageInfo"]["endCursor"]

    assert await directory.codes(**{"from": now.isoformat(),
                                    "to": (now - timedelta(days=1)).isoformat()}) == [
        "INVALID_INPUT"]
    assert await directory.codes(tier=str(relay.GlobalID("Tier", "nope"))) == ["UNKNOWN_TIER"]
    assert await directory.codes(tier=directory.ids["ann@example.com"]) == ["UNKNOWN_TIER"]
    assert await directory.codes(segment=str(relay.GlobalID("Segment", "nope"))) == [
        "UNKNOWN_SEGMENT"]
    assert await directory.codes(after="not a cursor") == ["INVALID_INPUT"]
    assert await directory.codes(after=cursor, sort={"field": "BALANCE"}) == ["INVALID_INPUT"]
    assert await directory.codes(first=-1) == ["INVALID_INPUT"]
    assert await directory.codes(query="x" * 201) == ["INVALID_INPUT"]
    assert await directory.codes(**{"from": "2026-12-05T09:30:00"}) == ["INVALID_INPUT"]
    forged = base64.urlsafe_b64decode(cursor.encode()).decode().replace(
        '"v":', '"v": null, "w":', 1)
    assert await directory.codes(after=base64.urlsafe_b64encode(forged.encode()).decode()) == [
        "INVALID_INPUT"]
    assert await directory.codes(after=cursor) == []


async def test_a_huge_first_is_capped_at_a_hundred(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    store = gql.state.services.store
    now = gql.state.services.clock()
    await store.collection("accounts").insert_many([
        {"_id": f"bulk{n:04d}", "email": f"bulk{n}@example.com", "name": f"Bulk {n}",
         "role": "MEMBER", "created_at": now + timedelta(minutes=n), "password_hash": "x"}
        for n in range(105)])
    await member_directory(store)  # as start-up does for accounts made before the list
    directory = Directory(shop, {})

    lean = """query($first: Int!, $after: String) { members(first: $first, after: $after) {
                edges { cursor } pageInfo { hasNextPage endCursor } } }"""
    page = (await gql.data(lean, {"first": 150}, token=directory.admin))["members"]
    rest = (await gql.data(lean, {"first": 150, "after": page["pageInfo"]["endCursor"]},
                           token=directory.admin))["members"]
    huge = await gql.execute(lean, {"first": 10**9}, token=directory.admin)

    assert len(page["edges"]) == 100 and page["pageInfo"]["hasNextPage"] is True
    assert len(rest["edges"]) == 5 and rest["pageInfo"]["hasNextPage"] is False
    # So huge that even its cost is refused up front (the schema's limit), never a fault.
    assert [e["extensions"]["code"] for e in huge["errors"]] == ["QUERY_TOO_COSTLY"]
    assert await directory.emails(query="Bulk 42") == ["bulk42@example.com"]
    assert len(await directory.emails(query="bulk1")) == 16  # 1, 10–19, 100–104


async def test_a_search_matching_too_many_members_says_so(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    store = gql.state.services.store
    now = gql.state.services.clock()
    await store.collection("accounts").insert_many([
        {"_id": f"many{n:04d}", "email": f"many{n}@example.com", "name": "Many",
         "role": "MEMBER", "created_at": now, "password_hash": "x"} for n in range(201)])
    await member_directory(store)
    directory = Directory(shop, {})

    assert (await directory.page(query="many", first=5))["searchTruncated"] is True
    assert (await directory.page(query="many1", first=5))["searchTruncated"] is False


async def test_only_admins_and_keys_with_members_read_may_list_members(
    gql: GraphQLClient,
) -> None:
    directory = await _directory(gql)
    admin = directory.admin
    member = await gql.sign_in("ann@example.com")
    data = await gql.data(
        """mutation { storeCreate(input: {code: "PARIS-01", name: "Paris",
             timezone: "Europe/Paris"}) { store { id } } }""", token=admin)
    await gql.data(
        """mutation($input: StaffCreateInput!) { staffCreate(input: $input) {
             errors { code } } }""",
        {"input": {"email": "sam@example.com", "password": DEFAULT_PASSWORD, "name": "Sam",
                   "store": data["storeCreate"]["store"]["id"]}}, token=admin)
    staff = await gql.sign_in("sam@example.com")
    reader = await gql.data(
        """mutation { apiKeyCreate(input: {name: "CRM", scopes: [MEMBERS_READ]}) {
             secret } }""", token=admin)

    assert await directory.codes(token=member["accessToken"]) == ["FORBIDDEN"]
    assert await directory.codes(token=staff["accessToken"]) == ["FORBIDDEN"]
    assert await directory.codes(token=directory.shop.api_key) == ["FORBIDDEN"]
    body = await gql.execute(MEMBERS, {"first": 1})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    crm = reader["apiKeyCreate"]["secret"]
    assert len((await directory.page(token=crm))["edges"]) == 6
    # A referral code and a card are the member's own: a shop system finds no one by them.
    me = await gql.data("{ me { referralCode card { token } } }", token=member["accessToken"])
    for typed in (me["me"]["referralCode"], me["me"]["card"]["token"]):
        assert (await directory.page(token=crm, query=typed))["edges"] == []
        assert len((await directory.page(query=typed))["edges"]) == 1
    assert (await directory.page(token=crm, query="ann@"))["edges"][0]["node"]["email"] == (
        "ann@example.com")


async def _round_trips(gql: GraphQLClient, token: str, variables: dict[str, Any]) -> int:
    commands = gql.state.services.store.commands
    before = commands.total
    await gql.data(MEMBERS, variables, token=token)
    return commands.total - before


async def test_a_page_costs_the_same_round_trips_whatever_its_size(gql: GraphQLClient) -> None:
    directory = await _directory(gql)
    admin: SignedIn = directory.shop.admin
    searches = [
        {"query": "a"},
        {"query": "a", "sort": {"field": "BALANCE", "direction": "ASC"}},
        {"sort": {"field": "BALANCE", "direction": "DESC"}},
        {"sort": {"field": "JOINED", "direction": "ASC"}},
    ]
    for variables in searches:
        await _round_trips(gql, admin.access_token, {**variables, "first": 1})  # caches warm
        small = await _round_trips(gql, admin.access_token, {**variables, "first": 1})
        large = await _round_trips(gql, admin.access_token, {**variables, "first": 6})
        assert small == large, variables
        assert large <= 8, variables
    # By last activity, a page that reaches the members never active reads them too.
    activity = {"sort": {"field": "LAST_ACTIVITY", "direction": "DESC"}}
    small = await _round_trips(gql, admin.access_token, {**activity, "first": 1})
    large = await _round_trips(gql, admin.access_token, {**activity, "first": 6})
    assert small <= 2 and large == small + 1


async def test_several_name_words_find_every_match_past_the_first_of_each_word(
    gql: GraphQLClient,
) -> None:
    """With room for two matches per word, "john smith" still finds the John Smiths that
    come after the first two Johns and the first two Smiths."""
    directory = await _directory(gql)
    for name, email in (("John Adams", "j1@example.com"), ("John Brown", "j2@example.com"),
                        ("Kim Smith", "s1@example.com"), ("Lee Smith", "s2@example.com"),
                        ("John Smith", "js@example.com")):
        assert (await gql.register(email=email, name=name))["errors"] == []
    store = gql.state.services.store
    found = await by_name_words(store, "john smith", limit=2)
    accounts = await get_accounts(store, found.member_ids)
    assert [accounts[i].email for i in found.member_ids] == ["js@example.com"]
    assert await directory.emails(query="john smith") == ["js@example.com"]
