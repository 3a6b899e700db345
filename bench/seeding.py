"""Seeding members through the API: several members at a time, each member's requests in
order, a request the server failed sent again."""

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpx

from bench.graphql import BenchError, GraphQLRequest, execute
from bench.measure import load_client
from bench.members import SignedInMember
from bench.servers import Target

ATTEMPTS = 3


@dataclass(slots=True)
class Seeded:
    sent: int = 0
    retried: list[str] = field(default_factory=list)
    """The server failures that were sent again (to report)."""


async def seed_members(
    target: Target,
    members: Sequence[SignedInMember],
    requests: Callable[[int, SignedInMember], Iterable[GraphQLRequest]],
    *,
    concurrency: int,
) -> Seeded:
    """Send each member's `requests(index, member)` in order, `concurrency` members at a
    time. A request the server fails (HTTP 5xx, "Internal server error") is sent again, up
    to ATTEMPTS times: every seeding write must be keyed (an order id, an idempotency key)
    or a transaction that either committed or wrote nothing, so a retry cannot double it;
    the scenarios verify their counts afterwards anyway."""
    gate = asyncio.Semaphore(concurrency)
    seeded = Seeded()

    async def send(client: httpx.AsyncClient, request: GraphQLRequest) -> None:
        seeded.sent += 1
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await execute(client, request)  # raises on any error, payload ones too
                return
            except BenchError as error:
                if attempt == ATTEMPTS or not _server_failure(error):
                    raise
                seeded.retried.append(str(error)[:160])

    async def one(client: httpx.AsyncClient, index: int, member: SignedInMember) -> None:
        async with gate:
            for request in requests(index, member):
                await send(client, request)

    async with load_client(target, concurrency) as client, asyncio.TaskGroup() as group:
        for index, member in enumerate(members):
            group.create_task(one(client, index, member))
    return seeded


def _server_failure(error: BenchError) -> bool:
    text = str(error)
    return text.startswith("HTTP 5") or "Internal server error" in text
