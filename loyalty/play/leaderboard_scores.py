"""Leaderboard scores: kept in the earning transaction for members who joined, ranked by an
index walk.

One document per (board, period, member) in `leaderboard_scores` {slot ("<board>:<period>"),
board, period, member, score, minus_score (= −score), reached_at, name}. The index (slot,
minus_score, reached_at, member) — ascending throughout, so the embedded engine walks it in
order too — makes the top N a walk of its first N keys, and a member's rank two counts of
ranges of it:

    rank = 1 + (members with a higher score)
             + (members with the same score who reached it earlier)

Competition ranking ("1, 2, 2, 4") with ties broken by who reached the score first:
`reached_at` is the time of the score's last change, so of two members on 120 points the
one who got there first ranks higher. Only members with the same score *and* the same
instant share a rank.

A period's scores stop moving when it ends: an order backdated into an ended period, or a
refund after the end, changes nothing there (the prizes of a closed period are final).
Members who did not join pay nothing: the order path reads their member document already,
and `leaderboard` is absent from it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.collections import LEADERBOARD_SCORES
from loyalty.ledger.member_state import MemberState
from loyalty.play.leaderboards import Board, Metric, active_boards, period_of
from loyalty.play.progress import ProgressChange
from loyalty.programme.settings import Programme
from store import IndexSpec, Session, Store, UpdateOne

INDEXES = (
    IndexSpec(LEADERBOARD_SCORES, (("slot", 1), ("minus_score", 1), ("reached_at", 1),
                                   ("member", 1)), name="ranking"),
    IndexSpec(LEADERBOARD_SCORES, (("member", 1),), name="member"),
)


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    member_id: str
    display_name: str
    score: int
    reached_at: datetime


def score_id(board_id: str, period: str, member_id: str) -> str:
    return f"{board_id}:{period}:{member_id}"


def slot(board_id: str, period: str) -> str:
    return f"{board_id}:{period}"


TOP_SORT = (("minus_score", 1), ("reached_at", 1), ("member", 1))


def top_filter(board_id: str, period: str) -> dict[str, Any]:
    """The places with a positive score, in TOP_SORT order: the ranking index's first keys."""
    return {"slot": slot(board_id, period), "minus_score": {"$lt": 0}}


def rank_filters(board_id: str, period: str, *, score: int,
                 reached_at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The members ahead of a score reached at `reached_at`: a higher score, or the same
    one reached earlier (the equality written as a range, which the engine seeks to)."""
    key = slot(board_id, period)
    return ({"slot": key, "minus_score": {"$lt": -score}},
            {"slot": key, "minus_score": {"$gte": -score, "$lte": -score},
             "reached_at": {"$lt": reached_at}})


async def record_scores(
    store: Store,
    session: Session,
    *,
    member: MemberState,
    points: int,
    at: datetime,
    now: datetime,
    programme: Programme,
    progress: Sequence[ProgressChange] = (),
) -> None:
    """Move the member's scores for one earning event (`points` earned at `at`, or taken
    back when negative) and its challenge `progress`, in the caller's transaction: one bulk
    write for all the boards, none for a member who did not join or an event that moves
    nothing."""
    name = member.leaderboard_name
    if name is None:
        return
    boards = await active_boards(store)
    writes: list[UpdateOne] = []
    for board in boards:
        if board.metric is Metric.POINTS_EARNED and points:
            period = period_of(board.period, at, programme.timezone)
            if period.ends_at > now:
                writes.append(UpdateOne(
                    {"_id": score_id(board.id, period.key, member.member_id)},
                    {"$inc": {"score": points, "minus_score": -points},
                     "$set": {"reached_at": now, "name": name},
                     "$setOnInsert": _base(board.id, period.key, member.member_id)},
                    upsert=points > 0))
        elif board.metric is Metric.CHALLENGE_PROGRESS:
            writes += _progress_writes(board, progress, member_id=member.member_id, name=name,
                                       at=at, now=now, programme=programme)
    if writes:
        await store.collection(LEADERBOARD_SCORES).bulk_write(writes, ordered=True,
                                                              session=session)


def _base(board_id: str, period: str, member_id: str) -> dict[str, Any]:
    return {"slot": slot(board_id, period), "board": board_id, "period": period,
            "member": member_id}


def _progress_writes(board: Board, progress: Sequence[ProgressChange], *, member_id: str,
                     name: str, at: datetime, now: datetime,
                     programme: Programme) -> list[UpdateOne]:
    """The challenge's progress goes in the slot of the period the challenge counted it in
    (its recurrence is the board's period, leaderboards.create_board): an order backdated
    into last week moves last week's progress, which is last week's slot, closed or not."""
    writes = []
    for change in progress:
        if change.challenge_id != board.challenge_id or change.after == change.before:
            continue
        period = period_of(board.period, at, programme.timezone)
        if period.key != change.period or period.ends_at <= now:
            continue  # another period's progress (or an ended one): never this slot's
        writes.append(UpdateOne(
            {"_id": score_id(board.id, change.period, member_id)},
            {"$set": {"score": change.after, "minus_score": -change.after,
                      "reached_at": now, "name": name},
             "$setOnInsert": _base(board.id, change.period, member_id)}, upsert=True))
    return writes


async def reverse_scores(
    store: Store,
    session: Session,
    *,
    member: MemberState,
    points: int,
    at: datetime,
    now: datetime,
    programme: Programme,
) -> None:
    """Take `points` a refund reversed off the POINTS_EARNED scores of the period of the
    order (occurred `at`), never below zero (the member may have joined after the order).
    One read and one bulk write, only for a member who joined."""
    if member.leaderboard_name is None or points <= 0:
        return
    ids = []
    for board in await active_boards(store):
        period = period_of(board.period, at, programme.timezone)
        if board.metric is Metric.POINTS_EARNED and period.ends_at > now:
            ids.append(score_id(board.id, period.key, member.member_id))
    if not ids:
        return
    scores = store.collection(LEADERBOARD_SCORES)
    found = await scores.find({"_id": {"$in": ids}}, {"score": 1}, session=session).to_list(None)
    writes = [UpdateOne({"_id": doc["_id"]},
                        {"$inc": {"score": -min(points, int(doc["score"])),
                                  "minus_score": min(points, int(doc["score"]))},
                         "$set": {"reached_at": now}})
              for doc in found if doc["score"] > 0]
    if writes:
        await scores.bulk_write(writes, ordered=True, session=session)


# --- reading --------------------------------------------------------------------------------


def _ranked(docs: Sequence[dict[str, Any]]) -> list[Standing]:
    """Documents in index order from rank 1, with competition ranks."""
    standings: list[Standing] = []
    for index, doc in enumerate(docs):
        rank = index + 1
        if standings and (standings[-1].score, standings[-1].reached_at) == (
                doc["score"], doc["reached_at"]):
            rank = standings[-1].rank
        standings.append(Standing(rank=rank, member_id=doc["member"],
                                  display_name=doc.get("name") or "", score=doc["score"],
                                  reached_at=doc["reached_at"]))
    return standings


async def top(store: Store, *, board_id: str, period: str, first: int,
              session: Session | None = None) -> list[Standing]:
    """The first `first` places (members with a positive score), one index walk."""
    cursor = store.collection(LEADERBOARD_SCORES).find(
        top_filter(board_id, period), {"member": 1, "name": 1, "score": 1, "reached_at": 1},
        session=session,
    ).sort(list(TOP_SORT)).limit(first)
    return _ranked(await cursor.to_list(None))


async def my_standings(store: Store, *, member_id: str,
                       slots: Sequence[tuple[str, str]]) -> dict[str, Standing]:
    """The member's place on each of the boards `slots` lists as (board, period), by board
    (absent without a positive score): one read of the member's score documents for them
    all, then two counts of ranges of the ranking index per board they scored on."""
    ids = [score_id(board_id, period, member_id) for board_id, period in slots]
    found = await store.collection(LEADERBOARD_SCORES).find(
        {"_id": {"$in": ids}, "score": {"$gt": 0}}).to_list(None)
    standings: dict[str, Standing] = {}
    for doc in found:
        ahead, tied_earlier = rank_filters(doc["board"], doc["period"], score=doc["score"],
                                           reached_at=doc["reached_at"])
        higher = await store.count(LEADERBOARD_SCORES, ahead)
        earlier = await store.count(LEADERBOARD_SCORES, tied_earlier)
        standings[doc["board"]] = Standing(
            rank=1 + higher + earlier, member_id=member_id, display_name=doc.get("name") or "",
            score=doc["score"], reached_at=doc["reached_at"])
    return standings
