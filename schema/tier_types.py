"""The tier types every area shows: a tier of the ladder (a Relay node), a member's tier
and their progress toward the next one."""

from collections.abc import Iterable
from datetime import datetime
from typing import Self

import strawberry
from strawberry import Info, relay

from loyalty.members import reference
from loyalty.programme.tier_rules import Tier, TierProgress, TierView
from schema.context import Context


@strawberry.type(name="Tier", description="A level of the programme and what it gives.")
class TierType(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Display name, e.g. Gold.")
    threshold: int = strawberry.field(
        description="Qualifying points (or spend in minor units) needed in the window."
    )
    earn_multiplier: float = strawberry.field(
        description="Points earned are multiplied by this (1.5 = +50 %)."
    )
    perks: str = strawberry.field(description="What else the tier gives, in words.")

    @classmethod
    def of(cls, tier: Tier) -> Self:
        return cls(id=tier.id, name=tier.name, threshold=tier.threshold,
                   earn_multiplier=tier.earn_multiplier, perks=tier.perks)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        if info.context.principal is None:  # the ladder is for anyone signed in
            return [None for _ in ids]
        programme = await reference.programme(info.context.store)
        return [cls.of(tier) if (tier := programme.tier(i)) else None for i in ids]


@strawberry.type(description="Qualifying progress against a threshold.")
class TierProgressType:
    qualifying: int = strawberry.field(description="What counts so far.")
    required: int = strawberry.field(description="The threshold.")
    remaining: int = strawberry.field(description="What is still needed (0 when reached).")
    window_ends_at: datetime = strawberry.field(
        description="For progress: when the oldest qualifying month drops out of the window "
        "(or the calendar year ends). For keepBy: the review date."
    )

    @classmethod
    def of(cls, progress: TierProgress | None) -> Self | None:
        if progress is None:
            return None
        return cls(qualifying=progress.qualifying, required=progress.required,
                   remaining=progress.remaining, window_ends_at=progress.window_ends_at)


@strawberry.type(description="A member's tier, the next one, and what it takes.")
class MemberTier:
    current: TierType | None = strawberry.field(description="The tier now (null: none).")
    manual: bool = strawberry.field(description="Set by an administrator, not earned.")
    since: datetime | None = strawberry.field(description="Since when.")
    next: TierType | None = strawberry.field(description="The next tier up, if any.")
    progress: TierProgressType | None = strawberry.field(
        description="Toward the next tier: 'N more points to Gold'."
    )
    keep_by: TierProgressType | None = strawberry.field(
        description="To keep the current tier at its review: 'earn N by <date> to keep Gold'."
    )

    @classmethod
    def of(cls, view: TierView) -> Self:
        return cls(
            current=TierType.of(view.current) if view.current else None, manual=view.manual,
            since=view.since, next=TierType.of(view.next) if view.next else None,
            progress=TierProgressType.of(view.progress), keep_by=TierProgressType.of(view.keep),
        )
