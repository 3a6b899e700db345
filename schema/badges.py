"""The badge catalogue (administrators manage it at run time) and granting badges by hand,
with a reason. Members read their badges as `me { badges }` (schema/nodes.py)."""

from typing import Annotated, Any

import strawberry
from strawberry import Info, relay

from loyalty.badges import catalogue, grants
from loyalty.badges.policy import BadgeDraft, MemberBadge, held_from_document
from schema.badge_types import BadgeNode, MemberBadgeType, badge_id
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin
from schema.shared import INPUT, MemberReference, resolve_member

UNSET: Any = strawberry.UNSET


@strawberry.input(description="A new badge.")
class BadgeCreateInput:
    name: str = strawberry.field(description="1–60 characters, as members see it.")
    description: str = strawberry.field(default="", description="At most 500 characters.")
    hint: str = strawberry.field(
        default="", description="How to earn it, shown while locked (at most 200 characters).")
    image_url: str | None = strawberry.field(default=None, description="An https:// image URL.")


@strawberry.input(description="Changes to a badge; omitted fields stay, null clears the image.")
class BadgeUpdateInput:
    badge_id: relay.GlobalID = strawberry.field(description="The badge to change.")
    name: str | None = strawberry.field(default=UNSET, description="1–60 characters.")
    description: str | None = strawberry.field(default=UNSET, description="The text.")
    hint: str | None = strawberry.field(default=UNSET, description="How to earn it.")
    image_url: str | None = strawberry.field(default=UNSET, description="https:// URL.")


@strawberry.input(description="A badge to archive: no longer granted or shown locked; "
                  "members who earned it keep it.")
class BadgeArchiveInput:
    badge_id: relay.GlobalID = strawberry.field(description="The badge.")


@strawberry.input(description="Give a member a badge, or take it back, with a reason.")
class BadgeGrantInput:
    member: MemberReference = strawberry.field(description="Whose badge.")
    badge_id: relay.GlobalID = strawberry.field(description="The badge.")
    reason: str = strawberry.field(description="Why (3–500 characters; the member sees it).")


@strawberry.type(description="Result of badgeCreate / badgeUpdate / badgeArchive.")
class BadgePayload:
    badge: BadgeNode | None = strawberry.field(default=None, description="The badge.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of badgeGrant / badgeRevoke.")
class BadgeGrantPayload:
    member_badge: MemberBadgeType | None = strawberry.field(
        default=None, description="The badge as the member has it now.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Problems (UNKNOWN_BADGE, UNKNOWN_MEMBER, "
        "BADGE_ALREADY_HELD, BADGE_NOT_HELD, INVALID_INPUT).")


def _changes(given: BadgeCreateInput | BadgeUpdateInput) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("name", "description", "hint", "image_url"):
        value = getattr(given, name)
        if value is UNSET or (value is None and name != "image_url"):
            continue
        changes[name] = value
    return changes


async def _member_badge(info: Info[Context, None], member_id: str, badge: str) -> (
    MemberBadgeType
):
    """The badge as the member has it after the change (read after the write commits)."""
    snapshot = await info.context.loaders.members.load(member_id)
    record = (snapshot.state.badges or {}).get(badge)
    found = await catalogue.get_badge(info.context.store, badge)
    return MemberBadgeType(view=MemberBadge(
        found, held_from_document(record) if record is not None else None))


@strawberry.type
class BadgeQueries:
    @strawberry.field(description="The badge catalogue, newest first (administrators). "
                      "Members see theirs, earned and locked, in `me { badges }`.",
                      permission_classes=[IsAdmin])
    async def badges(
        self, info: Info[Context, None], first: First = 20, after: After = None,
        include_archived: Annotated[bool, strawberry.argument(
            description="List archived badges too.")] = False,
    ) -> relay.Connection[BadgeNode]:
        found, page = await catalogue.list_badges(
            info.context.store, first=check_first(first), after_id=decode_cursor(after),
            include_archived=include_archived)
        return connection(found, page, node=BadgeNode.of, item_id=lambda b: b.id)


@strawberry.type
class BadgeMutations:
    @strawberry.mutation(description="Add a badge to the catalogue.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(BadgePayload)
    async def badge_create(
        self, info: Info[Context, None], input: Annotated[BadgeCreateInput, INPUT]
    ) -> BadgePayload:
        draft = BadgeDraft(**_changes(input))
        badge = await catalogue.create_badge(info.context.store, draft=draft,
                                             clock=info.context.services.clock,
                                             audit=info.context.audit)
        return BadgePayload(badge=BadgeNode.of(badge))

    @strawberry.mutation(description="Change a badge's name, description, hint or image. "
                         "Members who hold it see the new texts.", permission_classes=[IsAdmin])
    @returns_errors_in(BadgePayload)
    async def badge_update(
        self, info: Info[Context, None], input: Annotated[BadgeUpdateInput, INPUT]
    ) -> BadgePayload:
        badge = await catalogue.update_badge(
            info.context.store, badge_id=badge_id(input.badge_id), changes=_changes(input),
            clock=info.context.services.clock, audit=info.context.audit)
        return BadgePayload(badge=BadgeNode.of(badge))

    @strawberry.mutation(description="Archive a badge: it is no longer granted, named by new "
                         "conditions or shown locked; members who earned it keep it.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(BadgePayload)
    async def badge_archive(
        self, info: Info[Context, None], input: Annotated[BadgeArchiveInput, INPUT]
    ) -> BadgePayload:
        badge = await catalogue.archive_badge(
            info.context.store, badge_id=badge_id(input.badge_id),
            clock=info.context.services.clock, audit=info.context.audit)
        return BadgePayload(badge=BadgeNode.of(badge))

    @strawberry.mutation(description="Give a member a badge, with a reason (audited; records "
                         "`badge.earned`).", permission_classes=[IsAdmin])
    @returns_errors_in(BadgeGrantPayload)
    async def badge_grant(
        self, info: Info[Context, None], input: Annotated[BadgeGrantInput, INPUT]
    ) -> BadgeGrantPayload:
        wanted = badge_id(input.badge_id)
        member_id = await resolve_member(info, input.member)
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsAdmin guarantees it
        await grants.grant_badge(
            info.context.store, member_id=member_id, badge_id=wanted, reason=input.reason,
            actor_id=principal.subject_id, clock=info.context.services.clock,
            audit=info.context.audit)
        return BadgeGrantPayload(member_badge=await _member_badge(info, member_id, wanted))

    @strawberry.mutation(description="Take a badge back from a member, with a reason "
                         "(audited; records `badge.revoked`).", permission_classes=[IsAdmin])
    @returns_errors_in(BadgeGrantPayload)
    async def badge_revoke(
        self, info: Info[Context, None], input: Annotated[BadgeGrantInput, INPUT]
    ) -> BadgeGrantPayload:
        wanted = badge_id(input.badge_id)
        member_id = await resolve_member(info, input.member)
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsAdmin guarantees it
        await grants.revoke_badge(
            info.context.store, member_id=member_id, badge_id=wanted, reason=input.reason,
            actor_id=principal.subject_id, clock=info.context.services.clock,
            audit=info.context.audit)
        return BadgeGrantPayload(member_badge=await _member_badge(info, member_id, wanted))
