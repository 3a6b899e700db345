"""`kizuna verify` for challenges: every completion has its reward records and entries, and
nothing more (no reward without a completion, no two rewards for one completion, no second
voucher for a member's challenge period), the badges of standing completions are held, and
no voucher gift stays pending for more than a day."""

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from events import EventType
from events.outbox import OUTBOX
from loyalty.collections import GIFTS, LEDGER, MEMBERS
from loyalty.engagement.gifts import Occasion
from loyalty.ledger.verify import Members, Violation
from loyalty.play.challenge_completion import COMPLETED, COMPLETIONS, revoke_key, reward_key
from store import Session, Store

INVARIANT = "challenge rewards"
STALE_PENDING = timedelta(days=1)
"""The jobs deliver pending gifts every round: one still pending after a day is stuck."""


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
        {"gift": 1, "member_id": 1, "status": 1, "created_at": 1}, session=session)}
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
    for violation in _vouchers(gifts.values(), now=datetime.now(UTC)):
        yield violation
    async for violation in _badges_held(store, session, completions):
        yield violation
    for key in gifts.keys() - wanted_gifts.keys():
        yield Violation(INVARIANT, key, "a challenge gift without a completion")
    for key in entries.keys() - wanted_entries.keys():
        yield Violation(INVARIANT, key, "a challenge ledger entry without a completion")


def _vouchers(gifts: Iterable[Mapping[str, Any]], *, now: datetime) -> Iterator[Violation]:
    """A second voucher gift for one member, challenge and period (keys
    "challenge:<completion>:<round>:voucher"), and voucher gifts stuck PENDING."""
    per_completion: Counter[str] = Counter()
    for gift in gifts:
        key = str(gift["_id"])
        if not key.endswith(":voucher"):
            continue
        completion = key.removeprefix("challenge:").rsplit(":", 2)[0]
        per_completion[completion] += 1
        if per_completion[completion] == 2:
            yield Violation(INVARIANT, completion, "a second voucher for one completion")
        created = gift.get("created_at")
        if gift.get("status") == "PENDING" and created is not None and \
                _aware(created) < now - STALE_PENDING:
            yield Violation(INVARIANT, key, "a voucher gift still pending after a day")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _badges_held(
    store: Store, session: Session | None, completions: Sequence[Mapping[str, Any]]
) -> AsyncIterator[Violation]:
    """Each badge the latest round of a standing (not revoked) completion gave is held by
    the member, or was revoked by an administrator since (one query per batch, none
    without such badges; a second only when one is missing)."""
    wanted = {
        (c["member_id"], badge, c["_id"])
        for c in completions if c.get("status") == COMPLETED
        for badge in ((c.get("rounds") or [{}])[-1].get("badges") or [])
    }
    if not wanted:
        return
    held = {doc["_id"]: doc.get("badges") or {} async for doc in store.collection(
        MEMBERS).find({"_id": {"$in": sorted({m for m, _, _ in wanted})}}, {"badges": 1},
                      session=session)}
    missing = [(m, b, c) for m, b, c in sorted(wanted) if b not in held.get(m, {})]
    if not missing:
        return
    # An administrator may revoke a badge a challenge gave (badgeRevoke): not a fault. One
    # more query, only when a badge is missing.
    revoked = {(doc["member_id"], (doc.get("data") or {}).get("badge", {}).get("id"))
               async for doc in store.collection(OUTBOX).find(
                   {"member_id": {"$in": sorted({m for m, _, _ in missing})},
                    "type": EventType.BADGE_REVOKED.value},
                   {"member_id": 1, "data.badge.id": 1}, session=session)}
    for member_id, badge, completion in missing:
        if (member_id, badge) not in revoked:
            yield Violation(INVARIANT, completion, f"the badge {badge} it gave is not held")
