"""One read of what a member's screens are made of: their totals document and their open
lots. Any number of members costs two queries, made together."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty.collections import LOTS, MEMBERS
from loyalty.ledger.lots import OpenLot, spendable_points
from loyalty.ledger.member_state import MemberState, state_from_document
from loyalty.ledger.posting import LOT_FIELDS, OPEN_LOT, lot_from_document
from store import Store


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    state: MemberState
    lots: tuple[OpenLot, ...]
    """Open lots: pending ones, and due ones the expiry job has not swept yet, included."""

    def live_lots(self, now: datetime) -> list[OpenLot]:
        """The lots not expired at `now`."""
        return [lot for lot in self.lots if not lot.expired(now)]

    def balance(self, now: datetime) -> int:
        """Spendable now, net of debt (never negative)."""
        return max(0, spendable_points(self.live_lots(now), now) - self.state.debt)


async def read_snapshots(store: Store, member_ids: Sequence[str]) -> dict[str, MemberSnapshot]:
    """Every one of `member_ids` (a member without a totals document has zero of all)."""
    ids = list(dict.fromkeys(member_ids))
    documents, lot_documents = await asyncio.gather(
        store.collection(MEMBERS).find({"_id": {"$in": ids}}).to_list(),
        store.collection(LOTS).find({"member_id": {"$in": ids}, **OPEN_LOT},
                                    {**LOT_FIELDS, "member_id": 1}).to_list(),
    )
    by_member: dict[str, list[OpenLot]] = {member_id: [] for member_id in ids}
    for doc in lot_documents:
        by_member[doc["member_id"]].append(lot_from_document(doc))
    states = {doc["_id"]: doc for doc in documents}
    return {
        member_id: MemberSnapshot(state_from_document(member_id, states.get(member_id)),
                                  tuple(by_member[member_id]))
        for member_id in ids
    }
