"""Badges' GraphQL types: a badge of the catalogue, and a badge as one member has it
(earned, with when, or locked, with how to earn it)."""

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Self

import strawberry
from strawberry import Info, relay

from auth.roles import Role
from loyalty.badges import catalogue
from loyalty.badges.policy import Badge, MemberBadge, UnknownBadge, member_badges
from schema.context import Context
from schema.permissions import IsAdmin, is_admin


@strawberry.type(name="Badge", description="A mark of achievement members collect: granted by "
                 "challenges, by administrators or by earning rules, and asked for by rules, "
                 "rewards and segments. Members see the active ones; administrators all.")
class BadgeNode(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[Badge]

    @strawberry.field(description="Its name, as members see it.")
    def name(self) -> str:
        return self.record.draft.name

    @strawberry.field(description="What it stands for.")
    def description(self) -> str:
        return self.record.draft.description

    @strawberry.field(description="How to earn it (shown while it is locked).")
    def hint(self) -> str:
        return self.record.draft.hint

    @strawberry.field(description="An https:// image of it, if it has one.")
    def image_url(self) -> str | None:
        return self.record.draft.image_url

    @strawberry.field(description="False once archived: no longer granted or shown locked; "
                      "members who earned it keep it.")
    def active(self) -> bool:
        return self.record.active

    @strawberry.field(description="When it was archived (administrators).",
                      permission_classes=[IsAdmin])
    def archived_at(self) -> datetime | None:
        return self.record.archived_at

    @strawberry.field(description="When it was created.")
    def created_at(self) -> datetime:
        return self.record.created_at

    @classmethod
    def of(cls, badge: Badge) -> Self:
        return cls(id=badge.id, record=badge)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        # Administrators see every badge; members the active ones; nobody else any.
        ids = list(node_ids)
        principal = info.context.principal
        if principal is None or not (is_admin(principal) or principal.role is Role.MEMBER):
            return [None for _ in ids]
        by_id = {b.id: b for b in await catalogue.catalogue(info.context.store)}
        return [cls.of(by_id[i]) if i in by_id and (by_id[i].active or is_admin(principal))
                else None for i in ids]


@strawberry.enum(name="BadgeSource", description="What granted a member a badge.")
class BadgeSourceType(Enum):
    CHALLENGE = strawberry.enum_value("CHALLENGE", description="Completing a challenge.")
    ADMIN = strawberry.enum_value("ADMIN", description="An administrator, with a reason.")
    RULE = strawberry.enum_value("RULE", description="An earning rule that applied.")


@strawberry.type(name="MemberBadge", description="A badge as one member has it: earned (with "
                 "when) or locked (its `hint` says how to earn it).")
class MemberBadgeType:
    view: strawberry.Private[MemberBadge]

    @strawberry.field(description="The badge.")
    def badge(self) -> BadgeNode:
        return BadgeNode.of(self.view.badge)

    @strawberry.field(description="Whether the member has earned it.")
    def earned(self) -> bool:
        return self.view.earned

    @strawberry.field(description="When it was earned; null while it is locked.")
    def earned_at(self) -> datetime | None:
        return self.view.held.earned_at if self.view.held else None

    @strawberry.field(description="What granted it; null while it is locked.")
    def granted_by(self) -> BadgeSourceType | None:
        held = self.view.held
        if held is None or held.source not in BadgeSourceType.__members__:
            return None
        return BadgeSourceType[held.source]

    @strawberry.field(description="Why it was granted (the challenge, the rule or the "
                      "administrator's reason); null while it is locked.")
    def reason(self) -> str | None:
        return self.view.held.reason if self.view.held else None

    @strawberry.field(description="How to earn it, while it is locked; null once earned.")
    def hint(self) -> str | None:
        return None if self.view.earned else self.view.badge.draft.hint


def badge_id(global_id: relay.GlobalID, field: tuple[str, ...] = ("input", "badgeId")) -> str:
    """The badge inside a Badge's global id (UnknownBadge for another type's)."""
    if global_id.type_name != "Badge":
        raise UnknownBadge("This is not the id of a badge.", field=field)
    return global_id.node_id


def badge_ids(global_ids: Iterable[relay.GlobalID], field: tuple[str, ...]) -> frozenset[str]:
    return frozenset(badge_id(g, field) for g in global_ids)


def badge_global_ids(ids: Iterable[str]) -> list[relay.GlobalID]:
    """Badge ids as the API shows them (sorted, for a stable answer)."""
    return [relay.GlobalID("Badge", i) for i in sorted(ids)]


async def badges_of(info: Info[Context, None], member_id: str) -> list[MemberBadgeType]:
    """`Member.badges`: the member document from the request's loader (shared with points
    and tier) and the cached catalogue, so no round trip of its own."""
    snapshot = await info.context.loaders.members.load(member_id)
    found = member_badges(await catalogue.catalogue(info.context.store),
                          snapshot.state.badges or {})
    return [MemberBadgeType(view=view) for view in found]
