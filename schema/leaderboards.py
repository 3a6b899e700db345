"""Leaderboards: administrators define them; members join with a display name, see the top
places and their own. Members see only display names (docs/leaderboards.md)."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Self

import strawberry
from strawberry import Info, relay
from strawberry.dataloader import DataLoader

from auth.roles import Role
from loyalty.members.reference import programme as cached_programme
from loyalty.play import leaderboard_players, leaderboard_scores, leaderboards
from loyalty.play.leaderboard_names import parse_blocklist
from loyalty.play.leaderboards import (
    Board,
    BoardDraft,
    Metric,
    PeriodKind,
    Prize,
    UnknownLeaderboard,
    period_of,
)
from scanner.gifts import check_gift
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.gifts import GiftInput, GiftType, gift_of_input
from schema.permissions import IsAdmin, IsMember, IsSignedIn, is_admin
from schema.shared import INPUT, node_id

MAX_TOP = 100


@strawberry.enum(name="LeaderboardMetric", description="What a leaderboard ranks by.")
class MetricType(Enum):
    POINTS_EARNED = strawberry.enum_value(
        "POINTS_EARNED", description="Points earned from orders and actions in the period, "
        "net of refunds of the period's orders (not transfers, gifts, adjustments or imports).")
    CHALLENGE_PROGRESS = strawberry.enum_value(
        "CHALLENGE_PROGRESS", description="A challenge's progress in the period.")


@strawberry.enum(name="LeaderboardPeriodKind",
                 description="How long a leaderboard's periods are (programme's time zone).")
class PeriodKindType(Enum):
    WEEK = strawberry.enum_value("WEEK", description="Monday 00:00 to the next Monday.")
    MONTH = strawberry.enum_value("MONTH", description="A calendar month.")


@strawberry.type(description="One period of a leaderboard.")
class LeaderboardPeriod:
    key: str = strawberry.field(description='"2026-W49" (ISO week) or "2026-12".')
    starts_at: datetime = strawberry.field(description="When it starts.")
    ends_at: datetime = strawberry.field(description="When it ends: prizes are given then.")


@strawberry.type(description="What the places fromRank..toRank each win.")
class LeaderboardPrize:
    from_rank: int = strawberry.field(description="The first place of the range.")
    to_rank: int = strawberry.field(description="The last place of the range (inclusive).")
    gift: GiftType = strawberry.field(description="Points or a voucher.")


@strawberry.type(description="A place on a leaderboard: a display name, never a real name.")
class LeaderboardEntry:
    rank: int = strawberry.field(description="Competition rank (1, 2, 2, 4): ties broken by "
                                 "who reached the score first.")
    display_name: str = strawberry.field(description="The name the member chose.")
    score: int = strawberry.field(description="Points earned, or the challenge's progress.")
    is_me: bool = strawberry.field(description="Whether this is you.")


@strawberry.type(description="Your place on a leaderboard this period.")
class LeaderboardStanding:
    rank: int | None = strawberry.field(description="Your rank; null until you score.")
    score: int = strawberry.field(description="Your score this period.")


@strawberry.type(name="Leaderboard", description="Members who joined, ranked by a metric over "
                 "a week or a month; prizes for the top places when the period closes.")
class LeaderboardNode(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Its name.")
    description: str = strawberry.field(description="What it is about.")
    metric: MetricType = strawberry.field(description="What it ranks by.")
    period_kind: PeriodKindType = strawberry.field(description="Weekly or monthly.")
    places: int = strawberry.field(description="How many places it shows.")
    prizes: list[LeaderboardPrize] = strawberry.field(description="Prizes by rank range.")
    board: strawberry.Private[Board]
    standings: strawberry.Private["_Standings | None"] = None
    """Shared by the boards of one list: the caller's places on all of them in one batch."""

    @strawberry.field(description="The period running now.")
    async def current_period(self, info: Info[Context, None]) -> LeaderboardPeriod:
        period = await _current(info, self.board)
        return LeaderboardPeriod(key=period.key, starts_at=period.starts_at,
                                 ends_at=period.ends_at)

    @strawberry.field(description="The first places of the current period (members who "
                      "joined and scored; at most `places`).")
    async def top(
        self, info: Info[Context, None],
        first: Annotated[int, strawberry.argument(description="How many (1–100).")] = 10,
    ) -> list[LeaderboardEntry]:
        period = await _current(info, self.board)
        count = max(1, min(first, self.board.places, MAX_TOP))
        standings = await leaderboard_scores.top(info.context.store, board_id=self.board.id,
                                                 period=period.key, first=count)
        me = _member_id(info)
        return [LeaderboardEntry(rank=s.rank, display_name=s.display_name, score=s.score,
                                 is_me=s.member_id == me) for s in standings]

    @strawberry.field(description="Your place this period; null unless you joined.")
    async def me(self, info: Info[Context, None]) -> LeaderboardStanding | None:
        member_id = _member_id(info)
        if member_id is None:
            return None
        standings = self.standings or _Standings(info, member_id)
        return await standings.loader.load(self.board)

    @strawberry.field(description="Administrators: whether it is active (null for others).")
    def active(self, info: Info[Context, None]) -> bool | None:
        return self.board.active if is_admin(info.context.principal) else None

    @strawberry.field(description="Administrators: the challenge a CHALLENGE_PROGRESS board "
                      "ranks by (null for others).")
    def challenge(self, info: Info[Context, None]) -> relay.GlobalID | None:
        if not is_admin(info.context.principal) or self.board.challenge_id is None:
            return None
        return relay.GlobalID("Challenge", self.board.challenge_id)

    @strawberry.field(description="Administrators: when it was created (null for others).")
    def created_at(self, info: Info[Context, None]) -> datetime | None:
        return self.board.created_at if is_admin(info.context.principal) else None

    @strawberry.field(description="Administrators: when it was last changed.")
    def updated_at(self, info: Info[Context, None]) -> datetime | None:
        return self.board.updated_at if is_admin(info.context.principal) else None

    @classmethod
    def of(cls, board: Board, standings: "_Standings | None" = None) -> Self:
        return cls(
            id=board.id, name=board.name, description=board.description,
            metric=MetricType[board.metric.value], period_kind=PeriodKindType[board.period.value],
            places=board.places, board=board, standings=standings,
            prizes=[LeaderboardPrize(from_rank=p.from_rank, to_rank=p.to_rank,
                                     gift=GiftType.from_gift(p.gift))  # type: ignore[arg-type]
                    for p in board.prizes],
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        if info.context.principal is None:
            return [None for _ in ids]
        found = await leaderboards.get_boards(info.context.store, ids)
        admin = is_admin(info.context.principal)
        return [cls.of(found[i]) if i in found and (admin or found[i].active) else None
                for i in ids]


class _Standings:
    """The caller's places on the boards of one response, loaded together: one read of
    their score documents across the boards' current slots, two range counts per board
    they scored on, and one read of their player record if some board has no score."""

    def __init__(self, info: Info[Context, None], member_id: str) -> None:
        self.info = info
        self.member_id = member_id
        self.loader: DataLoader[Board, LeaderboardStanding | None] = DataLoader(
            load_fn=self.load, cache=False)

    async def load(self, boards: list[Board]) -> list["LeaderboardStanding | None"]:
        store = self.info.context.store
        slots = [(board.id, (await _current(self.info, board)).key) for board in boards]
        found = await leaderboard_scores.my_standings(store, member_id=self.member_id,
                                                      slots=slots)
        if len(found) < len(boards) and await leaderboard_players.player(
                store, self.member_id) is None:
            return [None for _ in boards]
        return [LeaderboardStanding(rank=found[b.id].rank, score=found[b.id].score)
                if b.id in found else LeaderboardStanding(rank=None, score=0) for b in boards]


async def _current(info: Info[Context, None], board: Board) -> leaderboards.Period:
    programme = await cached_programme(info.context.store)
    return period_of(board.period, info.context.services.clock(), programme.timezone)


def _member_id(info: Info[Context, None]) -> str | None:
    principal = info.context.principal
    if principal is None or principal.role is not Role.MEMBER:
        return None
    return principal.subject_id


@strawberry.type(description="Your leaderboard name.")
class LeaderboardPlayer:
    display_name: str = strawberry.field(description="The name others see on the boards.")
    joined_at: datetime = strawberry.field(description="When you joined.")


@strawberry.input(description="A prize for a range of places.")
class LeaderboardPrizeInput:
    from_rank: int = strawberry.field(description="The first place (1 or more).")
    to_rank: int = strawberry.field(description="The last place (inclusive, ≤ places).")
    gift: GiftInput = strawberry.field(description="Points or a voucher, for each place.")


@strawberry.input(description="A new leaderboard.")
class LeaderboardCreateInput:
    name: str = strawberry.field(description="1–80 characters.")
    description: str = strawberry.field(default="", description="At most 500 characters.")
    metric: MetricType = strawberry.field(description="What it ranks by.")
    challenge: relay.GlobalID | None = strawberry.field(
        default=None, description="CHALLENGE_PROGRESS: the challenge ranked by.")
    period_kind: PeriodKindType = strawberry.field(description="Weekly or monthly.")
    places: int = strawberry.field(default=10, description="Places shown (1–100).")
    prizes: list[LeaderboardPrizeInput] = strawberry.field(
        default_factory=list, description="Prizes by rank range (no overlaps; at most 20).")
    active: bool = strawberry.field(default=True, description="Whether members see it.")


@strawberry.input(description="Changes to a leaderboard; omitted fields stay (the metric and "
                  "period cannot change).")
class LeaderboardUpdateInput:
    leaderboard: relay.GlobalID = strawberry.field(description="The board to change.")
    name: str | None = strawberry.field(default=None, description="A new name.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    places: int | None = strawberry.field(default=None, description="Places shown (1–100).")
    prizes: list[LeaderboardPrizeInput] | None = strawberry.field(
        default=None, description="New prizes (replace all; periods not closed yet use them).")
    active: bool | None = strawberry.field(
        default=None, description="false archives it: members stop seeing it, no prizes.")


@strawberry.input(description="Join the leaderboards, or change your name there.")
class LeaderboardJoinInput:
    display_name: str = strawberry.field(description="3–20 letters, digits, spaces, '_', '-' "
                                         "or '.'; unique; not an e-mail, your name or a "
                                         "staff-like word.")


@strawberry.type(description="Result of leaderboardCreate.")
class LeaderboardCreatePayload:
    leaderboard: LeaderboardNode | None = strawberry.field(default=None,
                                                           description="The new board.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of leaderboardUpdate.")
class LeaderboardUpdatePayload:
    leaderboard: LeaderboardNode | None = strawberry.field(default=None,
                                                           description="The board now.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of leaderboardJoin.")
class LeaderboardJoinPayload:
    player: LeaderboardPlayer | None = strawberry.field(default=None,
                                                        description="Your name now.")
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Problems (DISPLAY_NAME_NOT_ALLOWED, DISPLAY_NAME_TAKEN).")


@strawberry.type(description="Result of leaderboardLeave.")
class LeaderboardLeavePayload:
    left: bool = strawberry.field(default=False, description="You are off every board.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


def _prizes(given: Sequence[LeaderboardPrizeInput]) -> list[Prize]:
    prizes = []
    for index, prize in enumerate(given):
        gift = check_gift(gift_of_input(prize.gift),
                          field=("input", "prizes", str(index), "gift"))
        prizes.append(Prize(prize.from_rank, prize.to_rank, gift))
    return prizes


def _board_id(global_id: relay.GlobalID) -> str:
    if global_id.type_name != "Leaderboard":
        raise UnknownLeaderboard("This is not the id of a leaderboard.",
                                 field=("input", "leaderboard"))
    return global_id.node_id


@strawberry.type
class LeaderboardQueries:
    @strawberry.field(description="The active leaderboards (administrators: with "
                      "`archived`, the archived ones too).", permission_classes=[IsSignedIn])
    async def leaderboards(
        self, info: Info[Context, None],
        archived: Annotated[bool, strawberry.argument(
            description="Administrators: include archived boards.")] = False,
    ) -> list[LeaderboardNode]:
        store = info.context.store
        if archived and is_admin(info.context.principal):
            return [LeaderboardNode.of(b) for b in await leaderboards.all_boards(store)]
        member_id = _member_id(info)
        standings = None if member_id is None else _Standings(info, member_id)
        return [LeaderboardNode.of(b, standings)
                for b in await leaderboards.active_boards(store)]

    @strawberry.field(description="One leaderboard; null if it is not there (or archived, "
                      "for members).", permission_classes=[IsSignedIn])
    async def leaderboard(
        self, info: Info[Context, None],
        id: Annotated[relay.GlobalID, strawberry.argument(description="Its id.")],
    ) -> LeaderboardNode | None:
        if id.type_name != "Leaderboard":
            return None
        for board in await leaderboards.active_boards(info.context.store):
            if board.id == id.node_id:
                return LeaderboardNode.of(board)
        if not is_admin(info.context.principal):
            return None
        found = await leaderboards.get_board(info.context.store, id.node_id)
        return None if found is None else LeaderboardNode.of(found)

    @strawberry.field(description="Your leaderboard name; null unless you joined.",
                      permission_classes=[IsMember])
    async def leaderboard_player(self, info: Info[Context, None]) -> LeaderboardPlayer | None:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - the permission guarantees it
        found = await leaderboard_players.player(info.context.store, principal.subject_id)
        return None if found is None else LeaderboardPlayer(display_name=found.display_name,
                                                            joined_at=found.joined_at)


@strawberry.type
class LeaderboardMutations:
    @strawberry.mutation(description="Create a leaderboard.", permission_classes=[IsAdmin])
    @returns_errors_in(LeaderboardCreatePayload)
    async def leaderboard_create(
        self, info: Info[Context, None], input: Annotated[LeaderboardCreateInput, INPUT]
    ) -> LeaderboardCreatePayload:
        challenge = None if input.challenge is None else node_id(
            input.challenge, "Challenge", ("input", "challenge"))
        draft = BoardDraft(
            name=input.name, description=input.description, metric=Metric[input.metric.name],
            period=PeriodKind[input.period_kind.name], places=input.places,
            prizes=_prizes(input.prizes), challenge_id=challenge, active=input.active)
        board = await leaderboards.create_board(
            info.context.store, draft=draft, clock=info.context.services.clock,
            audit=info.context.audit)
        return LeaderboardCreatePayload(leaderboard=LeaderboardNode.of(board))

    @strawberry.mutation(description="Change or archive a leaderboard.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(LeaderboardUpdatePayload)
    async def leaderboard_update(
        self, info: Info[Context, None], input: Annotated[LeaderboardUpdateInput, INPUT]
    ) -> LeaderboardUpdatePayload:
        changes: dict[str, Any] = {
            key: value for key, value in (
                ("name", input.name), ("description", input.description),
                ("places", input.places), ("active", input.active)) if value is not None}
        if input.prizes is not None:
            changes["prizes"] = _prizes(input.prizes)
        board = await leaderboards.update_board(
            info.context.store, board_id=_board_id(input.leaderboard), changes=changes,
            clock=info.context.services.clock, audit=info.context.audit)
        return LeaderboardUpdatePayload(leaderboard=LeaderboardNode.of(board))

    @strawberry.mutation(description="Join the leaderboards with a display name, or change "
                         "it. Only the display name is ever shown.",
                         permission_classes=[IsMember])
    @returns_errors_in(LeaderboardJoinPayload)
    async def leaderboard_join(
        self, info: Info[Context, None], input: Annotated[LeaderboardJoinInput, INPUT]
    ) -> LeaderboardJoinPayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - the permission guarantees it
        account = await info.context.loaders.accounts.load(principal.subject_id)
        blocklist = info.context.services.leaderboard_name_blocklist or parse_blocklist(None)
        joined = await leaderboard_players.join(
            info.context.store, member_id=principal.subject_id,
            display_name=input.display_name, blocklist=blocklist,
            own=(account.name, account.email) if account else (),
            clock=info.context.services.clock)
        return LeaderboardJoinPayload(player=LeaderboardPlayer(
            display_name=joined.display_name, joined_at=joined.joined_at))

    @strawberry.mutation(description="Leave every leaderboard: your name and scores go.",
                         permission_classes=[IsMember])
    @returns_errors_in(LeaderboardLeavePayload)
    async def leaderboard_leave(self, info: Info[Context, None]) -> LeaderboardLeavePayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - the permission guarantees it
        await leaderboard_players.leave(info.context.store, member_id=principal.subject_id)
        return LeaderboardLeavePayload(left=True)
