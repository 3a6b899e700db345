"""Prize draws: administrators create and close them; members enter, see their tickets, the
commitment while open, and the seed, winning tickets and proof once closed."""

import json
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Annotated, Self

import strawberry
from strawberry import Info, relay
from strawberry.dataloader import DataLoader

from auth.roles import Role
from loyalty.engagement.gifts import Gift, VoucherGift
from loyalty.play import draws as draw_store
from loyalty.play.draw_close import close_draw
from loyalty.play.draw_entries import buy_entries
from loyalty.play.draws import ActionEntries, Draw, DrawDraft, DrawStatus, MyEntries
from scanner.gifts import check_gift, deliver_gifts_now
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.gifts import GiftInput, GiftType, GiftVoucherInput
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin, IsMember, IsSignedIn, is_admin
from schema.points import LedgerEntry
from schema.shared import INPUT, actor_of
from store import InputErrors, KizunaError, Store
from store.errors import NotFound


@strawberry.enum(name="DrawStatus", description="Where a prize draw stands.")
class DrawStatusType(Enum):
    SCHEDULED = strawberry.enum_value(DrawStatus.SCHEDULED.value,
                                      description="Published; entries open at opensAt.")
    OPEN = strawberry.enum_value(DrawStatus.OPEN.value, description="Members can enter.")
    CLOSING = strawberry.enum_value(
        DrawStatus.CLOSING.value,
        description="Its window has ended; the winners are drawn within minutes.")
    CLOSED = strawberry.enum_value(DrawStatus.CLOSED.value,
                                   description="Winners drawn; the seed and proof are public.")


@strawberry.type(description="Entries a member gets for each recorded action of a type.")
class DrawActionEntries:
    action_type: str = strawberry.field(description="The action type (UPPER_SNAKE_CASE).")
    entries: int = strawberry.field(description="Entries per action.")


@strawberry.type(description="A winning ticket, as the proof lists it.")
class DrawWinningTicket:
    prize: int = strawberry.field(description="The prize's index (0 is the first prize).")
    ticket: int = strawberry.field(description="The ticket drawn.")
    entrant: str = strawberry.field(description="The winner's pseudonymous entrant id.")


@strawberry.type(description="Your part in a draw.")
class DrawMyEntries:
    entries: int = strawberry.field(description="Your entries (tickets), earned and bought.")
    bought: int = strawberry.field(description="Entries you bought with points.")
    entrant: str | None = strawberry.field(
        description="Your pseudonymous entrant id in the published entry list.")
    first_ticket: int | None = strawberry.field(
        description="Once closed: the number of your first ticket in the entry list.")
    last_ticket: int | None = strawberry.field(
        description="Once closed: the number of your last ticket (tickets are consecutive).")
    won_prizes: list[int] = strawberry.field(
        description="Once closed: the indexes of the prizes you won (at most one).")


class _Batch:
    def __init__(self, store: Store, member_id: str | None) -> None:
        async def load(ids: list[str]) -> list[MyEntries | None]:
            if member_id is None:
                return [None for _ in ids]
            found = await draw_store.my_entries(store, member_id=member_id, draw_ids=ids)
            return [found.get(i) for i in ids]

        self.member_id = member_id
        self.mine = DataLoader[str, MyEntries | None](load_fn=load)


@strawberry.type(name="Draw", description="A prize draw, provably fair: its seed's SHA-256 "
                 "(commitment) is public from the start, the seed once it closes, and the "
                 "winners follow from both and the entry list (docs/draws.md; `kizuna "
                 "draw-verify` reruns it).")
class DrawNode(relay.Node):
    id: relay.NodeID[str]
    title: str = strawberry.field(description="Its title.")
    description: str = strawberry.field(description="What it is about, for members.")
    opens_at: datetime = strawberry.field(description="Entries count from this moment.")
    closes_at: datetime = strawberry.field(description="Entries count until this moment.")
    prizes: list[GiftType] = strawberry.field(description="The prizes, first prize first.")
    action_entries: list[DrawActionEntries] = strawberry.field(
        description="Entries earned by recorded actions.")
    price_points: int | None = strawberry.field(
        description="Points per bought entry (null: entries are not for sale).")
    max_entries_per_member: int | None = strawberry.field(
        description="How many entries one member may buy (null: no cap).")
    commitment: str = strawberry.field(description="SHA-256 of the secret seed (hex), "
                                       "published when the draw was created.")
    tickets: int = strawberry.field(description="Entries so far, everyone's.")
    entrants: int = strawberry.field(description="Members who entered so far.")
    closed_at: datetime | None = strawberry.field(description="When it was closed.")
    seed: str | None = strawberry.field(description="The seed (hex), revealed once closed.")
    winning_tickets: list[DrawWinningTicket] = strawberry.field(
        description="Once closed: the winning tickets, prize by prize.")
    proof: str | None = strawberry.field(
        description="Once closed: the proof as JSON (draw id, commitment, seed, prize count, "
        "entry list, winners) for `kizuna draw-verify`.")
    record: strawberry.Private[Draw]
    batch: strawberry.Private[_Batch]

    @strawberry.field(description="Where it stands now.")
    def status(self, info: Info[Context, None]) -> DrawStatusType:
        return DrawStatusType(self.record.status(info.context.services.clock()).value)

    @strawberry.field(description="Your entries, tickets and prize (members; null for others "
                      "and when you have not entered).")
    async def my_entries(self) -> DrawMyEntries | None:
        mine = await self.batch.mine.load(self.id)
        if mine is None:
            return None
        tickets = self.record.ticket_range(mine.entrant)
        return DrawMyEntries(
            entries=mine.tickets, bought=mine.bought, entrant=mine.entrant,
            first_ticket=tickets[0] if tickets else None,
            last_ticket=tickets[1] if tickets else None,
            won_prizes=[w.prize for w in self.record.winners
                        if w.member_id == self.batch.member_id])

    @classmethod
    def of(cls, draw: Draw, batch: _Batch) -> Self:
        d = draw.draft
        return cls(
            id=draw.id, title=d.title, description=d.description, opens_at=d.opens_at,
            closes_at=d.closes_at,
            prizes=[g for g in (GiftType.from_gift(p) for p in d.prizes) if g is not None],
            action_entries=[DrawActionEntries(action_type=a.type, entries=a.entries)
                            for a in d.action_entries],
            price_points=d.price, max_entries_per_member=d.max_bought,
            commitment=draw.commitment, tickets=draw.tickets, entrants=draw.entrants,
            closed_at=draw.closed_at, seed=draw.seed,
            winning_tickets=[DrawWinningTicket(prize=w.prize, ticket=w.ticket,
                                               entrant=w.entrant) for w in draw.winners],
            proof=None if draw.proof is None else json.dumps(draw.proof, sort_keys=True),
            record=draw, batch=batch,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        principal = info.context.principal
        if principal is None:
            return [None for _ in ids]
        store, now = info.context.store, info.context.services.clock()
        found = await draw_store.get_draws(store, ids)
        batch = _batch(info)
        admin = is_admin(principal)
        return [cls.of(d, batch) if (d := found.get(i)) is not None and (
            admin or d.draft.opens_at <= now) else None for i in ids]


def _batch(info: Info[Context, None]) -> _Batch:
    principal = info.context.principal
    member = principal.subject_id if principal and principal.role is Role.MEMBER else None
    return _Batch(info.context.store, member)


def _draw_id(global_id: relay.GlobalID) -> str:
    if global_id.type_name != "Draw":
        raise NotFound("This is not the id of a draw.", field=("input", "drawId"))
    return global_id.node_id


@strawberry.input(description="Entries for each recorded action of a type.")
class DrawActionEntriesInput:
    action_type: str = strawberry.field(description="The action type (UPPER_SNAKE_CASE).")
    entries: int = strawberry.field(default=1, description="Entries per action (1–1000).")


@strawberry.input(description="A new prize draw. Give at least one way to enter.")
class DrawCreateInput:
    title: str = strawberry.field(description="1–80 characters.")
    description: str = strawberry.field(default="", description="At most 2000 characters.")
    opens_at: datetime | None = strawberry.field(
        default=None, description="Entries count from this moment (null: now).")
    closes_at: datetime = strawberry.field(
        description="Entries count until this moment; the winners are drawn then.")
    prizes: list[GiftInput] = strawberry.field(
        description="1–100 prizes, first prize first; each points or a voucher. A member "
        "wins at most one.")
    action_entries: list[DrawActionEntriesInput] = strawberry.field(
        default_factory=list, description="Entries earned by recorded actions.")
    price_points: int | None = strawberry.field(
        default=None, description="Points per bought entry (null: not for sale).")
    max_entries_per_member: int | None = strawberry.field(
        default=None, description="How many entries one member may buy (null: no cap).")


@strawberry.input(description="Close a draw now and draw its winners.")
class DrawCloseInput:
    draw_id: relay.GlobalID = strawberry.field(description="The draw.")


@strawberry.input(description="Buy entries in an open draw with points.")
class DrawEnterInput:
    draw_id: relay.GlobalID = strawberry.field(description="The draw.")
    entries: int = strawberry.field(default=1, description="How many entries (1–1000).")
    idempotency_key: str = strawberry.field(
        description="Your key for this purchase: a retry with it buys nothing more.")


@strawberry.type(description="Result of drawCreate.")
class DrawCreatePayload:
    draw: DrawNode | None = strawberry.field(default=None, description="The new draw.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of drawClose.")
class DrawClosePayload:
    draw: DrawNode | None = strawberry.field(default=None, description="The closed draw.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Problems (DRAW_ALREADY_CLOSED, "
        "DRAW_TOO_FEW_ENTRANTS).")


@strawberry.type(description="Result of drawEnter.")
class DrawEnterPayload:
    draw: DrawNode | None = strawberry.field(default=None, description="The draw now.")
    entry: LedgerEntry | None = strawberry.field(default=None,
                                                 description="The ledger debit.")
    replayed: bool = strawberry.field(default=False, description="True when this key had "
                                      "bought already: nothing more was spent.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Problems (INSUFFICIENT_POINTS, DRAW_NOT_OPEN, "
        "DRAW_ENTRY_LIMIT).")


def _prizes(given: list[GiftInput]) -> tuple[Gift, ...]:
    prizes, problems = [], []
    for index, prize in enumerate(given):
        points = prize.points if isinstance(prize.points, int) else None
        voucher = prize.voucher if isinstance(prize.voucher, GiftVoucherInput) else None
        gift = Gift(points=points, voucher=None if voucher is None else VoucherGift(
            kind=voucher.kind.name, title=voucher.title, valid_days=voucher.valid_days,
            amount_off=voucher.amount_off, percent_off=voucher.percent_off,
            currency=voucher.currency, product_sku=voucher.product_sku))
        try:
            prizes.append(check_gift(gift, field=("input", "prizes", str(index))))
        except KizunaError as error:
            problems.append(error)
    if problems:
        raise InputErrors(problems)
    return tuple(prizes)


@strawberry.type
class DrawQueries:
    @strawberry.field(description="Prize draws, newest first: administrators see every one, "
                      "others those open, closing or closed.", permission_classes=[IsSignedIn])
    async def draws(self, info: Info[Context, None], first: First = 20,
                    after: After = None) -> relay.Connection[DrawNode]:
        admin = is_admin(info.context.principal)
        found, page = await draw_store.list_draws(
            info.context.store, first=check_first(first), after_id=decode_cursor(after),
            published_by=None if admin else info.context.services.clock())
        batch = _batch(info)
        return connection(found, page, node=lambda d: DrawNode.of(d, batch),
                          item_id=lambda d: d.id)


@strawberry.type
class DrawMutations:
    @strawberry.mutation(description="Create a prize draw; its commitment is public at once.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(DrawCreatePayload)
    async def draw_create(self, info: Info[Context, None],
                          input: Annotated[DrawCreateInput, INPUT]) -> DrawCreatePayload:
        now = info.context.services.clock()
        draft = DrawDraft(
            title=input.title, description=input.description,
            opens_at=input.opens_at or now, closes_at=input.closes_at,
            prizes=_prizes(input.prizes), price=input.price_points,
            max_bought=input.max_entries_per_member,
            action_entries=tuple(ActionEntries(a.action_type, a.entries)
                                 for a in input.action_entries))
        draw = await draw_store.create_draw(info.context.store, draft=draft,
                                            clock=info.context.services.clock,
                                            audit=info.context.audit)
        return DrawCreatePayload(draw=DrawNode.of(draw, _batch(info)))

    @strawberry.mutation(description="Close a draw whose closesAt has passed, without waiting "
                         "for the job: freeze the entries, draw the winners, reveal the seed and "
                         "give the prizes (refused before closesAt: DRAW_NOT_DUE).",
                         permission_classes=[IsAdmin])
    @returns_errors_in(DrawClosePayload)
    async def draw_close(self, info: Info[Context, None],
                         input: Annotated[DrawCloseInput, INPUT]) -> DrawClosePayload:
        store, clock = info.context.store, info.context.services.clock
        closed = await close_draw(store, draw_id=_draw_id(input.draw_id), clock=clock,
                                  audit=info.context.audit)
        store.reads.forget(draw_store.DRAWS)
        if closed.voucher_gifts:
            await deliver_gifts_now(store, keys=closed.voucher_gifts, clock=clock)
        return DrawClosePayload(draw=DrawNode.of(closed.draw, _batch(info)))

    @strawberry.mutation(description="Buy entries in an open draw with points (once per "
                         "idempotency key).", permission_classes=[IsMember])
    @returns_errors_in(DrawEnterPayload)
    async def draw_enter(self, info: Info[Context, None],
                         input: Annotated[DrawEnterInput, INPUT]) -> DrawEnterPayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        store = info.context.store
        draw_id = _draw_id(input.draw_id)
        bought = await buy_entries(
            store, draw_id=draw_id, member_id=principal.subject_id, entries=input.entries,
            idempotency_key=input.idempotency_key, actor=actor_of(principal),
            clock=info.context.services.clock)
        draw = await draw_store.get_draw(store, draw_id)
        return DrawEnterPayload(draw=DrawNode.of(draw, _batch(info)),
                                entry=LedgerEntry.from_entry(bought.entry),
                                replayed=bought.replayed)
