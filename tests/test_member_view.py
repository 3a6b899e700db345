"""The member's home screen costs a constant number of database round trips."""

from tests.ledger_support import PER_EURO, open_shop
from tests.support import GraphQLClient

HOME = """{ me { name points { balance pending lifetimeEarned
  expiringSoon { points expiresAt } }
  history(first: 20) { edges { node { kind points reason occurredAt
    breakdown { ruleName points } } } pageInfo { hasNextPage endCursor } } } }"""


async def round_trips_for_home(gql: GraphQLClient, token: str) -> int:
    commands = gql.state.services.store.commands
    before = commands.total
    await gql.data(HOME, token=token)
    return commands.total - before


async def test_home_screen_round_trips_do_not_grow_with_history(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    ann = await shop.member("ann@example.com")
    for _ in range(3):
        await shop.record(shop.order("ann@example.com", 1_000))
    few = await round_trips_for_home(gql, ann.access_token)
    for _ in range(30):
        await shop.record(shop.order("ann@example.com", 1_000))
    many = await round_trips_for_home(gql, ann.access_token)
    assert few == many <= 4


async def test_history_pages_newest_first(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    await shop.rule(PER_EURO)
    ann = await shop.member("ann@example.com")
    for euros in range(1, 6):
        await shop.record(shop.order("ann@example.com", euros * 100))
    query = """query($after: String) { me { history(first: 2, after: $after) {
      edges { node { points } } pageInfo { hasNextPage endCursor } } } }"""
    seen: list[int] = []
    after = None
    while True:
        page = (await gql.data(query, {"after": after}, token=ann.access_token))["me"]["history"]
        seen += [edge["node"]["points"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [5, 4, 3, 2, 1]
