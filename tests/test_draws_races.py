"""Entries racing the close, and what a draw adds to recording an action."""

import asyncio

from loyalty.play.draw_close import close_draw
from loyalty.play.draws import DRAW_ENTRIES, DRAWS
from tests.draw_support import action, create_draw, rerun
from tests.ledger_support import Shop, open_shop
from tests.support import GraphQLClient


async def test_no_entry_commits_after_the_entry_list_is_frozen(gql: GraphQLClient) -> None:
    shop = await open_shop(gql)
    emails = [f"m{i}@example.com" for i in range(4)]
    for email in emails:
        await shop.member(email)
    await create_draw(shop, prizes=[{"points": 10}],
                      actionEntries=[{"actionType": "REVIEW", "entries": 3}])
    await action(shop, emails[0], "REVIEW", "first")
    store = gql.state.services.store
    stored_id = (await store.collection(DRAWS).find_one({}, {"_id": 1}))["_id"]
    # The job's close, as a server whose clock already passed closesAt runs it, while the
    # shop (its clock just before closesAt) still records actions.
    due = shop.later(minutes=10, seconds=1)
    actions = [action(shop, emails[i % 4], "REVIEW", f"r-{i}") for i in range(16)]
    *recorded, closed = await asyncio.gather(*actions, close_draw(
        store, draw_id=stored_id, clock=lambda: due, audit=None, scheduled=True))
    assert all(r["errors"] == [] for r in recorded)
    granted = await store.collection(DRAW_ENTRIES).find({}).to_list(None)
    proof = dict(closed.draw.proof or {})
    # Every grant that committed is in the frozen list, and nothing else is.
    assert sum(e["tickets"] for e in proof["entries"]) == sum(g["entries"] for g in granted)
    assert (await store.collection(DRAWS).find_one({}))["tickets"] == 3 * len(granted)
    assert rerun(proof) == proof["winners"]
    assert await shop.violations() == []


async def _commands_for_action(shop: Shop, email: str, reference: str) -> int:
    commands = shop.gql.state.services.store.commands
    before = commands.total
    assert (await action(shop, email, "REVIEW", reference))["errors"] == []
    return commands.total - before


async def test_an_action_pays_for_draws_only_when_one_gives_it_entries(
    gql: GraphQLClient,
) -> None:
    shop = await open_shop(gql)
    await shop.member("ann@example.com")
    await _commands_for_action(shop, "ann@example.com", "warm-up")
    without = await _commands_for_action(shop, "ann@example.com", "r-1")
    await create_draw(shop, prizes=[{"points": 10}], actionEntries=[{"actionType": "SURVEY"}])
    await _commands_for_action(shop, "ann@example.com", "r-2")  # reads the draws once
    other_type = await _commands_for_action(shop, "ann@example.com", "r-3")
    await create_draw(shop, prizes=[{"points": 10}], actionEntries=[{"actionType": "REVIEW"}])
    await _commands_for_action(shop, "ann@example.com", "r-4")  # a new entrant
    entering = await _commands_for_action(shop, "ann@example.com", "r-5")
    print(f"actionRecord database commands: no draw {without}, a draw of another type "
          f"{other_type}, a draw giving entries {entering}")
    assert other_type == without
    assert entering - without <= 3
