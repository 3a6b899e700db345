"""Joining the leaderboards: a member opts in with a display name of their choosing (one
for the whole programme), may change it, and may leave.

The name lives on the member document (`leaderboard` {name, key, joined_at}), which the
order path reads anyway, so an order of a member who did not join costs nothing more; `key`
(loyalty/play/leaderboard_names.name_key) has a unique index. Each score document carries
the name too, so a board is read without looking members up; a change of name rewrites the
member's score documents in the same transaction. Leaving removes the name and every
score: nothing of the member stays on any board (closed periods' prize records keep the
pseudonymous member id only).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty.collections import LEADERBOARD_SCORES, MEMBERS
from loyalty.play.leaderboard_names import DisplayNameTaken, check_display_name, name_key
from store import IndexSpec, Session, Store, is_duplicate_key
from store.clock import Clock

INDEXES = (
    IndexSpec(MEMBERS, (("leaderboard.key", 1),), name="leaderboard_name_unique", unique=True,
              partial_filter={"leaderboard.key": {"$exists": True}}),
)


@dataclass(frozen=True, slots=True)
class Player:
    member_id: str
    display_name: str
    joined_at: datetime


async def join(
    store: Store, *, member_id: str, display_name: str, blocklist: Sequence[str],
    own: Iterable[str | None], clock: Clock,
) -> Player:
    """Join with `display_name`, or change it when joined already. Raises
    DisplayNameNotAllowed or DisplayNameTaken, writing nothing."""
    name = check_display_name(display_name, blocklist=blocklist, own=own)
    key = name_key(name)
    now = clock()

    async def work(session: Session) -> Player:
        members = store.collection(MEMBERS)
        doc = await members.find_one({"_id": member_id}, {"leaderboard": 1}, session=session)
        joined_at = ((doc or {}).get("leaderboard") or {}).get("joined_at") or now
        await members.update_one(
            {"_id": member_id},
            {"$set": {"leaderboard": {"name": name, "key": key, "joined_at": joined_at}}},
            upsert=True, session=session)
        await store.collection(LEADERBOARD_SCORES).update_many(
            {"member": member_id}, {"$set": {"name": name}}, session=session)
        return Player(member_id, name, joined_at)

    try:
        return await store.transaction(work)
    except Exception as error:
        if is_duplicate_key(error):
            raise DisplayNameTaken("Another member has this display name; choose another.",
                                   field=("input", "displayName")) from error
        raise


async def leave(store: Store, *, member_id: str) -> None:
    """Leave every board: the name and all the member's scores go (leaving twice is fine)."""

    async def work(session: Session) -> None:
        await store.collection(MEMBERS).update_one(
            {"_id": member_id}, {"$unset": {"leaderboard": ""}}, session=session)
        await store.collection(LEADERBOARD_SCORES).delete_many({"member": member_id},
                                                               session=session)

    await store.transaction(work)


async def player(store: Store, member_id: str) -> Player | None:
    doc = await store.collection(MEMBERS).find_one({"_id": member_id}, {"leaderboard": 1})
    joined = (doc or {}).get("leaderboard")
    if not joined:
        return None
    return Player(member_id, joined["name"], joined["joined_at"])
