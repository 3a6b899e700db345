"""The roll-ups recomputed from the records they summarise: ledger entries (with their lots'
expiry dates), member accounts and survey answers. `kizuna verify` compares them with the
stored roll-ups; `rebuild` writes them for a database that predates the roll-ups.

Active members and members by tier are the only counters that depend on a member's
earlier entries; both telescope (a member's move from one day or tier to the next adds one
and takes one back), so what the writers added comes to: one active member on the day of
each member's latest activity, and per tier move +1 to the new tier and −1 to the
previous one, in the order the member's tier entries were recorded.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.audit import with_fields
from loyalty.collections import (
    ACCOUNTS,
    LEDGER,
    LOTS,
    MEMBER_ROLE,
    MEMBERS,
    STATS,
    SURVEY_RESPONSES,
)
from loyalty.ledger.entries import NO_TIER, EntryKind
from loyalty.ledger.rollups import (
    ACTIVITY,
    ENTRY_FIELDS,
    Tally,
    add_movement,
    count_tier_move,
    flatten,
    nps_band,
    utc_day,
)
from store import Document, Session, Store, UpdateOne

"""The role of a member's account (auth's Role.MEMBER, which loyalty may not import)."""

ACCOUNT_FIELDS = ("role", "created_at")
ANSWER_FIELDS = ("score", "submitted_at")
LOT_FIELDS = ("expires_at",)
_WRITES = 1_000


@dataclass(slots=True)
class Books:
    """Expected roll-ups, accumulated from records in any order and any number of parts."""

    tally: Tally = field(default_factory=Tally)
    latest_activity: dict[str, datetime] = field(default_factory=dict)
    tier_entries: list[tuple[str, datetime, str, str]] = field(default_factory=list)
    """(member, recorded at, entry id, tier) of every TIER entry."""

    def entries(self, docs: Iterable[Document], lot_expiries: Mapping[str, Any]) -> None:
        """Ledger entry documents (their ENTRY_FIELDS and `_id`); `lot_expiries` gives the
        expiry of every lot they moved points in."""
        for doc in docs:
            add_movement(self.tally, doc, lot_expiries)
            member = doc["member_id"]
            if doc["kind"] in ACTIVITY and doc["points"]:
                latest = self.latest_activity.get(member)
                if latest is None or doc["recorded_at"] > latest:
                    self.latest_activity[member] = doc["recorded_at"]
            elif doc["kind"] == EntryKind.TIER:
                self.tier_entries.append(
                    (member, doc["recorded_at"], doc["_id"], doc["source"]["id"]))

    def accounts(self, docs: Iterable[Document]) -> None:
        """Account documents: members count on the day they joined."""
        for doc in docs:
            if doc.get("role") == MEMBER_ROLE:
                self.tally.add(utc_day(doc["created_at"]), "joined")

    def answers(self, docs: Iterable[Document]) -> None:
        """Survey answers, by NPS band on the day they were given."""
        for doc in docs:
            self.tally.add(utc_day(doc["submitted_at"]), f"nps.{nps_band(doc['score'])}")

    def merge(self, other: "Books") -> None:
        self.tally.merge(other.tally)
        for member, at in other.latest_activity.items():
            if member not in self.latest_activity or at > self.latest_activity[member]:
                self.latest_activity[member] = at
        self.tier_entries += other.tier_entries

    def expected(self) -> Tally:
        """Every counter, the chained ones included."""
        expected = Tally()
        expected.merge(self.tally)
        for at in self.latest_activity.values():
            expected.add(utc_day(at), "active")
        current: dict[str, str] = {}
        for member, at, _, tier in sorted(self.tier_entries, key=lambda e: (e[0], e[1], e[2])):
            previous = current.get(member)
            count_tier_move(expected, utc_day(at), to=tier,
                            previous=None if previous == NO_TIER else previous)
            current[member] = tier
        return expected


async def stored(store: Store, session: Session | None) -> dict[str, dict[str, int]]:
    """The stored roll-ups by period, their shards summed (zero counters left out)."""
    periods: dict[str, dict[str, int]] = {}
    async for doc in store.collection(STATS).find({}, session=session):
        counters = periods.setdefault(doc["period"], {})
        for name, value in flatten(doc):
            counters[name] = counters.get(name, 0) + value
    return {period: {k: v for k, v in counters.items() if v}
            for period, counters in periods.items()}


async def rebuild(store: Store) -> int:
    """Replace the roll-ups with ones recomputed from the whole database, and set every
    member's last activity from their entries; returns how many periods were written.
    For a database without writers (the server stopped): a write meanwhile could be
    counted twice or not at all."""
    expiries = {doc["_id"]: doc.get("expires_at") async for doc in
                store.collection(LOTS).find({}, dict.fromkeys(LOT_FIELDS, 1))}
    books = Books()
    chunk: list[Document] = []
    async for doc in store.collection(LEDGER).find({}, dict.fromkeys(ENTRY_FIELDS, 1)):
        chunk.append(doc)
        if len(chunk) == 10_000:
            books.entries(chunk, expiries)
            chunk.clear()
    books.entries(chunk, expiries)
    books.accounts([doc async for doc in store.collection(ACCOUNTS).find(
        {"role": MEMBER_ROLE}, dict.fromkeys(ACCOUNT_FIELDS, 1))])
    books.answers([doc async for doc in store.collection(SURVEY_RESPONSES).find(
        {}, dict.fromkeys(ANSWER_FIELDS, 1))])
    documents = [with_fields({"_id": f"{period}#0", "period": period}, counters)
                 for period, counters in books.expected().periods()]
    await store.collection(STATS).delete_many({})
    if documents:
        await store.collection(STATS).insert_many(documents)
    # The roll-ups count a member active on their last activity's day, and move them from
    # there on their next one: the member documents must say the same.
    members = sorted(books.latest_activity.items())
    for start in range(0, len(members), _WRITES):
        await store.collection(MEMBERS).bulk_write([
            UpdateOne({"_id": member}, {"$set": {"last_activity_at": at}})
            for member, at in members[start:start + _WRITES]], ordered=False)
    return len(documents)
