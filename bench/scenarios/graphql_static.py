"""graphql-static: the cost of our stack around strawberry, on a query that does no I/O.

Ours (extensions, middleware, context, auth) and a bare strawberry app of the same Query
and Mutation classes answer the same introspection query, one server after the other so
they never compete for the cores, with the same load. Target: ours/bare ≥ 0.8.
"""

from typing import Any

from bench.apq import apq_notes, measure_apq
from bench.graphql import BenchError, GraphQLRequest, execute
from bench.load import round_robin
from bench.measure import PhaseReport, load_client, measure
from bench.options import BenchOptions
from bench.progress import say
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target
from bench.servers import Target, bare_server, kizuna_server

DEFAULT_RATE = 50.0
TARGET_RATIO = 0.8
QUERY = (
    '{ __type(name: "Member") { name fields { name description '
    "type { kind name ofType { kind name } } } } }"
)


async def _answer(target: Target) -> dict[str, Any]:
    async with load_client(target, 1) as client:
        return await execute(client, GraphQLRequest.of(QUERY))


async def run(options: BenchOptions) -> Report:
    report = Report(title="graphql-static", setup=[f"query: {QUERY}"])
    workload = round_robin([GraphQLRequest.of(QUERY)])
    async with kizuna_server(options) as ours:
        say(f"ours at {ours.base_url}: loading")
        report.setup.append(describe_target(ours))
        answer = await _answer(ours)
        report.phases += await measure(ours, workload, options.load)
        if options.apq:
            report.phases += await measure_apq(ours, QUERY, [None], options)
    async with bare_server() as bare:
        say(f"bare at {bare.base_url}: loading")
        report.setup.append(describe_target(bare))
        if await _answer(bare) != answer:
            raise BenchError("the bare app answers the query differently from ours")
        report.phases += await measure(bare, workload, options.load)
    report.setup.append(describe_load(options.load))
    report.notes += _ratios(report.phases)
    report.notes += apq_notes(report.phases, ours.name)
    return report


def _ratios(phases: list[PhaseReport]) -> list[str]:
    closed = {p.target: p for p in phases if p.result.closed_loop}
    ours, bare = closed["ours"], closed["bare"]
    if bare.result.throughput == 0:
        return ["ratio ours/bare: the bare app served nothing"]
    ratio = ours.result.throughput / bare.result.throughput
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    notes = [
        f"ratio ours/bare, closed-loop throughput: {ratio:.2f} "
        f"({verdict} the target of {TARGET_RATIO:.2f})"
    ]
    if ours.server_ms_per_op and bare.server_ms_per_op:
        # Server CPU per request does not depend on how much of the cores the server got,
        # so it stays comparable when other processes take some of them.
        notes.append(
            f"server CPU per request, closed loop: ours {ours.server_ms_per_op:.2f} ms, "
            f"bare {bare.server_ms_per_op:.2f} ms; bare/ours = "
            f"{bare.server_ms_per_op / ours.server_ms_per_op:.2f} (same sense as the ratio)"
        )
    return notes
