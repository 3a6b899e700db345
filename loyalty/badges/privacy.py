"""The badges a member holds, in their data export and in their erasure.

Export: each badge held, with its name, when and by what it was granted, and why.
Erasure: the badges stay on the pseudonymous member document (which badges were earned
when is programme data, like the points), but the reason of each is emptied: an
administrator's reason is free text that may name the person.
"""

from collections.abc import AsyncGenerator

from events.personal_data import Erasure, Person, PersonalData
from loyalty.badges.catalogue import BADGES, all_badges
from loyalty.collections import MEMBERS
from store import Document, Store


async def _export(store: Store, person: Person) -> AsyncGenerator[Document]:
    doc = await store.collection(MEMBERS).find_one({"_id": person.member_id}, {"badges": 1})
    held = (doc or {}).get("badges") or {}
    if not held:
        return
    names = {badge.id: badge.draft.name for badge in await all_badges(store)}
    for badge_id, record in sorted(held.items(), key=lambda item: item[1]["earned_at"]):
        yield {"badge_id": badge_id, "name": names.get(badge_id, badge_id),
               "earned_at": record["earned_at"], "granted_by": record.get("source"),
               "reason": record.get("reason", "")}


async def _empty_reasons(store: Store, erasure: Erasure) -> None:
    member_id = erasure.person.member_id
    doc = await store.collection(MEMBERS).find_one({"_id": member_id}, {"badges": 1})
    held = (doc or {}).get("badges") or {}
    if held:
        await store.collection(MEMBERS).update_one(
            {"_id": member_id}, {"$set": {f"badges.{badge_id}.reason": "" for badge_id in held}})


PERSONAL_DATA = (
    PersonalData(
        section="badges", collection=MEMBERS, export=_export, erase=_empty_reasons,
        kept="Which badges the pseudonymous member earned, when and by what (challenge, "
        f"rule, administrator), for the programme's figures; the reasons are emptied. The "
        f"badge catalogue ({BADGES}) holds nothing about members."),
)
