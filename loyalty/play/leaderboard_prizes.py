"""Prizes when a leaderboard's period closes: given once, cluster-wide.

Every server instance runs `close_due_periods` in its background jobs. Closing a period is
one transaction that first inserts the period's record in `leaderboard_periods` (`_id`
"<board>:<period>", unique), then gives each winner their prize (a once-only gift keyed
"leaderboard:<board>:<period>:<rank>:<member>": points at once, a voucher PENDING for
scanner/gifts.py to issue) and records `leaderboard.prize_awarded`. A second instance
closing the same period fails on the record's key and gives nothing: each period's prizes
are given exactly once, and the record keeps the winner list `kizuna verify` checks every
prize gift against.

Winners are the members ranked within a prize's range when the period ends (scores stop
moving then). Ranks are competition ranks with ties broken by who reached the score first
(loyalty/play/leaderboard_scores.py), so a tie at a prize boundary is two members with the
same score reached at the same instant: both hold the rank and both get its prize. Members
with no positive score win nothing; an archived board gives no prizes for the periods that
ended while it was archived (an administrator archiving it says so): when it is brought
back, those periods are closed without winners (`skipped`).

A period closes CLOSE_GRACE after it ends, not at once: a score write skips an ended period
by the clock read when its transaction attempt started, so a write that saw the period open
may commit a little after the end. The grace is longer than a transaction with all its
retries may take (store.client.TRANSACTION_RETRY_BUDGET), so when the period closes every
such write has committed or given up and the winners read are final.
"""

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import events
from events import Event, EventType, Subject, SubjectKind
from loyalty.collections import GIFTS, LEADERBOARD_PERIODS
from loyalty.engagement.gifts import (
    GiftStatus,
    Occasion,
    gift_document,
    grant_points,
    record_gift,
)
from loyalty.ledger.verify import Members, Violation
from loyalty.play.challenge_store import get_challenges
from loyalty.play.leaderboard_scores import Standing, top
from loyalty.play.leaderboards import Board, Metric, Period, active_boards, ended_periods
from loyalty.programme.settings import Programme, load_programme
from store import IndexSpec, Session, Store, is_duplicate_key
from store.clock import Clock

INDEXES = (
    IndexSpec(LEADERBOARD_PERIODS, (("board", 1), ("period", 1)), name="board_period"),
)

CLOSE_GRACE = timedelta(minutes=5)
"""How long after its end a period closes: far longer than any transaction with its retries
(20 s, store.client.TRANSACTION_RETRY_BUDGET), so no write that saw the period open is
still to commit when the winners are read."""

TIE_MARGIN = 50
"""Places read past the last prize's rank, for ties at the boundary."""

_KEY_PREFIX = "leaderboard:"


@dataclass(frozen=True, slots=True)
class Closed:
    periods: int
    prizes: int


def gift_key(board_id: str, period: str, rank: int, member_id: str) -> str:
    return f"{_KEY_PREFIX}{board_id}:{period}:{rank}:{member_id}"


async def close_due_periods(store: Store, *, clock: Clock) -> Closed:
    """Close every ended period of the active boards not closed yet (from the one each
    board was created in), giving its prizes; safe to run on every instance at once."""
    boards = await active_boards(store, cached=False)
    if not boards:
        return Closed(0, 0)
    programme = await load_programme(store)
    now = clock()
    done = {doc["_id"] async for doc in store.collection(LEADERBOARD_PERIODS).find(
        {"board": {"$in": [board.id for board in boards]}}, {"_id": 1})}
    periods = prizes = 0
    for board in boards:
        for period in ended_periods(board.period, since=board.created_at,
                                    now=now - CLOSE_GRACE, timezone=programme.timezone):
            if f"{board.id}:{period.key}" in done:
                continue
            given = await _close(store, board, period, programme=programme, clock=clock,
                                 paid=not board.archived_when(period.ends_at))
            if given is not None:
                periods += 1
                prizes += given
    return Closed(periods, prizes)


async def _close(store: Store, board: Board, period: Period, *, programme: Programme,
                 clock: Clock, paid: bool) -> int | None:
    """Close one period (without winners unless `paid`); None when another run closed it
    first."""
    last_rank = max((prize.to_rank for prize in board.prizes), default=0) if paid else 0

    async def work(session: Session) -> int:
        now = clock()
        standings = [s for s in await top(store, board_id=board.id, period=period.key,
                                          first=last_rank + TIE_MARGIN, session=session)
                     if s.rank <= last_rank] if last_rank else []
        winners = [(s, board.prize_for(s.rank)) for s in standings]
        await store.collection(LEADERBOARD_PERIODS).insert_one({
            "_id": f"{board.id}:{period.key}", "board": board.id, "period": period.key,
            "starts_at": period.starts_at, "ends_at": period.ends_at, "closed_at": now,
            "skipped": not paid,
            "winners": [_winner(board, period, s, gift) for s, gift in winners
                        if gift is not None],
        }, session=session)
        given = 0
        for standing, gift in winners:
            if gift is None:
                continue
            key = gift_key(board.id, period.key, standing.rank, standing.member_id)
            details = {"leaderboard_id": board.id, "period": period.key,
                       "rank": standing.rank, "score": standing.score}
            if gift.points is not None:
                await grant_points(
                    store, session, key=key, member_id=standing.member_id,
                    occasion=Occasion.LEADERBOARD, points=gift.points,
                    reason=f"{board.name}: place {standing.rank} in {period.key}", now=now,
                    programme=programme, details=details)
            else:
                await record_gift(store, session, key=key, member_id=standing.member_id,
                                  occasion=Occasion.LEADERBOARD, gift=gift,
                                  status=GiftStatus.PENDING, now=now, details=details)
            events.record(store, session, prize_awarded(board, period, standing, key,
                                                        gift_document(gift), now=now))
            given += 1
        return given

    try:
        return await store.transaction(work)
    except Exception as error:
        if is_duplicate_key(error):
            return None
        raise


def _winner(board: Board, period: Period, standing: Standing, gift: Any) -> dict[str, Any]:
    return {"rank": standing.rank, "member_id": standing.member_id, "score": standing.score,
            "gift_key": gift_key(board.id, period.key, standing.rank, standing.member_id),
            "gift": gift_document(gift)}


def prize_awarded(board: Board, period: Period, standing: Standing, key: str,
                  gift: Mapping[str, Any], *, now: Any) -> Event:
    """The event of a member's prize (no display name: apps know their own member)."""
    return Event(
        EventType.LEADERBOARD_PRIZE_AWARDED, Subject(SubjectKind.MEMBER, standing.member_id),
        occurred_at=now, member_id=standing.member_id,
        data={"leaderboard": {"id": board.id, "name": board.name},
              "period": {"key": period.key, "starts_at": period.starts_at,
                         "ends_at": period.ends_at},
              "rank": standing.rank, "score": standing.score, "gift_key": key,
              "prize": {"points": gift.get("points"),
                        "voucher": (gift.get("voucher") or {}).get("title")}},
    )


async def prize_books(store: Store, session: Session | None,
                      members: Members) -> AsyncIterator[Violation]:
    """`kizuna verify`: every leaderboard gift is the prize of a winner of a closed period,
    and every winner has exactly that gift, once. Checked in the last batch (the periods'
    winner lists are small: boards × periods × prize places)."""
    if members.through is not None:
        return
    winners: dict[str, dict[str, Any]] = {}
    async for doc in store.collection(LEADERBOARD_PERIODS).find({}, session=session):
        for winner in doc.get("winners") or ():
            winners[winner["gift_key"]] = winner
    gifts = store.collection(GIFTS).find(
        {"_id": {"$gte": _KEY_PREFIX, "$lt": _KEY_PREFIX[:-1] + ";"}}, session=session)
    async for gift in gifts:
        winner = winners.pop(gift["_id"], None)
        if winner is None:
            yield Violation("every leaderboard prize matches a closed period's winner",
                            gift["_id"], "no closed period lists this winner")
        elif winner["member_id"] != gift["member_id"] or winner["gift"] != gift["gift"]:
            yield Violation("every leaderboard prize matches a closed period's winner",
                            gift["_id"], "the gift differs from the winner list's prize")
    for key in winners:
        yield Violation("every winner of a closed period has their prize", key,
                        "no gift was given")
    async for violation in _challenge_recurrences(store, session):
        yield violation


async def _challenge_recurrences(store: Store,
                                 session: Session | None) -> AsyncIterator[Violation]:
    """Every active challenge board ranks a challenge restarting with its period (boards
    made before leaderboardCreate refused others score nothing: their challenge's progress
    is never the board's period's)."""
    boards = [b for b in await active_boards(store, cached=False)
              if b.metric is Metric.CHALLENGE_PROGRESS and b.challenge_id is not None]
    found = await get_challenges(store, [b.challenge_id for b in boards if b.challenge_id])
    for board in boards:
        challenge = found.get(board.challenge_id or "")
        if challenge is None or challenge.recurrence.value != board.period.value:
            yield Violation("every challenge board's challenge recurs with its period",
                            board.id, "the challenge is gone or recurs "
                            f"{'-' if challenge is None else challenge.recurrence.value}, "
                            f"the board is {board.period.value}")
