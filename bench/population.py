"""A population of members with their histories, written straight into the server's
database in bulk, and grown size by size on the same database (`scale`, `soak`).

Documents come from bench.history (the product's own shapes and policy); they are written
collection by collection with `insert_many` in large batches, each batch one transaction
(the embedded engine commits a plain insert_many document by document, five times slower)
— while the next chunk of members is built in a thread. Scan audit
records go through the product's own `AuditLog`, and the reward members redeemed gets its
counters raised by what they took, so `kizuna verify` finds the books balanced.
"""

import asyncio
import functools
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from strawberry import relay

from auth.collections import ACCOUNTS
from auth.member_search import MEMBER_WORDS
from bench.history import MemberDocs, SeedContext, email_of, member_documents
from bench.members import SIGN_UP_CONCURRENCY, SignedInMember, sign_in
from bench.progress import say
from events import OUTBOX
from events.audit import AUDIT_LOG as SCAN_AUDIT
from events.catalogue import WEBHOOKS_PENDING
from loyalty.collections import LEDGER, LOTS, MEMBERS, ORDERS, REWARDS, RULE_USAGE
from loyalty.ledger import rollups
from loyalty.ledger.rollup_books import Books
from scanner.audit import AuditLog
from scanner.collections import VOUCHERS
from store import Session, Store, new_id

CHUNK_MEMBERS = 2_000
BATCH = 2_000  # documents per insert transaction
# In the order the product writes them: an account before its points, lots before entries.
COLLECTIONS = (ACCOUNTS, MEMBER_WORDS, MEMBERS, LOTS, LEDGER, ORDERS, RULE_USAGE, VOUCHERS,
               OUTBOX)


@dataclass(slots=True)
class Chunk:
    """The documents of a run of members, by collection, and what else they change."""

    documents: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in COLLECTIONS}
    )
    docs: list[MemberDocs] = field(default_factory=list)
    rewards_taken: int = 0

    def add(self, member: MemberDocs) -> None:
        self.docs.append(member)
        found = self.documents
        found[ACCOUNTS].append(member.account)
        found[MEMBER_WORDS] += member.words
        found[MEMBERS].append(member.book.totals)
        found[LOTS] += member.book.lots
        found[LEDGER] += member.book.entries
        found[ORDERS] += member.orders
        found[RULE_USAGE] += member.usage.documents.values()
        found[VOUCHERS] += member.vouchers
        # A seeded history's events went to the webhooks long ago.
        found[OUTBOX] += [{k: v for k, v in event.items() if k != WEBHOOKS_PENDING}
                          for event in member.book.events + member.events]
        self.rewards_taken += len(member.vouchers)


@dataclass(frozen=True, slots=True)
class Growth:
    """What one `grow` wrote: members added, seconds, documents by collection."""

    members: int
    seconds: float
    documents: Counter[str]

    @property
    def total(self) -> int:
        return sum(self.documents.values())


def _build(ctx: SeedContext, first: int, ids: Sequence[str]) -> Chunk:
    chunk = Chunk()
    for offset, member_id in enumerate(ids):
        chunk.add(member_documents(ctx, first + offset, member_id))
    return chunk


class Population:
    """Members 0 … size−1 of one run, each with the history bench.history gives it."""

    def __init__(self, store: Store, ctx: SeedContext, password: str) -> None:
        self._store = store
        self._ctx = ctx
        self._password = password
        self.member_ids: list[str] = []

    @property
    def size(self) -> int:
        return len(self.member_ids)

    async def grow(self, size: int) -> Growth:
        """Add members until there are `size`; the next chunk is built while one is written."""
        started, before = time.monotonic(), self.size
        written: Counter[str] = Counter()
        pending: Chunk | None = None
        for first in range(before, size, CHUNK_MEMBERS):
            ids = [new_id() for _ in range(min(CHUNK_MEMBERS, size - first))]
            self.member_ids += ids
            building = asyncio.create_task(asyncio.to_thread(_build, self._ctx, first, ids))
            if pending is not None:
                written += await self._write(pending)
            pending = await building
            say(f"seeding: {first + len(ids)} of {size} members built")
        if pending is not None:
            written += await self._write(pending)
        return Growth(self.size - before, time.monotonic() - started, written)

    async def _write(self, chunk: Chunk) -> Counter[str]:
        written: Counter[str] = Counter()
        for name, documents in chunk.documents.items():
            for start in range(0, len(documents), BATCH):
                batch = documents[start : start + BATCH]
                await self._store.transaction(functools.partial(_insert, self._store, name, batch))
                written[name] += len(batch)
        await self._store.transaction(functools.partial(_roll_up, self._store, chunk))
        audit = AuditLog(self._store, max_batch=BATCH)
        for member in chunk.docs:
            for scan in member.scans:
                audit.record(action=scan.action, outcome=scan.outcome, scanner=scan.scanner,
                             at=scan.at, voucher_id=scan.voucher_id, member_id=scan.member_id)
                written[SCAN_AUDIT] += 1
        await audit.flush()
        if chunk.rewards_taken:
            taken = chunk.rewards_taken
            await self._store.collection(REWARDS).update_one(
                {"_id": self._ctx.reward.id}, {"$inc": {"redeemed": taken, "issued": taken}}
            )
        return written

    async def sign_in(
        self, client: httpx.AsyncClient, count: int, rng: random.Random
    ) -> list[SignedInMember]:
        """`count` members drawn at random from the whole population, signed in through the
        API (`tokenCreate`), a few at a time."""
        picked = rng.sample(range(self.size), min(count, self.size))
        gate = asyncio.Semaphore(SIGN_UP_CONCURRENCY)

        async def one(index: int) -> SignedInMember:
            email = email_of(self._ctx.run, index)
            async with gate:
                token = await sign_in(client, email, self._password)
            return SignedInMember(id=self.global_id(index), email=email, access_token=token)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(index)) for index in picked]
        return [task.result() for task in tasks]

    def global_id(self, index: int) -> str:
        """Member `index`'s id as the API shows it (a relay global id)."""
        return str(relay.GlobalID("Member", self.member_ids[index]))


async def _roll_up(store: Store, chunk: Chunk, session: Session) -> None:
    """The roll-ups the chunk's members add (each member's history is in one chunk)."""
    books = Books()
    expiries = {lot["_id"]: lot.get("expires_at") for lot in chunk.documents[LOTS]}
    books.entries(chunk.documents[LEDGER], expiries)
    books.accounts(chunk.documents[ACCOUNTS])
    await rollups.add(store, session, books.expected(), member_id="")


async def _insert(store: Store, name: str, batch: list[dict[str, Any]], session: Session) -> None:
    await store.collection(name).insert_many(batch, ordered=False, session=session)
