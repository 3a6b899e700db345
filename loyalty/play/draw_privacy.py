"""A member's prize draw entries in their data export, and what erasure keeps.

The published proofs never name a member: they list pseudonymous entrant ids (an HMAC of
the member id under the draw's secret salt, which is never published). Erasure changes
nothing here: the entries and their ledger debits stay under the pseudonymous member id
(like every ledger entry), so the proofs stay valid, and without the salt nobody outside
can link an entrant id to anyone.
"""

from collections.abc import AsyncGenerator

from events.personal_data import Person, PersonalData, public_record
from loyalty.play.draws import DRAW_ENTRANTS, DRAW_ENTRIES
from store import Document, Store


async def _entries(store: Store, person: Person) -> AsyncGenerator[Document]:
    """Each draw entered (the entrant id and tickets), then each grant of entries."""
    entrants = store.collection(DRAW_ENTRANTS).find({"member_id": person.member_id})
    async for doc in entrants.sort("_id", 1):
        yield {"kind": "entrant", **public_record(doc, drop=("member_id",))}
    grants = store.collection(DRAW_ENTRIES).find({"member_id": person.member_id})
    async for doc in grants.sort("created_at", 1):
        yield {"kind": "entries", **public_record(doc, drop=("member_id",))}


PERSONAL_DATA = (
    PersonalData(
        section="draw_entries", collection=DRAW_ENTRIES, export=_entries,
        kept="The member's entries in prize draws and the ledger debits of bought ones, "
        "under the pseudonymous member id; the published proofs list only entrant ids "
        "that cannot be linked to the member without the draw's secret salt."),
)
