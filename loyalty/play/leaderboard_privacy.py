"""The personal data of the leaderboards: a member's display name and scores.

Erasure removes both (the member leaves every board); the closed periods' winner lists
keep the pseudonymous member id, like the gifts they account for.
"""

from collections.abc import AsyncGenerator

from events.personal_data import Erasure, Person, PersonalData, public_record
from loyalty.collections import LEADERBOARD_SCORES, MEMBERS
from loyalty.play.leaderboard_players import leave
from store import Document, Store


async def _name(store: Store, person: Person) -> AsyncGenerator[Document]:
    doc = await store.collection(MEMBERS).find_one({"_id": person.member_id},
                                                   {"leaderboard": 1})
    joined = (doc or {}).get("leaderboard")
    if joined:
        yield {"display_name": joined["name"], "joined_at": joined["joined_at"]}


async def _scores(store: Store, person: Person) -> AsyncGenerator[Document]:
    cursor = store.collection(LEADERBOARD_SCORES).find({"member": person.member_id}).sort(
        "_id", 1)
    async for doc in cursor:
        yield public_record(doc, drop=("member", "_id"))


async def _erase(store: Store, erasure: Erasure) -> None:
    await leave(store, member_id=erasure.person.member_id)


PERSONAL_DATA = (
    PersonalData(
        section="leaderboard_name", collection=MEMBERS, export=_name, erase=_erase,
        kept="Nothing: the display name and every leaderboard score are removed."),
    PersonalData(
        section="leaderboard_scores", collection=LEADERBOARD_SCORES, export=_scores,
        kept="Nothing (removed with the display name); closed periods' winner lists keep the "
        "pseudonymous member id with the prize gift."),
)
