"""A member as an administrator sees them (`Member.admin`, administrators only): consent,
points, tier and its history, the whole ledger with who made each entry, vouchers with who
redeemed them, orders with their refunds, referrals, survey answers, last activity and card.

Each list is a connection of one page query; what the items point at (accounts, API keys,
stores) goes through the request's DataLoaders, so a screen costs the same round trips
whatever its lists hold.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Self

import strawberry
from strawberry import Info, relay

from auth.roles import Role
from loyalty.engagement import surveys
from loyalty.ledger.entries import Entry, EntryKind, entries_by_ids
from loyalty.members import admin_view
from scanner.vouchers import member_vouchers
from schema.badge_types import MemberBadgeType, badges_of
from schema.context import Context
from schema.nodes import ApiKey, Member, Staff
from schema.pagination import (
    After,
    First,
    check_first,
    connection,
    decode_cursor,
    decode_key_cursor,
    encode_cursor,
    encode_key_cursor,
)
from schema.permissions import admin_nodes
from schema.points import LedgerEntry, MemberPoints
from schema.shared import ChannelType, StoreNode
from schema.surveys import SurveyResponseNode, _Batch
from schema.tier_types import MemberTier
from schema.voucher_types import VoucherNode
from store.pagination import Page


@strawberry.enum(description="Who made a ledger entry.")
class ActorKind(Enum):
    MEMBER = strawberry.enum_value("MEMBER", description="The member, in the app.")
    STAFF = strawberry.enum_value("STAFF", description="Store staff, at a till.")
    ADMIN = strawberry.enum_value("ADMIN", description="An administrator.")
    API_KEY = strawberry.enum_value("API_KEY", description="A shop system, by its API key.")
    SYSTEM = strawberry.enum_value("SYSTEM", description="Kizuna itself (expiry, reviews).")


@strawberry.type(description="An administrator, as named on what they did.")
class Administrator:
    name: str = strawberry.field(description="Their name.")
    email: str = strawberry.field(description="Their sign-in email.")


@strawberry.type(description="Who made a ledger entry, resolved to the account or key when "
                 "it still exists.")
class EntryActor:
    kind: ActorKind = strawberry.field(description="What kind of actor.")
    id: strawberry.ID = strawberry.field(description="The actor's own id (account, API key "
                                         "or `kizuna`).")
    actor_id: strawberry.Private[str]

    @strawberry.field(description="The staff member, for STAFF.")
    async def staff(self, info: Info[Context, None]) -> Staff | None:
        account = await info.context.loaders.accounts.load(self.actor_id)
        return Staff.from_account(account) if account and account.role is Role.STAFF else None

    @strawberry.field(description="The administrator, for ADMIN.")
    async def administrator(self, info: Info[Context, None]) -> Administrator | None:
        account = await info.context.loaders.accounts.load(self.actor_id)
        if account is None or account.role is not Role.ADMIN:
            return None
        return Administrator(name=account.name, email=account.email)

    @strawberry.field(description="The shop system's API key, for API_KEY.")
    async def api_key(self, info: Info[Context, None]) -> ApiKey | None:
        if self.kind is not ActorKind.API_KEY:
            return None
        record = await info.context.loaders.api_keys.load(self.actor_id)
        return ApiKey.from_record(record) if record else None


@strawberry.type(description="A ledger entry as administrators see it: with what caused it "
                 "and who made it.")
class AdminLedgerEntry(LedgerEntry):
    source_type: str = strawberry.field(
        description="What caused it: ORDER, REFUND, ACTION, REWARD, ADJUSTMENT, LOT, TIER …")
    source_id: str = strawberry.field(description="That cause's id (an order id, …).")
    actor_kind: strawberry.Private[str]
    actor_id: strawberry.Private[str]

    @strawberry.field(description="Who made it.")
    def actor(self) -> EntryActor:
        kind = ActorKind[self.actor_kind] if self.actor_kind in ActorKind.__members__ else (
            ActorKind.SYSTEM)
        return EntryActor(kind=kind, id=strawberry.ID(self.actor_id), actor_id=self.actor_id)

    @strawberry.field(description="For a gift between members: the other member (null "
                      "once erased).")
    async def gift_member(self, info: Info[Context, None]) -> Member | None:
        if self.gift is None:
            return None
        account = await info.context.loaders.accounts.load(self.gift.other_member_id)
        return Member.from_account(account) if account and account.role is Role.MEMBER else None

    @classmethod
    def from_admin_entry(cls, entry: Entry) -> Self:
        base = LedgerEntry.from_entry(entry)
        return cls(id=base.id, kind=base.kind, points=base.points,
                   stored_reason=base.stored_reason, gift=base.gift,
                   occurred_at=base.occurred_at, breakdown=base.breakdown,
                   member_id=base.member_id, source_type=entry.source.type,
                   source_id=entry.source.id, actor_kind=entry.actor.type,
                   actor_id=entry.actor.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await admin_nodes(info, node_ids, entries_by_ids, cls.from_admin_entry)


@strawberry.type(description="A voucher in a member's admin view, with who redeemed it.")
class AdminVoucherEdge(relay.Edge[VoucherNode]):
    redeemed_by_id: strawberry.Private[str | None]

    @strawberry.field(description="The staff member who redeemed it at a till (null when "
                      "unredeemed, or redeemed online by a shop system).")
    async def redeemed_by(self, info: Info[Context, None]) -> Staff | None:
        if self.redeemed_by_id is None:
            return None
        account = await info.context.loaders.accounts.load(self.redeemed_by_id)
        return Staff.from_account(account) if account and account.role is Role.STAFF else None


@strawberry.type(description="A page of a member's vouchers, newest first.")
class AdminVoucherConnection(relay.Connection[VoucherNode]):
    edges: list[AdminVoucherEdge] = strawberry.field(  # type: ignore[assignment]
        description="The vouchers, each with who redeemed it.")


@strawberry.type(description="A refund of (part of) an order.")
class OrderRefund:
    id: str = strawberry.field(description="The shop's refund id.")
    amount: int = strawberry.field(description="Money refunded, in minor units.")
    points: int = strawberry.field(description="Points taken back (zero or negative).")
    refunded_at: datetime = strawberry.field(description="When it was recorded.")


@strawberry.type(description="An order of the member, with what it earned and its refunds.")
class MemberOrder(relay.Node):
    id: relay.NodeID[str]
    channel: ChannelType | None = strawberry.field(description="Online or in a store.")
    total: int = strawberry.field(description="The order's total, in minor units.")
    currency: str = strawberry.field(description="ISO 4217 code.")
    occurred_at: datetime = strawberry.field(description="When it was placed.")
    earned_points: int = strawberry.field(description="Points it earned.")
    refunded_amount: int = strawberry.field(description="Money refunded so far, minor units.")
    refunds: list[OrderRefund] = strawberry.field(description="Its refunds, oldest first.")
    store_id: strawberry.Private[str | None]

    @strawberry.field(description="The store, for an order placed in one.")
    async def store(self, info: Info[Context, None]) -> StoreNode | None:
        return await StoreNode.load(info, self.store_id)

    @classmethod
    def of(cls, order: admin_view.OrderView) -> Self:
        return cls(
            id=order.id, channel=ChannelType[order.channel] if order.channel in
            ChannelType.__members__ else None, total=order.total, currency=order.currency,
            occurred_at=order.occurred_at, earned_points=order.earned_points,
            refunded_amount=order.refunded_amount, store_id=order.store_id,
            refunds=[OrderRefund(id=r.id, amount=r.amount, points=r.points, refunded_at=r.at)
                     for r in order.refunds],
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await admin_nodes(info, node_ids, admin_view.orders_by_ids, cls.of)


@strawberry.type(description="Marketing consent and when it was given.")
class MarketingConsent:
    given: bool = strawberry.field(description="Whether the member agreed.")
    given_at: datetime | None = strawberry.field(description="When (null without consent).")


_ORDERS = "member-orders"


@strawberry.type(description="What administrators see of a member beyond the profile.")
class MemberAdminView:
    # Resolved from schema.nodes' AdminSubject: resolvers here read only `member_id`.
    member_id: strawberry.Private[str]

    @strawberry.field(description="Marketing consent, with when it was given.",
                      deprecation_reason="Use `Member.consents` and `Member.consentHistory`: "
                      "every purpose, with its channel and history.")
    async def consent(self, info: Info[Context, None]) -> MarketingConsent:
        account = await info.context.loaders.accounts.load(self.member_id)
        return MarketingConsent(
            given=bool(account and account.marketing_consent),
            given_at=account.marketing_consent_at if account else None)

    @strawberry.field(description="Balance, pending points, debt, lifetime earned, expiring.")
    async def points(self, info: Info[Context, None]) -> MemberPoints:
        return await Member.points_of(info, self.member_id)

    @strawberry.field(description="The tier now, the next one and what it takes.")
    async def tier(self, info: Info[Context, None]) -> MemberTier:
        return await Member.tier_of(info, self.member_id)

    @strawberry.field(description="The member's badges: earned ones (when, by what, why) "
                      "first, then the locked ones.")
    async def badges(self, info: Info[Context, None]) -> list[MemberBadgeType]:
        return await badges_of(info, self.member_id)

    @strawberry.field(description="Tier changes, newest first, each with its reason.")
    async def tier_history(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[AdminLedgerEntry]:
        return await _ledger(info, self.member_id, EntryKind.TIER, first, after)

    @strawberry.field(description="Every ledger entry, newest first (those that moved no "
                      "points included), with its cause and who made it.")
    async def ledger(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[AdminLedgerEntry]:
        return await _ledger(info, self.member_id, None, first, after)

    @strawberry.field(description="The member's vouchers, newest first, with who redeemed "
                      "each and where.")
    async def vouchers(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> AdminVoucherConnection:
        found, page = await member_vouchers(
            info.context.store, member_id=self.member_id, status=None,
            now=info.context.services.clock(), first=check_first(first),
            after_id=decode_cursor(after))
        edges = [AdminVoucherEdge(
            cursor=encode_cursor(v.id), node=VoucherNode.from_record(v),
            redeemed_by_id=v.redemption.redeemed_by if v.redemption else None) for v in found]
        return AdminVoucherConnection(edges=edges, page_info=_page_info(edges, page))

    @strawberry.field(description="The member's orders, newest first, with their refunds.")
    async def orders(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[MemberOrder]:
        position = decode_key_cursor(after, _ORDERS)
        found, page = await admin_view.orders(
            info.context.store, member_id=self.member_id, first=check_first(first),
            after=position)
        edges = [relay.Edge(cursor=encode_key_cursor(_ORDERS, o.occurred_at, o.id),
                            node=MemberOrder.of(o)) for o in found]
        return relay.Connection(edges=edges, page_info=_page_info(edges, page))

    @strawberry.field(description="The member who referred them, if any.")
    async def referred_by(self, info: Info[Context, None]) -> Member | None:
        facts = await info.context.loaders.member_facts.load(self.member_id)
        if facts is None or facts.referred_by is None:
            return None
        account = await info.context.loaders.accounts.load(facts.referred_by)
        return Member.from_account(account) if account else None

    @strawberry.field(description="The members they referred, in id order.")
    async def referrals(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[Member]:
        ids, page = await admin_view.referred(
            info.context.store, member_id=self.member_id, first=check_first(first),
            after_id=decode_cursor(after))
        accounts = await info.context.loaders.accounts.load_many(ids)
        found = [a for a in accounts if a is not None]
        return connection(found, page, node=Member.from_account, item_id=lambda a: a.id)

    @strawberry.field(description="Their survey answers, newest first.")
    async def survey_responses(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[SurveyResponseNode]:
        found, page = await surveys.member_responses(
            info.context.store, member_id=self.member_id, first=check_first(first),
            after_id=decode_cursor(after))
        batch = _Batch(info.context.store)
        return connection(found, page, node=lambda r: SurveyResponseNode.of(r, batch),
                          item_id=lambda r: r.id)

    @strawberry.field(description="When they last earned or redeemed points (null: never).")
    async def last_activity_at(self, info: Info[Context, None]) -> datetime | None:
        facts = await info.context.loaders.member_facts.load(self.member_id)
        return facts.last_activity_at if facts else None

    @strawberry.field(description="The id of their member card (null until they first "
                      "showed it).")
    async def card_id(self, info: Info[Context, None]) -> str | None:
        card: str | None = await info.context.loaders.card_ids.load(self.member_id)
        return card


async def _ledger(
    info: Info[Context, None], member_id: str, kind: EntryKind | None, first: int,
    after: str | None,
) -> relay.Connection[AdminLedgerEntry]:
    found, page = await admin_view.ledger(
        info.context.store, member_id=member_id, kind=kind, first=check_first(first),
        after_id=decode_cursor(after))
    return connection(found, page, node=AdminLedgerEntry.from_admin_entry,
                      item_id=lambda e: e.id)


def _page_info(edges: Sequence[relay.Edge[Any]], page: Page) -> relay.PageInfo:
    return relay.PageInfo(
        has_next_page=page.has_next, has_previous_page=False,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None)
