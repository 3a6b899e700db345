"""`kizuna verify`: the ledger's invariants and the rewards' stock counters, checked over the
whole database.

The ledger's invariants hold member by member, so verify walks the members in batches of
`BATCH` (by `_id`) and checks each batch in a transaction of its own: one snapshot per
batch, in which an earn committed between two of the batch's reads cannot look like a
broken balance. Every read of a batch selects by a range of member ids (`Members.where`) or
reads members by id, so a batch costs its own documents whatever the size of the shop:
memory stays bounded, no transaction comes near MongoDB's 60-second limit, and on the
embedded server, where a transaction holds the writer, writes go ahead between batches. A
last batch takes the rest: members who joined after the ids were listed, and documents of
no member (whose check reads each collection whole).

The roll-ups (loyalty/ledger/rollups.py) must equal what the records they summarise add
up to. The batches count the records created before verify started (less a margin, so
all of them are committed); a last snapshot reads the records created since, by their
time-ordered ids, together with the roll-ups, so a shop taking orders meanwhile cannot
make them look wrong.
"""

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import events
from events import SubjectKind
from loyalty.collections import ACCOUNTS, LEDGER, LOTS, MEMBERS, ORDERS, REWARDS, SURVEY_RESPONSES
from loyalty.ledger.entries import EntryKind
from loyalty.ledger.entry_events import event_type
from loyalty.ledger.rollup_books import (
    ACCOUNT_FIELDS,
    ANSWER_FIELDS,
    LOT_FIELDS,
    Books,
    stored,
)
from loyalty.ledger.rollups import ACTIVITY, ENTRY_FIELDS
from store import Document, Session, Store
from store.ids import first_id_at


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.subject}: {self.detail}"


BATCH = 1_000
"""Members per batch: at 100,000 members (11 ledger entries, 4 lots, 3 orders and 2
vouchers each) a batch reads about 35,000 documents."""

BY_ID = 250
"""Members read by id in one query: the embedded engine refuses an `$in` of 500 (its SQL
expression grows too deep)."""

BATCH_BUDGET = timedelta(seconds=60)
"""The time one batch may take, all attempts together (it takes about a second)."""

_ACCOUNT = {"points": 1, "debt": 1, "lifetime_earned": 1, "last_activity_at": 1}


@dataclass(frozen=True, slots=True)
class Members:
    """A batch: the members whose id comes after `after` (None: from the first) up to and
    including `through`; or, when `through` is None, the rest: members after `after` (the
    last id of the batches before) and the documents of no member."""

    after: str | None
    through: str | None

    def where(self, field: str = "member_id") -> dict[str, Any]:
        """The filter that selects the batch's documents by their member id `field`: a range
        of strings (an index answers it), or for the rest everything outside the ranges."""
        if self.through is not None:
            lower = {"$gte": ""} if self.after is None else {"$gt": self.after}
            return {field: {**lower, "$lte": self.through}}
        if self.after is None:
            return {}
        return {"$or": [{field: {"$not": {"$type": "string"}}}, {field: {"$gt": self.after}}]}


type Checker = Callable[[Store, Session | None, Members], AsyncIterator[Violation]]
"""Another package's books, checked batch by batch in the batch's snapshot (a session; None
for a first look, whose findings are not kept)."""


async def verify(store: Store, *, more: Sequence[Checker] = ()) -> list[Violation]:
    """Every violation of the ledger invariants (ARCHITECTURE.md §3), and of the checkers
    `more` (other packages' books, such as the vouchers')."""
    # Records created from here on are left to the last snapshot (see `_rollups`).
    since = Since.now()
    violations = [v async for v in _unique_events(store)]
    violations += await store.transaction(
        lambda session: _collected(_reward_stock(store, session)))
    ids = sorted([doc["_id"] async for doc in store.collection(MEMBERS).find({}, {"_id": 1})
                  if isinstance(doc["_id"], str)])
    books = Books()
    after: str | None = None
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        members = Members(after, batch[-1])
        if start == 0:
            await _first_look(store, members, batch, more, since)
        found, counted = await store.transaction(
            partial(_batch, store, members, batch, more, since), budget=BATCH_BUDGET)
        violations += found
        books.merge(counted)
        after = members.through
    rest = Members(after, None)
    await _first_look(store, rest, None, more, since)
    found, counted = await store.transaction(partial(_batch, store, rest, None, more, since),
                                             budget=BATCH_BUDGET)
    books.merge(counted)
    return violations + found + await store.transaction(
        partial(_rollups, store, books, since), budget=BATCH_BUDGET)


async def _first_look(
    store: Store, members: Members, ids: list[str] | None, more: Sequence[Checker],
    since: "Since",
) -> None:
    """Read a batch once outside any transaction, its findings thrown away. The embedded
    engine answers a few questions about a collection the first time a query's shape meets
    it, by reading the whole collection (up to half a minute each at 100,000 members after
    a start without its saved answers): here they hold no writer and spend no batch's
    budget. On MongoDB it is one more batch's worth of indexed reads."""
    await _batch(store, members, ids, more, since, None)


async def _batch(
    store: Store, members: Members, ids: list[str] | None, more: Sequence[Checker],
    since: "Since", session: Session | None,
) -> tuple[list[Violation], Books]:
    """The violations among `members`, whose ids are `ids` (None: the rest, found by
    `members.where`), and what their records created before `since` add to the roll-ups."""
    if ids is None:
        accounts = {doc["_id"]: doc for doc in await _documents(
            store, session, MEMBERS, members.where("_id"), _ACCOUNT)}
    else:
        accounts = await _accounts(store, session, ids)
    books = Books()
    found = await _collected(_ledger_books(store, session, members, accounts, books, since))
    for checker in more:
        found += await _collected(checker(store, session, members))
    return found, books


async def _accounts(
    store: Store, session: Session | None, ids: Iterable[str]
) -> dict[str, Document]:
    """The members `ids` that exist, by id."""
    wanted = list(ids)
    accounts: dict[str, Document] = {}
    for start in range(0, len(wanted), BY_ID):
        chunk = {"_id": {"$in": wanted[start:start + BY_ID]}}
        accounts |= {doc["_id"]: doc
                     for doc in await _documents(store, session, MEMBERS, chunk, _ACCOUNT)}
    return accounts


async def _collected(violations: AsyncIterator[Violation]) -> list[Violation]:
    return [violation async for violation in violations]


async def _documents(
    store: Store, session: Session | None, collection: str, where: dict[str, Any],
    fields: Iterable[str],
) -> list[Document]:
    cursor = store.collection(collection).find(where, dict.fromkeys(fields, 1),
                                               session=session)
    return [doc async for doc in cursor]


async def _ledger_books(
    store: Store, session: Session | None, members: Members, accounts: dict[str, Document],
    books: Books, since: "Since",
) -> AsyncIterator[Violation]:
    """The batch's members (`accounts`) against their ledger entries, lots, orders and entry
    events, each read once; what they add to the roll-ups goes to `books`."""
    entries = await _documents(store, session, LEDGER, members.where(), ENTRY_FIELDS)
    lots = await _documents(store, session, LOTS, members.where(),
                            ["member_id", "earned", "remaining", "expired_at", "expires_at"])
    books.entries(since.before(entries), {lot["_id"]: lot.get("expires_at") for lot in lots})
    books.accounts(since.before(await _documents(
        store, session, ACCOUNTS, members.where("_id"), ACCOUNT_FIELDS)))
    books.answers(since.before(await _documents(
        store, session, SURVEY_RESPONSES, members.where(), ANSWER_FIELDS)))
    orders = await _documents(store, session, ORDERS, members.where(),
                              ["entry_id", "earned_points", "reversed_points",
                               "refunded_amount", "total"])
    recorded = await events.types_by_subject(store, session, SubjectKind.LEDGER_ENTRY,
                                             members.where())
    # A member who joined after verify listed the ids, with an id inside this batch's range.
    joined = {doc["member_id"] for doc in (*entries, *lots)} - accounts.keys()
    accounts |= await _accounts(store, session, (i for i in joined if isinstance(i, str)))
    for violation in (*_balances(accounts, entries, lots), *_activity(accounts, entries),
                      *_lots(lots),
                      *_orders(entries, orders), *_entry_events(entries, recorded)):
        yield violation


def _balances(
    accounts: dict[str, Document], entries: list[Document], lots: list[Document]
) -> Iterator[Violation]:
    total: Counter[str] = Counter()
    earned: Counter[str] = Counter()
    for entry in entries:
        total[entry["member_id"]] += entry["points"]
        if entry["kind"] == EntryKind.EARN.value:
            earned[entry["member_id"]] += entry["points"]
    open_lots: Counter[str] = Counter()
    for lot in lots:
        if lot.get("expired_at") is None:
            open_lots[lot["member_id"]] += lot["remaining"]
    for member_id in sorted(set(total) | set(open_lots) | set(accounts)):
        doc = accounts.get(member_id, {})
        points, debt = doc.get("points", 0), doc.get("debt", 0)
        if points != total[member_id]:
            yield Violation("balance = Σ entries", member_id,
                            f"balance {points}, entries sum to {total[member_id]}")
        if points != open_lots[member_id] - debt:
            yield Violation("balance = Σ open lots − debt", member_id,
                            f"balance {points}, open lots {open_lots[member_id]}, "
                            f"debt {debt}")
        if debt < 0:
            yield Violation("debt ≥ 0", member_id, f"debt {debt}")
        if doc.get("lifetime_earned", 0) != earned[member_id]:
            yield Violation("lifetime earned = Σ earn entries", member_id,
                            f"{doc.get('lifetime_earned', 0)} ≠ {earned[member_id]}")


def _activity(accounts: dict[str, Document], entries: list[Document]) -> Iterator[Violation]:
    """A member's last activity is their latest earn or redemption (the roll-ups' active
    members count from it)."""
    latest: dict[str, Any] = {}
    for entry in entries:
        if entry["kind"] in ACTIVITY and entry["points"]:
            member = entry["member_id"]
            if member not in latest or entry["recorded_at"] > latest[member]:
                latest[member] = entry["recorded_at"]
    for member_id in sorted(set(latest) | set(accounts)):
        stored = accounts.get(member_id, {}).get("last_activity_at")
        if stored != latest.get(member_id):
            yield Violation("last activity = latest earn or redemption", member_id,
                            f"{stored} ≠ {latest.get(member_id)}")


def _lots(lots: list[Document]) -> Iterator[Violation]:
    for lot in lots:
        earned, remaining = lot["earned"], lot["remaining"]
        if not 0 <= remaining <= earned or (lot.get("expired_at") is not None and remaining):
            yield Violation("0 ≤ lot remaining ≤ earned, 0 once expired", lot["_id"],
                            f"earned {earned}, remaining {remaining}")


def _orders(entries: list[Document], orders: list[Document]) -> Iterator[Violation]:
    earn_points = {entry["_id"]: entry["points"] for entry in entries
                   if entry["kind"] == EntryKind.EARN.value
                   and entry.get("source", {}).get("type") == "ORDER"}
    for order in orders:
        order_id = order["_id"]
        if earn_points.get(order["entry_id"]) != order["earned_points"]:
            yield Violation("order earned = its earn entry", order_id,
                            f"order says {order['earned_points']}, entry "
                            f"{earn_points.get(order['entry_id'])}")
        if not 0 <= order["reversed_points"] <= order["earned_points"]:
            yield Violation("reversed ≤ earned", order_id,
                            f"reversed {order['reversed_points']} of {order['earned_points']}")
        if not 0 <= order["refunded_amount"] <= order["total"]:
            yield Violation("refunded ≤ total", order_id,
                            f"refunded {order['refunded_amount']} of {order['total']}")


def _entry_events(
    entries: list[Document], recorded: dict[str, dict[str, str]]
) -> Iterator[Violation]:
    """Every ledger entry has exactly its one event, and every entry event its entry."""
    for entry in entries:
        found = Counter(recorded.pop(entry["_id"], {}).values())
        expected = event_type(EntryKind(entry["kind"]))
        if found != Counter({expected.value: 1}):
            yield Violation("every ledger entry has its event", entry["_id"],
                            f"expected one {expected}, found {dict(found) or 'none'}")
    for entry_id, types in recorded.items():
        yield Violation("every event has its change", entry_id,
                        f"{dict(Counter(types.values()))} about a ledger entry that does not "
                        "exist")


ID_LIMIT = "g"
"""Above every id `new_id` makes (24 hexadecimal digits)."""

SNAPSHOT_MARGIN = timedelta(minutes=2)
"""How long before verify starts a record must have been created to be counted from the
batches: longer than any transaction takes to commit, so every such record is committed
before the first batch reads."""


@dataclass(frozen=True, slots=True)
class Since:
    """The records created from a moment on, told by their ids: the last snapshot reads
    them, the batches count the others."""

    first_id: str

    @classmethod
    def now(cls) -> "Since":
        # The real time, not the programme's clock: ids carry the time they were made.
        return cls(first_id_at(datetime.now(UTC) - SNAPSHOT_MARGIN))

    def where(self) -> dict[str, Any]:
        return {"_id": {"$gte": self.first_id, "$lt": ID_LIMIT}}

    def before(self, docs: Iterable[Document]) -> list[Document]:
        return [doc for doc in docs if not (
            isinstance(doc["_id"], str) and self.first_id <= doc["_id"] < ID_LIMIT)]


async def _rollups(
    store: Store, books: Books, since: Since, session: Session
) -> list[Violation]:
    """The stored roll-ups against the records they summarise, in one snapshot: the
    records created since `since` are read here, beside the roll-ups, and added to what
    the batches counted (`books`, left unchanged: a retried attempt starts again)."""
    final = Books()
    final.merge(books)
    entries = await _documents(store, session, LEDGER, since.where(), ENTRY_FIELDS)
    lot_ids = sorted({a["lot_id"] for entry in entries for a in entry.get("lots", ())})
    expiries: dict[str, Any] = {}
    for start in range(0, len(lot_ids), BY_ID):
        chunk = {"_id": {"$in": lot_ids[start:start + BY_ID]}}
        expiries |= {doc["_id"]: doc.get("expires_at")
                     for doc in await _documents(store, session, LOTS, chunk, LOT_FIELDS)}
    final.entries(entries, expiries)
    final.accounts(await _documents(store, session, ACCOUNTS, since.where(), ACCOUNT_FIELDS))
    final.answers(await _documents(store, session, SURVEY_RESPONSES, since.where(),
                                   ANSWER_FIELDS))
    expected = dict(final.expected().periods())
    found = await stored(store, session)
    violations = []
    for period in sorted(expected.keys() | found.keys()):
        want, have = expected.get(period, {}), found.get(period, {})
        for counter in sorted(want.keys() | have.keys()):
            if want.get(counter, 0) != have.get(counter, 0):
                violations.append(Violation(
                    "roll-ups = Σ ledger", period,
                    f"{counter} is {have.get(counter, 0)}, the records say "
                    f"{want.get(counter, 0)}"))
    return violations


async def _unique_events(store: Store) -> AsyncIterator[Violation]:
    """Every external event applied at most once. The ledger's unique index on `key`
    guarantees it (MongoDB refuses to build one over duplicates), so the entries are
    grouped by key only when that index is missing."""
    indexes = await store.collection(LEDGER).index_information()
    if any(index.get("unique") and [field for field, _ in index["key"]] == ["key"]
           for index in indexes.values()):
        return
    pipeline: list[dict[str, Any]] = [
        {"$group": {"_id": "$key", "n": {"$sum": 1}}}, {"$match": {"n": {"$gt": 1}}}
    ]
    # allowDiskUse: a $group over a whole collection outgrows memory budgets (MongoDB's
    # 100 MB, the embedded engine's 50,000 documents) in a shop of a few thousand members.
    async for doc in await store.collection(LEDGER).aggregate(pipeline, allowDiskUse=True):
        yield Violation("every external event applied at most once", doc["_id"],
                        f"{doc['n']} ledger entries")


async def _reward_stock(store: Store, session: Session) -> AsyncIterator[Violation]:
    """Rewards whose counters break the stock invariant: 0 ≤ redeemed ≤ stock (when there
    is one) and redeemed ≤ issued."""
    cursor = store.collection(REWARDS).find({"$or": [
        {"redeemed": {"$lt": 0}},
        {"$expr": {"$gt": ["$redeemed", "$issued"]}},
        {"stock": {"$ne": None}, "$expr": {"$gt": ["$redeemed", "$stock"]}},
    ]}, {"redeemed": 1, "issued": 1, "stock": 1}, session=session)
    async for doc in cursor:
        yield Violation("reward stock never below zero", doc["_id"],
                        f"stock {doc.get('stock')}, held {doc['redeemed']}, "
                        f"issued {doc['issued']}")
