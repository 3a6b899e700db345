"""Tiers: the ladder (anyone signed in), its management (admins), and each member's tier."""

from typing import Annotated

import strawberry
from strawberry import Info, relay

from loyalty.programme import ladder
from loyalty.programme.tier_rules import Tier
from loyalty.tiers import moves
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import IsAdmin, IsSignedIn
from schema.points import LedgerEntry
from schema.shared import INPUT, MemberReference, actor_of, resolve_member, tier_id
from schema.tier_types import TierType
from store import InvalidInput


@strawberry.input(description="A new tier.")
class TierCreateInput:
    name: str = strawberry.field(description="Display name (unique).")
    threshold: int = strawberry.field(description="Qualifying amount needed (unique, ≥ 0).")
    earn_multiplier: float = strawberry.field(default=1.0, description="1–10.")
    perks: str = strawberry.field(default="", description="Other benefits, in words.")


@strawberry.input(description="Changes to a tier; omitted fields stay.")
class TierUpdateInput:
    id: relay.GlobalID = strawberry.field(description="The tier's id.")
    name: str | None = strawberry.field(default=None, description="Display name.")
    threshold: int | None = strawberry.field(default=None, description="Qualifying amount.")
    earn_multiplier: float | None = strawberry.field(default=None, description="1–10.")
    perks: str | None = strawberry.field(default=None, description="Other benefits.")


@strawberry.input(description="A tier to remove (nobody may hold it).")
class TierDeleteInput:
    id: relay.GlobalID = strawberry.field(description="The tier's id.")


@strawberry.type(description="Result of tierCreate / tierUpdate / tierDelete.")
class TierPayload:
    tier: TierType | None = strawberry.field(default=None, description="The tier.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="Set or clear a member's tier by hand.")
class MemberTierSetInput:
    member: MemberReference = strawberry.field(description="Whose tier.")
    tier_id: relay.GlobalID | None = strawberry.field(
        description="The tier to give; null goes back to the earned tier."
    )
    reason: str = strawberry.field(description="Why (shown in the member's history).")


@strawberry.type(description="Result of memberTierSet.")
class MemberTierSetPayload:
    entry: LedgerEntry | None = strawberry.field(
        default=None, description="The history line of the change."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type
class TierQueries:
    @strawberry.field(description="The tier ladder, lowest first.",
                      permission_classes=[IsSignedIn])
    async def tiers(self, info: Info[Context, None]) -> list[TierType]:
        return [TierType.of(t) for t in await ladder.list_tiers(info.context.store)]


@strawberry.type
class TierMutations:
    @strawberry.mutation(description="Add a tier. Members who already qualify for it move "
                         "up in the background within seconds.", permission_classes=[IsAdmin])
    @returns_errors_in(TierPayload)
    async def tier_create(
        self, info: Info[Context, None], input: Annotated[TierCreateInput, INPUT]
    ) -> TierPayload:
        tier = await ladder.create_tier(info.context.store, tier=Tier(
            id="", name=input.name, threshold=input.threshold,
            earn_multiplier=input.earn_multiplier, perks=input.perks,
        ), clock=info.context.services.clock, audit=info.context.audit)
        info.context.services.jobs_due.set()  # members may already qualify for it
        return TierPayload(tier=TierType.of(tier))

    @strawberry.mutation(description="Change a tier. Members who qualify for it after the "
                         "change move up in the background within seconds; nobody moves "
                         "down before their review.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(TierPayload)
    async def tier_update(
        self, info: Info[Context, None], input: Annotated[TierUpdateInput, INPUT]
    ) -> TierPayload:
        tier = await ladder.update_tier(
            info.context.store, tier_id=tier_id(input.id, ("input", "id")),
            changes=ladder.TierChanges(input.name, input.threshold, input.earn_multiplier,
                                           input.perks),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        info.context.services.jobs_due.set()  # members may qualify for it now
        return TierPayload(tier=TierType.of(tier))

    @strawberry.mutation(description="Remove a tier nobody holds.", permission_classes=[IsAdmin])
    @returns_errors_in(TierPayload)
    async def tier_delete(
        self, info: Info[Context, None], input: Annotated[TierDeleteInput, INPUT]
    ) -> TierPayload:
        await ladder.delete_tier(info.context.store, tier_id=tier_id(input.id, ("input", "id")),
                                 clock=info.context.services.clock, audit=info.context.audit)
        return TierPayload()

    @strawberry.mutation(description="Give a member a tier by hand (shown as manual), or "
                         "clear it.", permission_classes=[IsAdmin])
    @returns_errors_in(MemberTierSetPayload)
    async def member_tier_set(
        self, info: Info[Context, None], input: Annotated[MemberTierSetInput, INPUT]
    ) -> MemberTierSetPayload:
        member_id = await resolve_member(info, input.member)
        tier = None
        if input.tier_id is not None:
            tiers = await ladder.list_tiers(info.context.store)
            wanted = tier_id(input.tier_id, ("input", "tierId"))
            tier = next((t for t in tiers if t.id == wanted), None)
            if tier is None:
                raise ladder.UnknownTier("No tier has this id.", field=("input", "tierId"))
        reason = " ".join(input.reason.split())
        if not 0 < len(reason) <= 200:
            raise InvalidInput("Say why (1–200 characters).",
                                          field=("input", "reason"))
        entry = await moves.set_tier_manually(
            info.context.store, member_id=member_id, tier=tier, reason=reason,
            actor=actor_of(info.context.principal), clock=info.context.services.clock,
            audit=info.context.audit,
        )
        return MemberTierSetPayload(entry=LedgerEntry.from_entry(entry))
