"""The operations of `soak`, in the proportions of a shop's day (WEIGHTS), each built from
the other scenarios' requests: the home screen and `me` of the signed-in members, orders
(`orderRecord` by the shop system, half for the signed-in members, half for anyone),
refunds of half of an order recorded earlier in the soak (`orderRefund` by the shop
system), reward redemptions (`rewardRedeem`) and checkouts (`voucherCheck` + `voucherRedeem`
by the staff) — and the voucher stock that checkouts draw on, topped up as it runs low.
"""

import asyncio
import contextlib
import itertools
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import httpx

from bench.graphql import GraphQLRequest
from bench.load import round_robin
from bench.members import SignedInMember
from bench.mix import EMPTY_READ, MixOp, Outcome, post
from bench.progress import say
from bench.reward_requests import redeem_request
from bench.scale_shop import ScaleShop
from bench.screens import HOME_QUERY, ME_QUERY
from bench.shop import DEFAULT_ORDER_TOTAL, order_request
from bench.tills import Cashier, Till, tickets
from bench.voucher_pool import VoucherPool

# Operations per 100, as a fashion shop's traffic runs: members mostly look (home screen,
# their points and history), the shop's systems record orders and about one in six comes
# back as a return, tills redeem vouchers, and members now and then spend points.
WEIGHTS = {"home": 36, "me": 16, "order": 22, "refund": 4, "checkout": 12, "reward-redeem": 10}
REFUND = """mutation Refund($input: OrderRefundInput!) { orderRefund(input: $input) {
  pointsReversed refundedAmount replayed errors { code message field } } }"""
RESTOCK_SECONDS = 1.0


def _me_present(what: str) -> Callable[[Mapping[str, Any]], str | None]:
    def check(data: Mapping[str, Any]) -> str | None:
        return None if data.get("me") is not None else f"{EMPTY_READ}: `me` is null ({what})"

    return check


def _payload_check(field: str, needs: str) -> Callable[[Mapping[str, Any]], str | None]:
    """A write's answer must be new (not a replay) and carry `needs`."""

    def check(data: Mapping[str, Any]) -> str | None:
        payload = data.get(field) or {}
        if payload.get("replayed"):
            return f"{field}: replayed (a new write was expected)"
        if payload.get(needs) is None:
            return f"{EMPTY_READ}: {field} answered no {needs}"
        return None

    return check


class SoakOps:
    """The soak's operations over one client, the signed-in `members` and the population
    (`population_size`, `member_id(index)` → its global id)."""

    def __init__(
        self, client: httpx.AsyncClient, scale: ScaleShop, members: Sequence[SignedInMember],
        population_size: int, member_id: Callable[[int], str], till: Till, seed: int,
    ) -> None:
        self._client = client
        self._scale = scale
        self._members = list(members)
        self._population = (population_size, member_id)
        self._till = till
        self._rng = random.Random(seed)
        self._numbers = itertools.count()
        self._refundable: deque[tuple[str, int]] = deque()
        self._home = round_robin(
            [GraphQLRequest.of(HOME_QUERY, token=m.access_token) for m in members])
        self._me = round_robin([GraphQLRequest.of(ME_QUERY, token=m.access_token) for m in members])

    def ops(self) -> list[MixOp]:
        runs = {"home": self.home, "me": self.me, "order": self.order, "refund": self.refund,
                "checkout": self.checkout, "reward-redeem": self.redeem}
        ready = {"refund": lambda: bool(self._refundable), "checkout": lambda: len(self._till) > 0}
        return [MixOp(name, weight, runs[name], ready.get(name, lambda: True))
                for name, weight in WEIGHTS.items()]

    async def home(self) -> Outcome:
        return await post(self._client, self._home(), _me_present("home")), 1

    async def me(self) -> Outcome:
        return await post(self._client, self._me(), _me_present("me")), 1

    async def order(self) -> Outcome:
        n = next(self._numbers)
        if n % 2:
            member = self._members[n // 2 % len(self._members)].id
        else:
            size, member_id = self._population
            member = member_id(self._rng.randrange(size))
        order_id = f"soak-{self._scale.run}-{n}"
        request = order_request(self._scale.shop, member, order_id)
        failure = await post(self._client, request, _payload_check("orderRecord", "orderId"))
        if failure is None:
            self._refundable.append((order_id, DEFAULT_ORDER_TOTAL))
        return failure, 1

    async def refund(self) -> Outcome:
        order_id, total = self._refundable.popleft()
        request = GraphQLRequest.of(REFUND, {"input": {
            "orderId": order_id, "refundId": f"{order_id}-return", "amount": total // 2,
        }}, token=self._scale.shop.api_key)
        return await post(self._client, request, _payload_check("orderRefund", "refundedAmount")), 1

    async def checkout(self) -> Outcome:
        failure = await self._till.checkout()
        return failure, 1 if failure is not None and failure.startswith("voucherCheck") else 2

    async def redeem(self) -> Outcome:
        n = next(self._numbers)
        member = self._members[n % len(self._members)]
        request = redeem_request(member, self._scale.reward_id, f"soak-{self._scale.run}-{n}")
        return await post(self._client, request, _payload_check("rewardRedeem", "voucher")), 1


@contextlib.asynccontextmanager
async def keep_stocked(
    pool: VoucherPool, till: Till, cashiers: Sequence[Cashier], *, low: int, batch: int,
    numbers: "itertools.count[int]",
) -> AsyncIterator[list[float]]:
    """While the block runs, add `batch` vouchers whenever fewer than `low` are left (their
    tickets numbered from `numbers`); yields the seconds each top-up took (for the report)."""
    took: list[float] = []

    async def restock() -> None:
        loop = asyncio.get_running_loop()
        while True:
            if len(till) < low:
                started = loop.time()
                till.add(tickets(await pool.issue(batch), cashiers, numbers))
                took.append(loop.time() - started)
                say(f"soak: {batch} more vouchers in {took[-1]:.1f} s ({len(till)} ready)")
            await asyncio.sleep(RESTOCK_SECONDS)

    task = asyncio.create_task(restock())
    try:
        yield took
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
