"""`kizuna verify`: the ledger's invariants and the rewards' stock counters, checked over the
whole database.

Each check reads with aggregation pipelines (a handful of queries whatever the size) and
reports every violation it finds; none means the books balance.
"""

from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import events
from events import SubjectKind
from loyalty.collections import LEDGER, LOTS, MEMBERS, ORDERS, REWARDS
from loyalty.ledger.entries import EntryKind
from loyalty.ledger.entry_events import event_type
from store import Session, Store


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.subject}: {self.detail}"


VERIFY_BUDGET = timedelta(minutes=30)


type Checker = Callable[[Store, Session], AsyncIterator[Violation]]


async def verify(store: Store, *, more: Sequence[Checker] = ()) -> list[Violation]:
    """Every violation of the ledger invariants (ARCHITECTURE.md §3), and of the checkers
    `more` (other packages' books, such as the vouchers').

    All reads happen in one transaction, i.e. one snapshot: on a live database an earn
    committed between two of the queries cannot look like a broken balance.
    """

    async def check(session: Session) -> list[Violation]:
        violations: list[Violation] = []
        for checker in (_balances, _lots, _unique_events, _orders, _reward_stock,
                        _entry_events, *more):
            violations += [violation async for violation in checker(store, session)]
        return violations

    # A whole shop's ledger takes longer to read than a request's transaction may last.
    return await store.transaction(check, budget=VERIFY_BUDGET)


async def _sum_by_member(
    store: Store, session: Session, collection: str, match: dict[str, Any], field: str
) -> (
    dict[str, int]
):
    pipeline = [{"$match": match}, {"$group": {"_id": "$member_id", "total": {"$sum": field}}}]
    # allowDiskUse: a $group over a whole collection outgrows memory budgets (MongoDB's
    # 100 MB, the embedded engine's 50,000 documents) in a shop of a few thousand members.
    cursor = await store.collection(collection).aggregate(pipeline, session=session,
                                                          allowDiskUse=True)
    return {doc["_id"]: doc["total"] async for doc in cursor}


async def _balances(store: Store, session: Session) -> AsyncIterator[Violation]:
    entries = await _sum_by_member(store, session, LEDGER, {}, "$points")
    earned = await _sum_by_member(store, session, LEDGER, {"kind": "EARN"}, "$points")
    open_lots = await _sum_by_member(store, session, LOTS, {"expired_at": None}, "$remaining")
    members = {doc["_id"]: doc async for doc in store.collection(MEMBERS).find({}, session=session)}
    for member_id in sorted(set(entries) | set(open_lots) | set(members)):
        doc = members.get(member_id, {})
        points, debt = doc.get("points", 0), doc.get("debt", 0)
        if points != entries.get(member_id, 0):
            yield Violation("balance = Σ entries", member_id,
                            f"balance {points}, entries sum to {entries.get(member_id, 0)}")
        if points != open_lots.get(member_id, 0) - debt:
            yield Violation("balance = Σ open lots − debt", member_id,
                            f"balance {points}, open lots {open_lots.get(member_id, 0)}, "
                            f"debt {debt}")
        if debt < 0:
            yield Violation("debt ≥ 0", member_id, f"debt {debt}")
        if doc.get("lifetime_earned", 0) != earned.get(member_id, 0):
            yield Violation("lifetime earned = Σ earn entries", member_id,
                            f"{doc.get('lifetime_earned', 0)} ≠ {earned.get(member_id, 0)}")


async def _lots(store: Store, session: Session) -> AsyncIterator[Violation]:
    cursor = store.collection(LOTS).find(
        {"$or": [{"remaining": {"$lt": 0}}, {"$expr": {"$gt": ["$remaining", "$earned"]}},
                 {"expired_at": {"$ne": None}, "remaining": {"$ne": 0}}]},
        session=session,
    )
    async for lot in cursor:
        yield Violation("0 ≤ lot remaining ≤ earned, 0 once expired", lot["_id"],
                        f"earned {lot['earned']}, remaining {lot['remaining']}")


async def _unique_events(store: Store, session: Session) -> AsyncIterator[Violation]:
    pipeline: list[dict[str, Any]] = [
        {"$group": {"_id": "$key", "n": {"$sum": 1}}}, {"$match": {"n": {"$gt": 1}}}
    ]
    async for doc in await store.collection(LEDGER).aggregate(pipeline, session=session,
                                                              allowDiskUse=True):
        yield Violation("every external event applied at most once", doc["_id"],
                        f"{doc['n']} ledger entries")


async def _orders(store: Store, session: Session) -> AsyncIterator[Violation]:
    earn_points = {
        doc["_id"]: doc["points"]
        async for doc in store.collection(LEDGER).find(
            {"kind": "EARN", "source.type": "ORDER"}, {"points": 1}, session=session
        )
    }
    async for order in store.collection(ORDERS).find({}, session=session):
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


async def _entry_events(store: Store, session: Session) -> AsyncIterator[Violation]:
    """Every ledger entry has exactly its one event, and every entry event its entry."""
    recorded = await events.types_by_subject(store, session, SubjectKind.LEDGER_ENTRY)
    async for entry in store.collection(LEDGER).find({}, {"kind": 1}, session=session):
        found = recorded.pop(entry["_id"], Counter())
        expected = event_type(EntryKind(entry["kind"]))
        if found != Counter({expected.value: 1}):
            yield Violation("every ledger entry has its event", entry["_id"],
                            f"expected one {expected}, found {dict(found) or 'none'}")
    for entry_id, found in recorded.items():
        yield Violation("every event has its change", entry_id,
                        f"{dict(found)} about a ledger entry that does not exist")
