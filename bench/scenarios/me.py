"""me: a signed-in member reads their profile — bearer-token check plus one account lookup.

A pool of members is registered and signed in through the API first; the load spreads
`me` over their tokens round-robin.
"""

import time

from bench.graphql import BenchError, GraphQLRequest, execute
from bench.load import round_robin
from bench.measure import load_client, measure
from bench.members import FAST_SIGN_UP_ENV, SignedInMember, sign_up_members
from bench.options import BenchOptions
from bench.progress import say
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target
from bench.servers import Target, kizuna_server

DEFAULT_RATE = 50.0
QUERY = "query Me { me { id email name birthday marketingConsent memberSince } }"


async def _check(target: Target, members: list[SignedInMember]) -> None:
    """Each token answers with its own member, so the load measures the real path."""
    async with load_client(target, 1) as client:
        for member in members[:3]:
            data = await execute(client, GraphQLRequest.of(QUERY, token=member.access_token))
            if (data.get("me") or {}).get("id") != member.id:
                raise BenchError(f"`me` did not return {member.email}: {data}")


async def run(options: BenchOptions) -> Report:
    report = Report(title="me", setup=[f"query: {QUERY}"])
    async with kizuna_server(options, extra_env=FAST_SIGN_UP_ENV) as ours:
        report.setup.append(describe_target(ours))
        say(f"ours at {ours.base_url}: registering {options.members} members")
        started = time.monotonic()
        async with load_client(ours, 16) as client:
            members = await sign_up_members(client, options.members)
        report.setup.append(
            f"members: {len(members)} registered and signed in through the API in "
            f"{time.monotonic() - started:.1f} s; requests spread over their tokens"
        )
        await _check(ours, members)
        say("loading")
        workload = round_robin([GraphQLRequest.of(QUERY, token=m.access_token) for m in members])
        report.phases += await measure(ours, workload, options.load)
    report.setup.append(describe_load(options.load))
    report.notes.append(
        "db rt/op is database commands per `me` (expected 1: one accounts "
        "lookup through the DataLoader)"
    )
    return report
