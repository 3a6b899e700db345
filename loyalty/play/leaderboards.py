"""Leaderboard definitions: what administrators set up (audited, at run time) and the
periods members compete in.

A board ranks the members who joined (loyalty/play/leaderboard_players.py) by a metric over
a period — a week (Monday to Sunday) or a calendar month in the programme's time zone:
- POINTS_EARNED: points earned from orders and actions in the period, net of refunds of
  the period's orders. Transfers, gifts (birthday, referral, prizes), admin adjustments and
  imports do not count.
- CHALLENGE_PROGRESS: the progress of one challenge, as the challenge reports it.
Prizes (points or a voucher) go to rank ranges when a period closes
(loyalty/play/leaderboard_prizes.py).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from events import audit as audit_log
from events.audit import Audit, Target
from loyalty.collections import LEADERBOARDS
from loyalty.engagement.gifts import Gift, gift_document, gift_from_document
from loyalty.play.challenge_store import get_challenges
from loyalty.play.challenges import Recurrence, UnknownChallenge
from store import InputErrors, InvalidInput, KizunaError, NotFound, Store, new_id
from store.clock import Clock

LEADERBOARD = "Leaderboard"
"""Boards' type in the audit trail."""

MAX_PLACES = 100
MAX_PRIZES = 20
MAX_NAME = 80
MAX_DESCRIPTION = 500
MAX_BOARDS = 50
"""Active boards at once: every order of a joined member updates each of them."""


class Metric(StrEnum):
    POINTS_EARNED = "POINTS_EARNED"
    CHALLENGE_PROGRESS = "CHALLENGE_PROGRESS"


class PeriodKind(StrEnum):
    WEEK = "WEEK"
    MONTH = "MONTH"


class InvalidLeaderboard(InvalidInput):
    code = "INVALID_LEADERBOARD"


class UnknownLeaderboard(NotFound):
    code = "UNKNOWN_LEADERBOARD"


@dataclass(frozen=True, slots=True)
class Prize:
    """What the places `from_rank`..`to_rank` (inclusive) each get."""

    from_rank: int
    to_rank: int
    gift: Gift


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    """"2026-W49" (ISO week) or "2026-12"."""
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Board:
    id: str
    name: str
    description: str
    metric: Metric
    period: PeriodKind
    places: int
    prizes: tuple[Prize, ...]
    active: bool
    created_at: datetime
    updated_at: datetime
    challenge_id: str | None = None
    archived_at: datetime | None = None
    """When it was last archived (set while archived, kept after)."""
    archived_spans: tuple[tuple[datetime, datetime], ...] = ()
    """(archived, reactivated) of every time it was archived and brought back: periods
    that ended in one give no prizes."""

    def archived_when(self, moment: datetime) -> bool:
        """Whether the board was archived at `moment` (a period ending then pays nothing)."""
        return any(start < moment <= end for start, end in self.archived_spans)

    def prize_for(self, rank: int) -> Gift | None:
        for prize in self.prizes:
            if prize.from_rank <= rank <= prize.to_rank:
                return prize.gift
        return None


@dataclass(frozen=True, slots=True)
class BoardDraft:
    name: str
    description: str
    metric: Metric
    period: PeriodKind
    places: int
    prizes: Sequence[Prize]
    challenge_id: str | None = None
    active: bool = True


# --- periods (pure) -------------------------------------------------------------------------


def period_of(kind: PeriodKind, at: datetime, timezone: ZoneInfo) -> Period:
    """The period `at` falls in, in the programme's time zone."""
    local = at.astimezone(timezone)
    day = local.date()
    if kind is PeriodKind.WEEK:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        year, week, _ = day.isocalendar()
        key = f"{year}-W{week:02d}"
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        key = f"{day.year}-{day.month:02d}"
    return Period(key, _midnight(start, timezone), _midnight(end, timezone))


def _midnight(day: date, timezone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone).astimezone(UTC)


def ended_periods(kind: PeriodKind, *, since: datetime, now: datetime, timezone: ZoneInfo,
                  limit: int = 60) -> list[Period]:
    """The periods that ended by `now`, from the one `since` falls in, oldest first (the
    last `limit` of them)."""
    found: list[Period] = []
    period = period_of(kind, since, timezone)
    while period.ends_at <= now:
        found.append(period)
        period = period_of(kind, period.ends_at, timezone)
    return found[-limit:]


# --- validation (pure) ----------------------------------------------------------------------


def validate_board(draft: BoardDraft) -> BoardDraft:
    """The draft, trimmed; raises InvalidLeaderboard (or InputErrors listing several)."""
    errors: list[KizunaError] = []
    name = " ".join(draft.name.split())
    if not 1 <= len(name) <= MAX_NAME:
        errors.append(InvalidLeaderboard(f"A name is 1 to {MAX_NAME} characters.",
                                         field=("input", "name")))
    description = draft.description.strip()
    if len(description) > MAX_DESCRIPTION:
        errors.append(InvalidLeaderboard(f"At most {MAX_DESCRIPTION} characters.",
                                         field=("input", "description")))
    challenge = (draft.challenge_id or "").strip() or None
    if draft.metric is Metric.CHALLENGE_PROGRESS and challenge is None:
        errors.append(InvalidLeaderboard("A challenge-progress board needs its challenge.",
                                         field=("input", "challenge")))
    if draft.metric is Metric.POINTS_EARNED and challenge is not None:
        errors.append(InvalidLeaderboard("A points board has no challenge.",
                                         field=("input", "challenge")))
    if not 1 <= draft.places <= MAX_PLACES:
        errors.append(InvalidLeaderboard(f"Show 1 to {MAX_PLACES} places.",
                                         field=("input", "places")))
    errors += _prize_errors(draft.prizes, places=draft.places)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return replace(draft, name=name, description=description, challenge_id=challenge,
                   prizes=tuple(sorted(draft.prizes, key=lambda p: p.from_rank)))


def _prize_errors(prizes: Sequence[Prize], *, places: int) -> list[KizunaError]:
    errors: list[KizunaError] = []
    if len(prizes) > MAX_PRIZES:
        return [InvalidLeaderboard(f"At most {MAX_PRIZES} prizes.", field=("input", "prizes"))]
    taken: set[int] = set()
    for index, prize in enumerate(prizes):
        where = ("input", "prizes", str(index))
        if not 1 <= prize.from_rank <= prize.to_rank <= min(places, MAX_PLACES):
            errors.append(InvalidLeaderboard(
                "Ranks run from 1 to the places shown, the first not after the last.",
                field=(*where, "fromRank")))
            continue
        ranks = set(range(prize.from_rank, prize.to_rank + 1))
        if ranks & taken:
            errors.append(InvalidLeaderboard("Prizes overlap: each place gets one prize.",
                                             field=(*where, "fromRank")))
        taken |= ranks
    return errors


# --- store ----------------------------------------------------------------------------------


def to_document(board: Board) -> dict[str, Any]:
    return {
        "_id": board.id, "name": board.name, "description": board.description,
        "metric": board.metric.value, "challenge_id": board.challenge_id,
        "period": board.period.value, "places": board.places,
        "prizes": [_prize_document(p) for p in board.prizes], "active": board.active,
        "created_at": board.created_at, "updated_at": board.updated_at,
        "archived_at": board.archived_at,
        "archived_spans": [list(span) for span in board.archived_spans],
    }


def _prize_document(prize: Prize) -> dict[str, Any]:
    return {"from_rank": prize.from_rank, "to_rank": prize.to_rank,
            "gift": gift_document(prize.gift)}


def from_document(doc: Mapping[str, Any]) -> Board:
    prizes = []
    for p in doc.get("prizes") or ():
        gift = gift_from_document(p["gift"])
        if gift is not None:
            prizes.append(Prize(p["from_rank"], p["to_rank"], gift))
    return Board(
        id=doc["_id"], name=doc["name"], description=doc.get("description", ""),
        metric=Metric(doc["metric"]), challenge_id=doc.get("challenge_id"),
        period=PeriodKind(doc["period"]), places=doc["places"], prizes=tuple(prizes),
        active=doc.get("active", True), created_at=doc["created_at"],
        updated_at=doc["updated_at"], archived_at=doc.get("archived_at"),
        archived_spans=tuple((start, end) for start, end in doc.get("archived_spans") or ()),
    )


async def create_board(store: Store, *, draft: BoardDraft, clock: Clock,
                       audit: Audit | None) -> Board:
    """Store a new board (prize vouchers checked by the caller, see scanner.gifts);
    raises InvalidLeaderboard or InputErrors, writing nothing."""
    checked = validate_board(draft)
    if checked.challenge_id is not None:
        found = await get_challenges(store, [checked.challenge_id])
        if not found:
            raise UnknownChallenge("No challenge has this id.", field=("input", "challenge"))
        _check_recurrence(checked.period, found[checked.challenge_id].recurrence)
    if checked.active and len(await active_boards(store, cached=False)) >= MAX_BOARDS:
        raise InvalidLeaderboard(f"At most {MAX_BOARDS} boards can be active at once.",
                                 field=("input", "active"))
    now = clock()
    board = Board(id=new_id(), name=checked.name, description=checked.description,
                  metric=checked.metric, challenge_id=checked.challenge_id,
                  period=checked.period, places=checked.places, prizes=tuple(checked.prizes),
                  active=checked.active, created_at=now, updated_at=now)
    await audit_log.insert(store, audit, operation="leaderboardCreate",
                           target=Target(LEADERBOARD, board.id), collection=LEADERBOARDS,
                           document=to_document(board), at=now)
    store.reads.forget(LEADERBOARDS)
    return board


def _check_recurrence(period: PeriodKind, recurrence: Recurrence) -> None:
    """A challenge board ranks the challenge's progress in the board's own period, so the
    challenge must restart when the board's period does (a once-only challenge's progress
    is cumulative: a weekly board over it would rank earlier weeks' orders)."""
    if recurrence.value != period.value:
        raise InvalidLeaderboard(
            f"A {period.value.lower()}ly board ranks a challenge that restarts every "
            f"{period.value.lower()} (this one's recurrence is {recurrence.value}).",
            field=("input", "challenge"))


async def update_board(store: Store, *, board_id: str, changes: Mapping[str, Any],
                       clock: Clock, audit: Audit | None) -> Board:
    """Change a board's name, description, places, prizes or active flag (its metric and
    period stay: scores already kept mean them). Raises UnknownLeaderboard or the
    validation errors, writing nothing."""
    current = await get_board(store, board_id)
    if current is None:
        raise UnknownLeaderboard("No leaderboard has this id.", field=("input", "leaderboard"))
    merged = BoardDraft(
        name=changes.get("name", current.name),
        description=changes.get("description", current.description),
        metric=current.metric, period=current.period, challenge_id=current.challenge_id,
        places=changes.get("places", current.places),
        prizes=changes.get("prizes", current.prizes), active=changes.get("active", current.active),
    )
    checked = validate_board(merged)
    now = clock()
    fields = {"name": checked.name, "description": checked.description,
              "places": checked.places, "prizes": [_prize_document(p) for p in checked.prizes],
              "active": checked.active, "updated_at": now,
              **_archiving(current, active=checked.active, now=now)}
    doc = await audit_log.update(store, audit, operation="leaderboardUpdate",
                                 target=Target(LEADERBOARD, board_id), collection=LEADERBOARDS,
                                 fields=fields, at=now)
    store.reads.forget(LEADERBOARDS)
    if doc is None:
        raise UnknownLeaderboard("No leaderboard has this id.", field=("input", "leaderboard"))
    return from_document(doc)


def _archiving(current: Board, *, active: bool, now: datetime) -> dict[str, Any]:
    """What archiving or bringing back the board records: the span it was archived over
    (leaderboard_prizes closes the periods that ended in it without prizes)."""
    if current.active and not active:
        return {"archived_at": now}
    if not current.active and active:
        start = current.archived_at or current.updated_at
        return {"archived_spans": [*map(list, current.archived_spans), [start, now]]}
    return {}


async def get_board(store: Store, board_id: str) -> Board | None:
    doc = await store.collection(LEADERBOARDS).find_one({"_id": board_id})
    return None if doc is None else from_document(doc)


async def get_boards(store: Store, board_ids: Sequence[str]) -> dict[str, Board]:
    cursor = store.collection(LEADERBOARDS).find({"_id": {"$in": list(board_ids)}})
    return {doc["_id"]: from_document(doc) async for doc in cursor}


async def all_boards(store: Store) -> list[Board]:
    """Every board, archived ones included, oldest first (there are few)."""
    cursor = store.collection(LEADERBOARDS).find({}).sort("_id", 1)
    return [from_document(doc) async for doc in cursor]


async def active_boards(store: Store, *, cached: bool = True) -> tuple[Board, ...]:
    """The active boards, oldest first: a few seconds' copy (store.reads) on hot paths."""

    async def load() -> tuple[Board, ...]:
        cursor = store.collection(LEADERBOARDS).find({"active": True}).sort("_id", 1)
        return tuple([from_document(doc) async for doc in cursor])

    return await store.reads.get(LEADERBOARDS, load) if cached else await load()
