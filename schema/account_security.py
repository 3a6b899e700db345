"""A member's sign-in security: e-mail and password changes, password reset, sign-ins.

Resolvers only convert input and call one use case (auth/credentials.py,
auth/password_reset.py, auth/refresh_tokens.py); docs/accounts.md describes the flows.
"""

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import Info

from auth.credentials import change_password, confirm_email_change, request_email_change
from auth.password_reset import confirm_password_reset, request_password_reset
from auth.refresh_tokens import SignInSession
from auth.roles import Principal
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.nodes import Member
from schema.permissions import IsMember
from schema.shared import INPUT


def _member(info: Info[Context, None]) -> Principal:
    principal = info.context.principal
    assert principal is not None  # noqa: S101 - IsMember guarantees it
    return principal


@strawberry.input(description="A new sign-in email, and your password to prove it is you.")
class AccountEmailChangeInput:
    new_email: str = strawberry.field(description="The address to sign in with from now on.")
    current_password: str = strawberry.field(description="Your current password.")


@strawberry.type(description="Result of accountEmailChange: a code is on its way to the new "
                 "address.")
class AccountEmailChangePayload:
    code_expires_at: datetime | None = strawberry.field(
        default=None, description="When the code sent to the new address stops working.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why no code was sent.")


@strawberry.input(description="The code sent to the new email address.")
class AccountEmailChangeConfirmInput:
    code: str = strawberry.field(description="The code (case, spaces and dashes do not "
                                 "matter).")


@strawberry.type(description="Result of accountEmailChangeConfirm.")
class AccountEmailChangeConfirmPayload:
    member: Member | None = strawberry.field(default=None,
                                             description="The member, with the new email.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the email did not change.")


@strawberry.input(description="Your current password and the new one.")
class AccountPasswordChangeInput:
    current_password: str = strawberry.field(description="Your current password.")
    new_password: str = strawberry.field(
        description="At least 10 characters, not easy to guess.")


@strawberry.type(description="Result of accountPasswordChange.")
class AccountPasswordChangePayload:
    changed: bool = strawberry.field(default=False, description="Whether it changed.")
    sessions_ended: int = strawberry.field(
        default=0, description="Your other sign-ins that were ended (this one stays).")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the password did not change.")


@strawberry.input(description="The email of the account whose password was forgotten.")
class PasswordResetRequestInput:
    email: str = strawberry.field(description="The account's sign-in email.")


@strawberry.type(description="Result of passwordResetRequest. The same whether an account "
                 "has the address or not.")
class PasswordResetRequestPayload:
    accepted: bool = strawberry.field(
        default=False, description="The request was taken: if a member has this email, a "
        "code is on its way to it.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the request was refused (a malformed "
        "address, too many requests).")


@strawberry.input(description="The code sent by passwordResetRequest and the new password.")
class PasswordResetConfirmInput:
    email: str = strawberry.field(description="The account's sign-in email.")
    code: str = strawberry.field(description="The code (case, spaces and dashes do not "
                                 "matter).")
    new_password: str = strawberry.field(
        description="At least 10 characters, not easy to guess.")


@strawberry.type(description="Result of passwordResetConfirm.")
class PasswordResetConfirmPayload:
    reset: bool = strawberry.field(
        default=False, description="Whether the password was set; every sign-in of the "
        "account was ended: sign in with the new password.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why the password was not set.")


@strawberry.type(name="SignInSession", description="One of your sign-ins (a device that "
                 "signed in and has not signed out).")
class SignInSessionType:
    id: strawberry.ID = strawberry.field(description="The sign-in's id (for sessionRevoke).")
    current: bool = strawberry.field(description="Whether it is the one making this request.")
    signed_in_at: datetime = strawberry.field(description="When it signed in.")
    last_used_at: datetime = strawberry.field(
        description="When it signed in or last refreshed its tokens (within the access "
        "token's lifetime of its last use).")
    expires_at: datetime = strawberry.field(
        description="When it ends unless it refreshes its tokens.")
    device_name: str | None = strawberry.field(description="The name the app gave at sign-in.")
    user_agent: str = strawberry.field(description="The client's User-Agent at sign-in.")
    client_address: str = strawberry.field(description="The client's address at sign-in.")

    @classmethod
    def of(cls, session: SignInSession, current: str | None) -> "SignInSessionType":
        return cls(id=strawberry.ID(session.id), current=session.id == current,
                   signed_in_at=session.signed_in_at, last_used_at=session.last_used_at,
                   expires_at=session.expires_at, device_name=session.device_name,
                   user_agent=session.user_agent, client_address=session.client_address)


@strawberry.input(description="The sign-in to end.")
class SessionRevokeInput:
    session: strawberry.ID = strawberry.field(description="Its id (from `sessions`).")


@strawberry.type(description="Result of sessionRevoke and sessionRevokeOthers.")
class SessionRevokePayload:
    sessions_ended: int = strawberry.field(default=0, description="How many sign-ins ended.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was ended.")


@strawberry.type
class AccountSecurityQueries:
    @strawberry.field(description="Your sign-ins that have not ended, most recently used "
                      "first (at most 100).", permission_classes=[IsMember])
    async def sessions(self, info: Info[Context, None]) -> list[SignInSessionType]:
        principal = _member(info)
        found = await info.context.services.authenticator.refresh_tokens.sessions(
            principal.subject_id)
        return [SignInSessionType.of(s, principal.session_id) for s in found]


@strawberry.type
class AccountSecurityMutations:
    @strawberry.mutation(description="Ask to change your sign-in email: a code is sent to the "
                         "new address (accountEmailChangeConfirm).",
                         permission_classes=[IsMember])
    @returns_errors_in(AccountEmailChangePayload)
    async def account_email_change(
        self, info: Info[Context, None], input: Annotated[AccountEmailChangeInput, INPUT]
    ) -> AccountEmailChangePayload:
        expires_at = await request_email_change(
            info.context.services.authenticator, member_id=_member(info).subject_id,
            new_email=input.new_email, password=input.current_password,
            client_address=info.context.client_address, clock=info.context.services.clock)
        return AccountEmailChangePayload(code_expires_at=expires_at)

    @strawberry.mutation(description="Confirm the new email with the code sent to it; the "
                         "old address is told.", permission_classes=[IsMember])
    @returns_errors_in(AccountEmailChangeConfirmPayload)
    async def account_email_change_confirm(
        self, info: Info[Context, None], input: Annotated[AccountEmailChangeConfirmInput, INPUT]
    ) -> AccountEmailChangeConfirmPayload:
        account = await confirm_email_change(
            info.context.services.authenticator, member_id=_member(info).subject_id,
            code=input.code, clock=info.context.services.clock)
        return AccountEmailChangeConfirmPayload(member=Member.from_account(account))

    @strawberry.mutation(description="Change your password; every other sign-in ends.",
                         permission_classes=[IsMember])
    @returns_errors_in(AccountPasswordChangePayload)
    async def account_password_change(
        self, info: Info[Context, None], input: Annotated[AccountPasswordChangeInput, INPUT]
    ) -> AccountPasswordChangePayload:
        principal = _member(info)
        ended = await change_password(
            info.context.services.authenticator, member_id=principal.subject_id,
            session_id=principal.session_id, current_password=input.current_password,
            new_password=input.new_password, client_address=info.context.client_address,
            clock=info.context.services.clock)
        return AccountPasswordChangePayload(changed=True, sessions_ended=ended)

    @strawberry.mutation(description="Forgot your password: a code is sent to the email if a "
                         "member has it. The answer never says whether one does.")
    @returns_errors_in(PasswordResetRequestPayload)
    async def password_reset_request(
        self, info: Info[Context, None], input: Annotated[PasswordResetRequestInput, INPUT]
    ) -> PasswordResetRequestPayload:
        await request_password_reset(
            info.context.services.authenticator, email=input.email,
            client_address=info.context.client_address, clock=info.context.services.clock)
        return PasswordResetRequestPayload(accepted=True)

    @strawberry.mutation(description="Set a new password with the code from "
                         "passwordResetRequest; every sign-in of the account ends.")
    @returns_errors_in(PasswordResetConfirmPayload)
    async def password_reset_confirm(
        self, info: Info[Context, None], input: Annotated[PasswordResetConfirmInput, INPUT]
    ) -> PasswordResetConfirmPayload:
        await confirm_password_reset(
            info.context.services.authenticator, email=input.email, code=input.code,
            new_password=input.new_password, client_address=info.context.client_address,
            clock=info.context.services.clock)
        return PasswordResetConfirmPayload(reset=True)

    @strawberry.mutation(description="End one of your sign-ins (its tokens stop working).",
                         permission_classes=[IsMember])
    @returns_errors_in(SessionRevokePayload)
    async def session_revoke(
        self, info: Info[Context, None], input: Annotated[SessionRevokeInput, INPUT]
    ) -> SessionRevokePayload:
        await info.context.services.authenticator.refresh_tokens.revoke_session(
            _member(info).subject_id, str(input.session))
        return SessionRevokePayload(sessions_ended=1)

    @strawberry.mutation(description="End every sign-in of yours but this one.",
                         permission_classes=[IsMember])
    @returns_errors_in(SessionRevokePayload)
    async def session_revoke_others(self, info: Info[Context, None]) -> SessionRevokePayload:
        principal = _member(info)
        ended = await info.context.services.authenticator.refresh_tokens.revoke_all(
            principal.subject_id, except_family=principal.session_id)
        return SessionRevokePayload(sessions_ended=ended)
