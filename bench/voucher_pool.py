"""Vouchers for checkouts at scale: gift vouchers (€5 off, every store, both channels, 30
days — what `checkout` issues through `voucherIssue`) written in bulk for the signed-in
members, each then read back with its signed QR payload through the member's own token
(`me { vouchers { qr { payload } } }`, what the member's app shows at the till).

Writing them in bulk keeps set-up short on a large database; the payload can only come
from the server, which signs it with its own key.
"""

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from strawberry import relay

from bench.graphql import BenchError, GraphQLRequest, execute
from bench.history import SeedContext
from bench.members import SignedInMember
from bench.raw_checkout import VoucherRef
from bench.tills import AMOUNT_OFF, IssuedVoucher
from bench.voucher_docs import voucher_document
from events import OUTBOX
from scanner import codes, voucher_events
from scanner.collections import VOUCHERS
from scanner.vouchers import Benefit, Restrictions, SourceKind, VoucherKind
from store import Store

VALID_DAYS = 30
# Every seeded member is "Scale Member <n>": the voucher keeps the first name only.
HOLDER_NAME = "Scale Member"
READ_CONCURRENCY = 8
PAYLOADS = """query Pool($after: String) { me { vouchers(first: 100, status: ACTIVE,
  after: $after) { edges { node { id code qr { payload } } }
  pageInfo { hasNextPage endCursor } } } }"""


class VoucherPool:
    """Issues vouchers for `members` round-robin, `issue(n)` at a time; `tag` makes the
    idempotency keys of its vouchers unique."""

    def __init__(
        self, store: Store, client: httpx.AsyncClient, ctx: SeedContext,
        members: Sequence[SignedInMember], tag: str,
    ) -> None:
        self._store = store
        self._tag = tag
        self._client = client
        self._ctx = ctx
        self._members = list(members)
        self._numbers = itertools.count()
        self.issued = 0

    async def issue(self, count: int) -> list[IssuedVoucher]:
        """`count` new ACTIVE vouchers with their QR payloads (BenchError if the server does
        not show one of them)."""
        wanted: dict[int, set[str]] = {}
        documents = []
        for _ in range(count):
            number = next(self._numbers)
            slot = number % len(self._members)
            doc = self._document(self._members[slot], number)
            documents.append(doc)
            wanted.setdefault(slot, set()).add(doc["_id"])
        if documents:
            await self._store.collection(VOUCHERS).insert_many(documents, ordered=False)
            await self._store.collection(OUTBOX).insert_many(
                [voucher_events.issued(doc).document() for doc in documents], ordered=False)
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(slot: int, ids: set[str]) -> list[IssuedVoucher]:
            async with gate:
                return await self._payloads(self._members[slot], ids)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(read(slot, ids)) for slot, ids in wanted.items()]
        self.issued += count
        return [voucher for task in tasks for voucher in task.result()]

    def _document(self, member: SignedInMember, number: int) -> dict[str, Any]:
        """scanner.vouchers `issue_voucher` of a gift by the administrator (voucherIssue)."""
        return voucher_document(
            member_id=relay.GlobalID.from_id(member.id).node_id, holder_name=HOLDER_NAME,
            benefit=Benefit(VoucherKind.AMOUNT_OFF, "€5 off", AMOUNT_OFF, None, "EUR", None),
            restrictions=Restrictions(), valid_days=VALID_DAYS, source_kind=SourceKind.GIFT,
            source_reference=self._ctx.admin.id, now=datetime.now(UTC),
            issue_key=f"{self._tag}-pool-{number}",
        )

    async def _payloads(self, member: SignedInMember, ids: set[str]) -> list[IssuedVoucher]:
        """The member's vouchers among `ids`, paging their ACTIVE ones (newest first, so the
        new ones come first)."""
        found: list[IssuedVoucher] = []
        after: str | None = None
        while len(found) < len(ids):
            request = GraphQLRequest.of(PAYLOADS, {"after": after}, token=member.access_token)
            page = (await execute(self._client, request))["me"]["vouchers"]
            for edge in page["edges"]:
                node = edge["node"]
                voucher_id = relay.GlobalID.from_id(node["id"]).node_id
                if voucher_id in ids and node["qr"] is not None:
                    ref = VoucherRef(id=voucher_id, code=codes.normalize(node["code"]))
                    found.append(IssuedVoucher(ref=ref, payload=node["qr"]["payload"]))
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        if len(found) < len(ids):
            raise BenchError(f"{member.email}: {len(ids) - len(found)} seeded vouchers are not "
                             "among their ACTIVE vouchers")
        return found
