"""Segments: administrators define groups of members by their data, earning rules (and
rewards) target them by name, and a preview says how many members a definition selects."""

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import Info, relay

from loyalty.segments import definitions
from loyalty.segments.policy import Segment, SegmentConditions, UnknownSegment, WindowMinimum
from schema.badge_types import badge_global_ids, badge_ids
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.nodes import Member
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin, admin_nodes
from schema.shared import INPUT, tier_global_ids, tier_ids


@strawberry.type(description="At least `minimum` (orders, or minor units spent) in the last "
                 "`months` calendar months, the current one included (programme's time zone).")
class SegmentWindowMinimum:
    minimum: int = strawberry.field(description="Orders, or minor units of spend.")
    months: int = strawberry.field(description="1–36 calendar months, this one included.")


@strawberry.type(name="SegmentConditions",
                 description="What a member must match to be in a segment: all of it.")
class SegmentConditionsType:
    last_order_within_days: int | None = strawberry.field(
        description="Recency: the last order was less than this many days ago."
    )
    lapsed_days: int | None = strawberry.field(
        description="Lapsed: ordered once, but not for this many days or more."
    )
    frequency: SegmentWindowMinimum | None = strawberry.field(
        description="At least `minimum` orders in the last `months` months."
    )
    monetary: SegmentWindowMinimum | None = strawberry.field(
        description="At least `minimum` minor units spent (net of refunds) in the last "
        "`months` months."
    )
    birthday_month: int | None = strawberry.field(
        description="Born in this month (1 = January … 12 = December)."
    )
    birthday_this_month: bool = strawberry.field(
        description="Born in the current month (programme's time zone)."
    )
    tiers: list[relay.GlobalID] = strawberry.field(
        description="Holds one of these tiers (ids); empty means any."
    )
    favourite_category: str | None = strawberry.field(
        description="The category the member spent the most on (ties all count)."
    )
    badge_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Holds all of these badges (ids); empty means any."
    )

    @classmethod
    def of(cls, c: SegmentConditions) -> Self:
        def window(minimum: WindowMinimum | None) -> SegmentWindowMinimum | None:
            return None if minimum is None else SegmentWindowMinimum(
                minimum=minimum.minimum, months=minimum.months)

        return cls(
            last_order_within_days=c.last_order_within_days, lapsed_days=c.lapsed_days,
            frequency=window(c.frequency), monetary=window(c.monetary),
            birthday_month=c.birthday_month, birthday_this_month=c.birthday_this_month,
            tiers=tier_global_ids(c.tiers),
            favourite_category=c.favourite_category,
            badge_ids=badge_global_ids(c.badges),
        )


@strawberry.type(name="Segment", description="A group of members defined by their data "
                 "(recency, frequency, spend, lapse, birthday, tier, favourite category). "
                 "Membership is computed when asked, never stored.")
class SegmentNode(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(
        description="UPPER_SNAKE_CASE, unique; earning rules refer to the segment by it."
    )
    description: str = strawberry.field(description="What the segment is for.")
    conditions: SegmentConditionsType = strawberry.field(
        description="What its members match."
    )
    created_at: datetime | None = strawberry.field(description="When it was created.")
    updated_at: datetime | None = strawberry.field(description="When it was last changed.")

    @classmethod
    def of(cls, segment: Segment) -> Self:
        return cls(
            id=segment.id, name=segment.name, description=segment.description,
            conditions=SegmentConditionsType.of(segment.conditions),
            created_at=segment.created_at, updated_at=segment.updated_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await admin_nodes(info, node_ids, definitions.get_segments, cls.of)


@strawberry.input(description="At least `minimum` in the last `months` calendar months.")
class SegmentWindowMinimumInput:
    minimum: int = strawberry.field(description="Orders (1–100000), or minor units spent.")
    months: int = strawberry.field(description="1–36 calendar months, this one included.")


@strawberry.input(description="What members must match, all of it; give at least one.")
class SegmentConditionsInput:
    last_order_within_days: int | None = strawberry.field(
        default=None, description="Recency: last order less than this many days ago (1–3650)."
    )
    lapsed_days: int | None = strawberry.field(
        default=None, description="Lapsed: ordered once, but not for this many days (1–3650)."
    )
    frequency: SegmentWindowMinimumInput | None = strawberry.field(
        default=None, description="At least `minimum` orders in the last `months` months."
    )
    monetary: SegmentWindowMinimumInput | None = strawberry.field(
        default=None, description="At least `minimum` minor units spent (net of refunds) in "
        "the last `months` months."
    )
    birthday_month: int | None = strawberry.field(
        default=None, description="Born in this month (1–12)."
    )
    birthday_this_month: bool = strawberry.field(
        default=False, description="Born in the current month (programme's time zone)."
    )
    tiers: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Holds one of these tiers (ids from `tiers`)."
    )
    favourite_category: str | None = strawberry.field(
        default=None, description="The category the member spent the most on."
    )
    badge_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Holds all of these badges (ids from `badges`)."
    )

    def to_model(self) -> SegmentConditions:
        def window(given: SegmentWindowMinimumInput | None) -> WindowMinimum | None:
            return None if given is None else WindowMinimum(given.minimum, given.months)

        return SegmentConditions(
            last_order_within_days=self.last_order_within_days, lapsed_days=self.lapsed_days,
            frequency=window(self.frequency), monetary=window(self.monetary),
            birthday_month=self.birthday_month, birthday_this_month=self.birthday_this_month,
            tiers=tier_ids(self.tiers, ("input", "conditions", "tiers")),
            favourite_category=self.favourite_category,
            badges=badge_ids(self.badge_ids, ("input", "conditions", "badgeIds")),
        )


@strawberry.input(description="A new segment.")
class SegmentCreateInput:
    name: str = strawberry.field(
        description="UPPER_SNAKE_CASE, 2–40 characters, unique (lower case is raised); it "
        "cannot change later."
    )
    description: str = strawberry.field(default="", description="At most 500 characters.")
    conditions: SegmentConditionsInput = strawberry.field(description="What members match.")


@strawberry.input(description="Changes to a segment; omitted (or null) fields stay.")
class SegmentUpdateInput:
    segment: relay.GlobalID = strawberry.field(description="The segment to change.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    conditions: SegmentConditionsInput | None = strawberry.field(
        default=None, description="New conditions (they replace all the old ones)."
    )


@strawberry.input(description="The segment to remove (no earning rule may refer to it).")
class SegmentDeleteInput:
    segment: relay.GlobalID = strawberry.field(description="The segment to remove.")


@strawberry.input(description="Conditions to try out before saving them as a segment.")
class SegmentPreviewInput:
    conditions: SegmentConditionsInput = strawberry.field(description="What members match.")


@strawberry.type(description="Result of segmentCreate.")
class SegmentCreatePayload:
    segment: SegmentNode | None = strawberry.field(default=None, description="The new segment.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of segmentUpdate.")
class SegmentUpdatePayload:
    segment: SegmentNode | None = strawberry.field(default=None, description="The segment now.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type(description="Result of segmentDelete.")
class SegmentDeletePayload:
    deleted_segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the removed segment."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Problems (SEGMENT_IN_USE while rules refer to it)."
    )


@strawberry.type(description="How many members some conditions select now. Writes nothing.")
class SegmentPreviewPayload:
    count: int | None = strawberry.field(default=None, description="Members selected now.")
    sample: list[Member] = strawberry.field(
        default_factory=list, description="The first five of them (in id order)."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


def _segment_id(global_id: relay.GlobalID) -> str:
    if global_id.type_name != "Segment":
        raise UnknownSegment("This is not the id of a segment.", field=("input", "segment"))
    return global_id.node_id


@strawberry.type
class SegmentQueries:
    @strawberry.field(description="Every segment, newest first.", permission_classes=[IsAdmin])
    async def segments(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[SegmentNode]:
        found, page = await definitions.list_segments(
            info.context.store, first=check_first(first), after_id=decode_cursor(after)
        )
        return connection(found, page, node=SegmentNode.of, item_id=lambda s: s.id)

    @strawberry.field(description="How many members the conditions select now, and the first "
                      "few. Exact; on a large programme it may read every member document "
                      "(favourite category, birthday with other conditions).",
                      permission_classes=[IsAdmin])
    @returns_errors_in(SegmentPreviewPayload)
    async def segment_preview(
        self, info: Info[Context, None], input: Annotated[SegmentPreviewInput, INPUT]
    ) -> SegmentPreviewPayload:
        preview = await definitions.preview_segment(
            info.context.store, conditions=input.conditions.to_model(),
            now=info.context.services.clock(),
        )
        accounts = await info.context.loaders.accounts.load_many(list(preview.sample))
        return SegmentPreviewPayload(
            count=preview.count,
            sample=[Member.from_account(a) for a in accounts if a is not None],
        )


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(description="Create a segment; earning rules can target it at once.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(SegmentCreatePayload)
    async def segment_create(
        self, info: Info[Context, None], input: Annotated[SegmentCreateInput, INPUT]
    ) -> SegmentCreatePayload:
        segment = await definitions.create_segment(
            info.context.store, name=input.name, description=input.description,
            conditions=input.conditions.to_model(), clock=info.context.services.clock,
            audit=info.context.audit,
        )
        return SegmentCreatePayload(segment=SegmentNode.of(segment))

    @strawberry.mutation(description="Change a segment's description or conditions (its name "
                         "stays); applies from the next earn.", permission_classes=[IsAdmin])
    @returns_errors_in(SegmentUpdatePayload)
    async def segment_update(
        self, info: Info[Context, None], input: Annotated[SegmentUpdateInput, INPUT]
    ) -> SegmentUpdatePayload:
        segment = await definitions.update_segment(
            info.context.store, segment_id=_segment_id(input.segment),
            description=input.description,
            conditions=input.conditions.to_model() if input.conditions else None,
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return SegmentUpdatePayload(segment=SegmentNode.of(segment))

    @strawberry.mutation(description="Remove a segment no earning rule refers to.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(SegmentDeletePayload)
    async def segment_delete(
        self, info: Info[Context, None], input: Annotated[SegmentDeleteInput, INPUT]
    ) -> SegmentDeletePayload:
        segment = await definitions.delete_segment(
            info.context.store, segment_id=_segment_id(input.segment),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return SegmentDeletePayload(
            deleted_segment_id=strawberry.ID(relay.to_base64("Segment", segment.id))
        )
