"""What an administrator reads of one member beyond the member's own screens: the whole
ledger (every entry, with who made it), the tier changes, the orders with their refunds,
whom they referred, and a few facts of the members document. Each list is a keyset page of
one indexed query; the facts of many members are one `$in` query (a DataLoader's batch).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.collections import LEDGER, MEMBERS, ORDERS
from loyalty.ledger.entries import Entry, EntryKind, entry_from_document
from store import IndexSpec, Store
from store.pagination import Page, fetch_keyset_page, fetch_page

INDEXES = (
    # Whom a member referred.
    IndexSpec(MEMBERS, (("referred_by.member_id", 1), ("_id", 1)), name="referred_by"),
    # A member's orders, newest first, by (occurred_at, _id) pages.
    IndexSpec(ORDERS, (("member_id", 1), ("occurred_at", 1), ("_id", 1)),
              name="member_orders_page"),
)


@dataclass(frozen=True, slots=True)
class MemberFacts:
    joined_at: datetime | None
    last_activity_at: datetime | None
    referred_by: str | None
    """The member who referred them."""
    referred_at: datetime | None


async def member_facts(store: Store, member_ids: Sequence[str]) -> dict[str, MemberFacts]:
    """The facts of these members that have a members document; one query."""
    cursor = store.collection(MEMBERS).find(
        {"_id": {"$in": list(member_ids)}},
        {"joined_at": 1, "last_activity_at": 1, "referred_by": 1},
    )
    found: dict[str, MemberFacts] = {}
    async for doc in cursor:
        referral = doc.get("referred_by") or {}
        found[doc["_id"]] = MemberFacts(doc.get("joined_at"), doc.get("last_activity_at"),
                                        referral.get("member_id"), referral.get("at"))
    return found


async def ledger(
    store: Store, *, member_id: str, kind: EntryKind | None, first: int, after_id: str | None
) -> tuple[list[Entry], Page]:
    """Every entry of the member (or those of one kind), newest first; one query."""
    query: dict[str, Any] = {"member_id": member_id}
    if kind is not None:
        query["kind"] = kind.value
    page = await fetch_page(store.collection(LEDGER), filter=query, first=first,
                            after_id=after_id, descending=True)
    return [entry_from_document(doc) for doc in page.documents], page


async def referred(
    store: Store, *, member_id: str, first: int, after_id: str | None
) -> tuple[list[str], Page]:
    """The ids of the members this member referred, in id order; one query."""
    page = await fetch_page(store.collection(MEMBERS),
                            filter={"referred_by.member_id": member_id}, first=first,
                            after_id=after_id)
    return [doc["_id"] for doc in page.documents], page


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    amount: int
    """Minor units refunded."""
    points: int
    """Points taken back (≤ 0)."""
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderView:
    id: str
    channel: str
    total: int
    currency: str
    occurred_at: datetime
    store_id: str | None
    earned_points: int
    refunded_amount: int
    refunds: tuple[Refund, ...]


async def orders(
    store: Store, *, member_id: str, first: int, after: tuple[datetime, str] | None
) -> tuple[list[OrderView], Page]:
    """The member's orders, newest first, each with its refunds; two queries."""
    page = await fetch_keyset_page(store.collection(ORDERS), filter={"member_id": member_id},
                                   key="occurred_at", first=first, after=after)
    return await _with_refunds(store, page.documents), page


async def orders_by_ids(store: Store, order_ids: Sequence[str]) -> dict[str, OrderView]:
    """The orders with these ids, with their refunds; two queries."""
    documents = await store.collection(ORDERS).find(
        {"_id": {"$in": list(order_ids)}}).to_list(None)
    return {order.id: order for order in await _with_refunds(store, documents)}


async def _with_refunds(store: Store, documents: list[dict[str, Any]]) -> list[OrderView]:
    refunds = await _refunds(store, [doc["_id"] for doc in documents],
                             sorted({doc["member_id"] for doc in documents}))
    return [
        OrderView(id=doc["_id"], channel=doc.get("channel", ""), total=doc["total"],
                  currency=doc.get("currency", ""), occurred_at=doc["occurred_at"],
                  store_id=doc.get("store_id"), earned_points=doc.get("earned_points", 0),
                  refunded_amount=doc.get("refunded_amount", 0),
                  refunds=tuple(refunds.get(doc["_id"], ())))
        for doc in documents
    ]


async def _refunds(store: Store, order_ids: list[str], member_ids: list[str]) -> (
    dict[str, list[Refund]]
):
    """The refunds of the orders, read through the members' ledger (`member_id` is what an
    index serves; the orders of a page belong to few members)."""
    if not order_ids:
        return {}
    cursor = store.collection(LEDGER).find(
        {"member_id": {"$in": member_ids}, "kind": EntryKind.REVERSAL.value,
         "source.type": "REFUND", "details.order_id": {"$in": order_ids}},
        {"source": 1, "details": 1, "points": 1, "occurred_at": 1},
    ).sort("_id", 1)
    found: dict[str, list[Refund]] = {}
    async for doc in cursor:
        details = doc.get("details") or {}
        found.setdefault(details["order_id"], []).append(Refund(
            doc["source"]["id"], int(details.get("amount", 0)), doc["points"],
            doc["occurred_at"]))
    return found
