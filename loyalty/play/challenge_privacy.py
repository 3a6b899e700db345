"""A member's challenges in their data export, and what erasure keeps.

Export (section `challenges`): the opt-in challenges joined and when, the progress counters
of every challenge and period, and each completion with its rounds (rewards given, what
completed it, what a refund took back).

Erasure: the progress counters and the joins go (they only serve the member's own pursuit
of challenges); the completions stay under the pseudonymous member id, like the ledger
entries and gifts they account for (`kizuna verify` checks one against the other). They
hold no free text about the member: challenge ids, periods, order or action ids, points.
"""

from collections.abc import AsyncGenerator

from events.personal_data import Erasure, Person, PersonalData, public_record
from loyalty.collections import MEMBERS
from loyalty.play.challenge_completion import COMPLETIONS
from loyalty.play.challenge_progress import PROGRESS
from store import Document, Store


async def _export(store: Store, person: Person) -> AsyncGenerator[Document]:
    """The joins, then the progress document, then each completion (oldest first)."""
    member = await store.collection(MEMBERS).find_one({"_id": person.member_id},
                                                      {"challenges_joined": 1})
    for challenge_id, joined_at in sorted(((member or {}).get("challenges_joined") or {})
                                          .items()):
        yield {"kind": "joined", "challenge_id": challenge_id, "joined_at": joined_at}
    progress = await store.collection(PROGRESS).find_one({"_id": person.member_id})
    if progress is not None:
        yield {"kind": "progress", "challenges": progress.get("c") or {},
               "updated_at": progress.get("updated_at")}
    completions = store.collection(COMPLETIONS).find({"member_id": person.member_id})
    async for doc in completions.sort("completed_at", 1):
        yield {"kind": "completion", **public_record(doc, drop=("member_id",))}


async def _erase(store: Store, erasure: Erasure) -> None:
    member_id = erasure.person.member_id
    await store.collection(PROGRESS).delete_one({"_id": member_id})
    await store.collection(MEMBERS).update_one({"_id": member_id},
                                               {"$unset": {"challenges_joined": ""}})


PERSONAL_DATA = (
    PersonalData(
        section="challenges", collection=COMPLETIONS, export=_export, erase=_erase,
        kept="Each challenge completion (which challenge and period, the rewards given and "
        "taken back, the order or action that completed it) under the pseudonymous member "
        "id: the bookkeeping of rewards, like the ledger. The progress counters and the "
        "opt-in joins are removed."),
)
