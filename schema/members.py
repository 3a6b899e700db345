"""The administrators' member list: `members(query, tier, segment, joinedFrom, joinedTo,
sort, first, after)`, for admins and shop systems with MEMBERS_READ.

The resolver composes the lookups of each package — emails and name words (auth), ids and
referral codes (loyalty), member cards (scanner) — and loyalty's directory, which filters,
sorts and pages (loyalty/members/directory.py). A page costs the same round trips whatever
its size: the search lookups (concurrently), one or two directory queries, one read of the
page's accounts.
"""

import asyncio
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry import Info, relay
from strawberry.exceptions import StrawberryGraphQLError

from auth.member_search import by_email_prefix, by_name_words
from loyalty.members import reference
from loyalty.members.directory import (
    ALWAYS_SET,
    DirectoryPage,
    MemberFilter,
    MemberOrder,
    Position,
    list_members,
    members_by_reference,
)
from loyalty.programme.ladder import UnknownTier
from loyalty.segments.policy import Segment, UnknownSegment
from scanner.cards import card_member
from schema.context import Context
from schema.nodes import Member
from schema.pagination import After, decode_key_cursor, encode_key_cursor
from schema.permissions import CanReadMembers, is_admin
from schema.shared import tier_id
from store import InvalidInput, KizunaError
from store.pagination import MAX_PAGE_SIZE

SEARCH_LIMIT = 200
"""Members a search considers at most (they are then filtered, sorted and paged)."""
MAX_QUERY_LENGTH = 200


@strawberry.enum(description="What the member list is sorted by (then by id).")
class MemberSortField(Enum):
    JOINED = strawberry.enum_value(MemberOrder.JOINED.value, description="Join date.")
    BALANCE = strawberry.enum_value(MemberOrder.BALANCE.value, description="Points balance.")
    LAST_ACTIVITY = strawberry.enum_value(
        MemberOrder.LAST_ACTIVITY.value,
        description="The last earn or redemption; members with none come last when "
        "descending, first when ascending.",
    )


@strawberry.enum(description="Sort direction.")
class SortDirection(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest or oldest first.")
    DESC = strawberry.enum_value("DESC", description="Largest or newest first.")


@strawberry.input(description="How the member list is sorted.")
class MemberSort:
    field: MemberSortField = strawberry.field(
        default=MemberSortField.JOINED, description="The key (ties go by member id)."
    )
    direction: SortDirection = strawberry.field(
        default=SortDirection.DESC, description="The direction, of the key and the id."
    )


@strawberry.type(description="A page of the member list.")
class MemberListConnection(relay.Connection[Member]):
    search_truncated: bool = strawberry.field(
        default=False, description=f"True when more than {SEARCH_LIMIT} members match "
        "`query`: only the first of them (exact matches, then by email, then by name) are "
        "listed; type more of it."
    )


def _query_error(error: KizunaError) -> StrawberryGraphQLError:
    # Queries have no payload to carry errors: a bad argument is a top-level error with a code.
    return StrawberryGraphQLError(error.message, extensions={
        "code": error.code, "field": list(error.field) if error.field else []})


def _order_name(order: MemberOrder, descending: bool) -> str:
    return f"members:{order.value}:{'desc' if descending else 'asc'}"


def encode_position(order: MemberOrder, descending: bool, position: Position) -> str:
    return encode_key_cursor(_order_name(order, descending), position.value,
                             position.member_id)


def decode_position(cursor: str | None, order: MemberOrder, descending: bool) -> (
    Position | None
):
    """The position in a cursor of this order; a top-level INVALID_INPUT for other text."""
    found = decode_key_cursor(cursor, _order_name(order, descending))
    if found is None:
        return None
    if found[0] is None and order in ALWAYS_SET:  # every member has a join date and points
        raise InvalidInput("This cursor is not valid for this list and order.",
                           field=("after",))
    return Position(found[0], found[1])


async def _search(info: Info[Context, None], typed: str) -> tuple[list[str], bool]:
    """The members `typed` finds (exact id, referral code or card first, then by email,
    then by name), at most SEARCH_LIMIT, and whether more match."""
    store = info.context.store
    exact_id = typed
    try:
        global_id = relay.GlobalID.from_id(typed)
        exact_id = global_id.node_id if global_id.type_name == "Member" else typed
    except (ValueError, TypeError, UnicodeDecodeError):  # not a global id: the id itself
        pass
    # A referral code and a member card are the member's own (the fields are theirs and
    # administrators'); a shop system looks members up by id, email or name only.
    admin = is_admin(info.context.principal)
    by_reference, by_card, emails, names = await asyncio.gather(
        members_by_reference(store, exact_id, codes=admin),
        card_member(store, typed) if admin else _nobody(),
        by_email_prefix(store, typed, limit=SEARCH_LIMIT),
        by_name_words(store, typed, limit=SEARCH_LIMIT),
    )
    found = list(dict.fromkeys(
        [*by_reference, *([by_card] if by_card else []), *emails.member_ids, *names.member_ids]
    ))
    return found[:SEARCH_LIMIT], emails.more or names.more or len(found) > SEARCH_LIMIT


async def _nobody() -> None:
    return None


def _segment(segments: tuple[Segment, ...], global_id: relay.GlobalID) -> Segment:
    found = next((s for s in segments if s.id == global_id.node_id), None)
    if global_id.type_name != "Segment" or found is None:
        raise UnknownSegment("No segment has this id.", field=("segment",))
    return found


@strawberry.type
class MemberQueries:
    @strawberry.field(
        description="Find members: search, filter, sort, page. Administrators and shop "
        "systems whose API key has MEMBERS_READ. Bad arguments are top-level errors with "
        "`extensions.code` (INVALID_INPUT, UNKNOWN_TIER, UNKNOWN_SEGMENT).",
        permission_classes=[CanReadMembers],
    )
    async def members(
        self, info: Info[Context, None],
        query: Annotated[str | None, strawberry.argument(
            description="An email's beginning (any case), words of the name (each the "
            "beginning of a word) or a member id; for administrators also a referral code, "
            "a member card id or a scanned card token. Taken literally.")] = None,
        tier: Annotated[relay.GlobalID | None, strawberry.argument(
            description="Only members holding this tier.")] = None,
        segment: Annotated[relay.GlobalID | None, strawberry.argument(
            description="Only members of this segment now.")] = None,
        joined_from: Annotated[datetime | None, strawberry.argument(
            description="Only members who joined at or after this moment.")] = None,
        joined_to: Annotated[datetime | None, strawberry.argument(
            description="Only members who joined before this moment.")] = None,
        sort: Annotated[MemberSort | None, strawberry.argument(
            description="The order; newest members first by default.")] = None,
        first: Annotated[int, strawberry.argument(
            description=f"How many members (at most {MAX_PAGE_SIZE}; more is capped).")] = 20,
        after: After = None,
    ) -> MemberListConnection:
        try:
            return await _members(info, query=query, tier=tier, segment=segment,
                                  joined=(joined_from, joined_to), sort=sort or MemberSort(),
                                  first=first, after=after)
        except KizunaError as error:
            raise _query_error(error) from error


async def _members(
    info: Info[Context, None], *, query: str | None, tier: relay.GlobalID | None,
    segment: relay.GlobalID | None, joined: tuple[datetime | None, datetime | None],
    sort: MemberSort, first: int, after: str | None,
) -> MemberListConnection:
    store, now = info.context.store, info.context.services.clock()
    order, descending = MemberOrder[sort.field.name], sort.direction is SortDirection.DESC
    if first < 0:
        raise InvalidInput("`first` must not be negative.", field=("first",))
    position = decode_position(after, order, descending)
    where = await _filter(info, query=query, tier=tier, segment=segment, joined=joined)
    programme = await reference.programme(store)
    page = await list_members(
        store, where=where[0], order=order, descending=descending,
        first=min(first, MAX_PAGE_SIZE), after=position, now=now, timezone=programme.timezone,
    )
    return await _connection(info, page, order, descending, truncated=where[1])


async def _filter(
    info: Info[Context, None], *, query: str | None, tier: relay.GlobalID | None,
    segment: relay.GlobalID | None, joined: tuple[datetime | None, datetime | None],
) -> tuple[MemberFilter, bool]:
    store = info.context.store
    joined_from, joined_to = joined
    for name, value in (("joinedFrom", joined_from), ("joinedTo", joined_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("Give a time with its offset, e.g. 2026-12-05T09:30:00Z.",
                               field=(name,))
    if joined_from is not None and joined_to is not None and joined_from > joined_to:
        raise InvalidInput("`joinedFrom` must not be after `joinedTo`.", field=("joinedFrom",))
    tier_wanted = tier_id(tier, ("tier",)) if tier is not None else None
    if tier_wanted is not None and (await reference.programme(store)).tier(tier_wanted) is None:
        raise UnknownTier("No tier has this id.", field=("tier",))
    chosen = _segment(await reference.segments(store), segment) if segment else None
    typed = (query or "").strip()
    if len(typed) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"A search has at most {MAX_QUERY_LENGTH} characters.",
                           field=("query",))
    ids, truncated = await _search(info, typed) if typed else (None, False)
    return MemberFilter(member_ids=ids, tier_id=tier_wanted, joined_from=joined_from,
                        joined_to=joined_to, segment=chosen), truncated


async def _connection(
    info: Info[Context, None], page: DirectoryPage, order: MemberOrder, descending: bool, *,
    truncated: bool,
) -> MemberListConnection:
    accounts = await info.context.loaders.accounts.load_many(
        [p.member_id for p in page.positions])
    edges = [
        relay.Edge(cursor=encode_position(order, descending, p), node=Member.from_account(a))
        for p, a in zip(page.positions, accounts, strict=True) if a is not None
    ]
    return MemberListConnection(
        edges=edges, search_truncated=truncated,
        page_info=relay.PageInfo(
            has_next_page=page.has_next, has_previous_page=False,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=encode_position(order, descending, page.end) if page.end else None,
        ),
    )
