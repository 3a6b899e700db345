"""The APQ variant of a scenario (`--apq`): the same operations sent as Apollo's automatic
persisted queries — registered once with their text, then only their SHA-256 — measured as
the target `<name>+apq`, and the server CPU per request compared with the text."""

import dataclasses
from collections.abc import Sequence
from typing import Any

from bench.graphql import GraphQLRequest, execute
from bench.load import round_robin
from bench.measure import PhaseReport, load_client, measure
from bench.options import BenchOptions
from bench.progress import say
from bench.servers import Target

APQ_SUFFIX = "+apq"


async def measure_apq(
    target: Target, query: str, tokens: Sequence[str | None], options: BenchOptions,
    variables: dict[str, Any] | None = None,
) -> list[PhaseReport]:
    """Register `query` once, then load `target` with hash-only requests, round-robin over
    `tokens` (None: anonymous)."""
    async with load_client(target, 1) as client:
        await execute(client, GraphQLRequest.persisted(
            query, variables, token=tokens[0], with_text=True))
    say(f"{target.name}{APQ_SUFFIX}: loading by hash")
    workload = round_robin([GraphQLRequest.persisted(query, variables, token=token)
                            for token in tokens])
    return await measure(dataclasses.replace(target, name=target.name + APQ_SUFFIX),
                         workload, options.load)


def apq_notes(phases: Sequence[PhaseReport], name: str) -> list[str]:
    """Server CPU per request, closed loop, of `name` with the text and with hashes."""
    closed = {p.target: p for p in phases if p.result.closed_loop}
    text, hashed = closed.get(name), closed.get(name + APQ_SUFFIX)
    if text is None or hashed is None:
        return []
    if not text.server_ms_per_op or not hashed.server_ms_per_op:
        return ["APQ: server CPU unknown (a server the bench did not start; --server-pid)"]
    saved = text.server_ms_per_op - hashed.server_ms_per_op
    return [
        f"APQ, server CPU per request, closed loop: text {text.server_ms_per_op:.2f} ms, "
        f"hash {hashed.server_ms_per_op:.2f} ms; saved {saved:.2f} ms "
        f"({saved / text.server_ms_per_op:.0%}); throughput text "
        f"{text.result.throughput:.1f}/s, hash {hashed.result.throughput:.1f}/s"
    ]
