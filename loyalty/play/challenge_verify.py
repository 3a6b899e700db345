"""`kizuna verify` for challenges: every completion has its reward records and entries, and
nothing more (no reward without a completion, no two rewards for one completion)."""

from collections.abc import AsyncIterator, Mapping
from typing import Any

from loyalty.collections import GIFTS, LEDGER
from loyalty.engagement.gifts import Occasion
from loyalty.ledger.verify import Members, Violation
from loyalty.play.challenge_completion import COMPLETIONS, revoke_key, reward_key
from store import Session, Store

INVARIANT = "challenge rewards"


def _expected(completion: Mapping[str, Any]) -> tuple[dict[str, int | None], dict[str, int]]:
    """The gift records (key → points, None for a voucher) and ledger entries (key → signed
    points) the completion's rounds must have."""
    gifts: dict[str, int | None] = {}
    entries: dict[str, int] = {}
    cid = completion["_id"]
    for record in completion.get("rounds") or []:
        round = int(record["round"])
        if record.get("points"):
            key = reward_key(cid, round, "points")
            gifts[key] = int(record["points"])
            entries[key] = int(record["points"])
        if record.get("voucher"):
            gifts[reward_key(cid, round, "voucher")] = None
        if record.get("taken_back"):
            entries[revoke_key(cid, round)] = -int(record["taken_back"])
    return gifts, entries


async def challenge_rewards(
    store: Store, session: Session | None, members: Members
) -> AsyncIterator[Violation]:
    """The batch's completions against their members' challenge gifts and entries."""
    completions = [doc async for doc in store.collection(COMPLETIONS).find(
        members.where(), session=session)]
    gifts = {doc["_id"]: doc async for doc in store.collection(GIFTS).find(
        {"occasion": Occasion.CHALLENGE.value, **members.where()},
        {"gift": 1, "member_id": 1}, session=session)}
    entries = {doc["key"]: doc async for doc in store.collection(LEDGER).find(
        {"source.type": Occasion.CHALLENGE.value, **members.where()},
        {"key": 1, "points": 1, "member_id": 1}, session=session)}
    wanted_gifts: dict[str, int | None] = {}
    wanted_entries: dict[str, int] = {}
    for completion in completions:
        if len(completion.get("rounds") or []) != int(completion.get("round", 0)):
            yield Violation(INVARIANT, completion["_id"], "its rounds do not add up")
        expected_gifts, expected_entries = _expected(completion)
        wanted_gifts |= expected_gifts
        wanted_entries |= expected_entries
    for key, points in wanted_gifts.items():
        gift = gifts.get(key)
        if gift is None:
            yield Violation(INVARIANT, key, "a completion's reward was never given")
        elif (gift.get("gift") or {}).get("points") != points:
            yield Violation(INVARIANT, key, "the gift is not the completion's reward")
    for key, points in wanted_entries.items():
        entry = entries.get(key)
        if entry is None:
            yield Violation(INVARIANT, key, "a completion's ledger entry is missing")
        elif entry["points"] != points:
            yield Violation(INVARIANT, key, f"{entry['points']} points, not {points}")
    for key in gifts.keys() - wanted_gifts.keys():
        yield Violation(INVARIANT, key, "a challenge gift without a completion")
    for key in entries.keys() - wanted_entries.keys():
        yield Violation(INVARIANT, key, "a challenge ledger entry without a completion")
