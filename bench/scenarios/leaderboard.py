"""leaderboard: members open a busy leaderboard — the top 10 and their own rank — with
`--sizes` (default 100,000) members' scores on it.

Set-up: an administrator and a weekly POINTS_EARNED board (leaderboardCreate), `--members`
(20) members registered, signed in and joined (leaderboardJoin); then the board's current
period is filled in bulk, straight into `leaderboard_scores` (insert_many, 1,000 a batch):
the largest of `--sizes` score documents in all, the joined members' among them, scores
drawn at random (seeded) so ties and a long middle exist. The load sends, round-robin over
the members' tokens,

    query($id: ID!) { leaderboard(id: $id) { top(first: 10) { rank displayName score isMe }
                                             me { rank score } } }

Target: p99 of the query at 100k members, and `db rt/op` constant (the board from the read
cache, one index walk for the top, a read by key and two range counts for the rank).
"""

import random
import time
from datetime import UTC, datetime

import httpx
from strawberry import relay

from bench.database import open_store
from bench.graphql import JSON_HEADERS, BenchError, GraphQLRequest, execute
from bench.load import round_robin
from bench.measure import load_client, measure
from bench.members import FAST_SIGN_UP_ENV, SignedInMember, sign_up_members
from bench.options import BenchOptions
from bench.progress import say
from bench.report import Report
from bench.scenarios.common import describe_load, describe_target, format_mix
from bench.servers import Target, kizuna_server
from bench.shop import open_shop
from loyalty.collections import LEADERBOARD_SCORES

DEFAULT_RATE = 20.0
DEFAULT_MEMBERS = 20
DEFAULT_SIZES = (100_000,)
BATCH = 1_000
MAX_SCORE = 5_000
COLD_TIMEOUT_SECONDS = 600.0
QUERY = """query Board($id: ID!) { leaderboard(id: $id) {
  top(first: 10) { rank displayName score isMe } me { rank score } } }"""
CREATE = """mutation($input: LeaderboardCreateInput!) { leaderboardCreate(input: $input) {
  leaderboard { id currentPeriod { key } } errors { code message } } }"""
JOIN = """mutation($input: LeaderboardJoinInput!) { leaderboardJoin(input: $input) {
  errors { code message } } }"""


async def _board(target: Target, admin_token: str) -> tuple[str, str, str]:
    """The new board's global id, stored id and current period."""
    async with load_client(target, 1) as client:
        created = (await execute(client, GraphQLRequest.of(CREATE, {"input": {
            "name": "Bench weekly", "metric": "POINTS_EARNED", "periodKind": "WEEK",
            "places": 100}}, token=admin_token)))["leaderboardCreate"]
    if created["errors"]:
        raise BenchError(f"leaderboardCreate: {created['errors']}")
    board = created["leaderboard"]
    return board["id"], relay.GlobalID.from_id(board["id"]).node_id, board[
        "currentPeriod"]["key"]


async def _join(target: Target, members: list[SignedInMember]) -> None:
    async with load_client(target, 4) as client:
        for n, member in enumerate(members):
            joined = (await execute(client, GraphQLRequest.of(
                JOIN, {"input": {"displayName": f"Bench Runner {n}"}},
                token=member.access_token)))["leaderboardJoin"]
            if joined["errors"]:
                raise BenchError(f"leaderboardJoin: {joined['errors']}")


async def _seed(target: Target, board_id: str, period: str, members: list[SignedInMember],
                size: int) -> float:
    """`size` score documents for the board's period (the members' among them); seconds."""
    rng = random.Random(16)  # noqa: S311 - figures, not secrets
    started = time.monotonic()
    joined = [relay.GlobalID.from_id(m.id).node_id for m in members]
    base = time.time()
    async with open_store(target) as store:
        scores = store.collection(LEADERBOARD_SCORES)
        for start in range(0, size, BATCH):
            docs = []
            for n in range(start, min(start + BATCH, size)):
                member = joined[n] if n < len(joined) else f"bench-{n:07d}"
                score = rng.randint(1, MAX_SCORE)
                docs.append({
                    "_id": f"{board_id}:{period}:{member}", "slot": f"{board_id}:{period}",
                    "board": board_id, "period": period, "member": member, "score": score,
                    "minus_score": -score, "name": f"Bench Runner {n}",
                    "reached_at": datetime.fromtimestamp(base - rng.randint(0, 500_000),
                                                         tz=UTC)})
            await scores.insert_many(docs, ordered=False)
            if start and start % 20_000 == 0:
                say(f"  {start} scores in {time.monotonic() - started:.0f} s")
    return time.monotonic() - started


async def run(options: BenchOptions) -> Report:
    report = Report(title="leaderboard", setup=[f"query: {' '.join(QUERY.split())}"])
    size = max(options.sizes)
    async with kizuna_server(options, extra_env=FAST_SIGN_UP_ENV) as ours:
        report.setup.append(describe_target(ours))
        say(f"ours at {ours.base_url}: registering {options.members} members")
        async with load_client(ours, 16) as client:
            members = await sign_up_members(client, options.members)
            shop = await open_shop(ours, client)
        global_id, board_id, period = await _board(ours, shop.admin_token)
        await _join(ours, members)
        say(f"seeding {size} scores on board {board_id} ({period})")
        seconds = await _seed(ours, board_id, period, members, size)
        report.setup.append(
            f"scores: {size} documents on one board's current period ({period}), "
            f"{len(members)} of them joined members signed in; seeded by insert_many of "
            f"{BATCH} in {seconds:.1f} s ({size / seconds:.0f}/s)")
        # The engine asks a few questions about a collection the first time a query's shape
        # meets it, reading it whole (store/engine_sorted_pages.py); give that time once.
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=ours.base_url, timeout=COLD_TIMEOUT_SECONDS,
                                     headers=JSON_HEADERS, trust_env=False) as client:
            first = (await execute(client, GraphQLRequest.of(
                QUERY, {"id": global_id}, token=members[0].access_token)))["leaderboard"]
        report.setup.append(f"first query (cold engine, its questions about the new "
                            f"collection): {time.monotonic() - started:.1f} s")
        if len(first["top"]) != 10 or first["me"] is None or first["me"]["rank"] is None:
            raise BenchError(f"the board is not as seeded: {first}")
        say("loading")
        workload = round_robin([GraphQLRequest.of(QUERY, {"id": global_id},
                                                  token=m.access_token) for m in members])
        report.phases += await measure(ours, workload, options.load)
    report.setup.append(describe_load(options.load))
    closed = next(p for p in report.phases if p.result.closed_loop)
    trips = closed.round_trips_per_op
    report.notes += [
        f"db rt/op is database commands per top-10 + my-rank query at {size} scores; closed "
        f"loop: {'-' if trips is None else f'{trips:.2f}'}",
        f"  by command, closed loop: {format_mix(closed.commands_per_op)}",
    ]
    return report
