"""Data rights: the member's export (`myDataExport`), leaving (`accountDelete`) and an
administrator's erasure of a member (`memberErase`). docs/privacy.md and
docs/data-export.md say what they do."""

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import Info, relay
from strawberry.scalars import JSON

from auth.data_export import export_now
from auth.erasure import check_reason, delete_own_account, erase_member
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.nodes import Member
from schema.permissions import IsAdmin, IsMember
from schema.shared import INPUT, node_id


@strawberry.input(description="Confirm leaving the programme with your password.")
class AccountDeleteInput:
    password: str = strawberry.field(description="Your current password.")


@strawberry.type(description="Result of accountDelete.")
class AccountDeletePayload:
    deleted: bool = strawberry.field(
        default=False, description="Whether your personal data was erased (you are signed "
        "out everywhere).")
    erased_at: datetime | None = strawberry.field(default=None, description="When.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed.")


@strawberry.input(description="The member whose personal data to erase, and why.")
class MemberEraseInput:
    member_id: relay.GlobalID = strawberry.field(description="The member's id.")
    reason: str = strawberry.field(
        description="Why (3–500 characters), e.g. the request's reference; kept in the "
        "audit trail (the member's name or email in it is replaced by [erased]).")


@strawberry.type(description="Result of memberErase.")
class MemberErasePayload:
    member: Member | None = strawberry.field(
        default=None, description="The member as kept: the pseudonymous id and the figures.")
    erased_at: datetime | None = strawberry.field(default=None, description="When.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed.")


@strawberry.type
class PrivacyQueries:
    @strawberry.field(
        description="Everything Kizuna holds about you, in the documented JSON format "
        "`kizuna.member-data` (docs/data-export.md). A long history comes as a `download` "
        "link valid for a few minutes instead of `sections`.",
        permission_classes=[IsMember])
    async def my_data_export(self, info: Info[Context, None]) -> JSON:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        services = info.context.services
        export = await export_now(services.store, services.data_rights,
                                  member_id=principal.subject_id, clock=services.clock)
        return JSON(export)


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(
        description="Leave the programme: your personal data is erased everywhere, open "
        "vouchers are cancelled, points left are forfeited, every sign-in ends. Cannot be "
        "undone.", permission_classes=[IsMember])
    @returns_errors_in(AccountDeletePayload)
    async def account_delete(
        self, info: Info[Context, None], input: Annotated[AccountDeleteInput, INPUT]
    ) -> AccountDeletePayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        services = info.context.services
        erased_at = await delete_own_account(
            services.authenticator, services.data_rights.personal_data,
            member_id=principal.subject_id, password=input.password,
            client_address=info.context.client_address, request_id=info.context.request_id,
            clock=services.clock)
        return AccountDeletePayload(deleted=True, erased_at=erased_at)

    @strawberry.mutation(
        description="Erase a member's personal data (a request under GDPR Art. 17): as "
        "accountDelete, recorded in the audit trail with the reason.",
        permission_classes=[IsAdmin])
    @returns_errors_in(MemberErasePayload)
    async def member_erase(
        self, info: Info[Context, None], input: Annotated[MemberEraseInput, INPUT]
    ) -> MemberErasePayload:
        services = info.context.services
        member_id = node_id(input.member_id, "Member", ("input", "memberId"))
        erased_at = await erase_member(
            services.store, services.data_rights.personal_data, member_id=member_id,
            clock=services.clock, actor=info.context.audit, operation="memberErase",
            reason=check_reason(input.reason))
        account = await info.context.loaders.accounts.load(member_id)
        return MemberErasePayload(member=Member.from_account(account) if account else None,
                                  erased_at=erased_at)
