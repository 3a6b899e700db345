"""Members' accounts and tokens: register, sign in, refresh, sign out, `me`."""

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry import Info

from auth import sign_in as tokens
from auth.accounts import find_member, set_birthday
from auth.consents import Purpose
from auth.profile import update_account
from auth.refresh_tokens import SignInClient
from auth.registration import register
from auth.roles import Role
from loyalty.engagement import referrals
from loyalty.members import directory
from schema.consent_types import ConsentPurposeType
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.nodes import Member, Staff
from schema.permissions import CanReadMembers, IsMember, IsSignedIn
from schema.shared import INPUT

Viewer = Annotated[
    Member | Staff,
    strawberry.union("Viewer", description="The signed-in member or staff account."),
]


@strawberry.input(description="A new member's details.")
class AccountRegisterInput:
    email: str = strawberry.field(description="Email used to sign in.")
    password: str = strawberry.field(description="At least 10 characters, not easy to guess.")
    name: str = strawberry.field(description="The member's name.")
    birthday: date | None = strawberry.field(default=None, description="Date of birth.")
    marketing_consent: bool = strawberry.field(
        default=False, description="Agree to receive marketing messages by email (the same "
        "as MARKETING_EMAIL in `consents`; ignored when `consents` is given)."
    )
    consents: list[ConsentPurposeType] | None = strawberry.field(
        default=None, description="The purposes the member agrees to; every other purpose "
        "is recorded as not given (channel REGISTRATION)."
    )
    referral_code: str | None = strawberry.field(
        default=None, description="The referral code of the friend who invited you (case, "
        "spaces and dashes do not matter); an unknown code creates nothing."
    )


@strawberry.type(description="Result of accountRegister.")
class AccountRegisterPayload:
    member: Member | None = strawberry.field(default=None, description="The new member.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was created."
    )


@strawberry.input(description="The signed-in member's date of birth.")
class AccountBirthdaySetInput:
    birthday: date = strawberry.field(
        description="Date of birth. A birthday set or changed less than 30 days before it "
        "falls earns its birthday gift from the next year on."
    )


@strawberry.type(description="Result of accountBirthdaySet.")
class AccountBirthdaySetPayload:
    member: Member | None = strawberry.field(default=None, description="The member now.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed."
    )


@strawberry.input(description="Credentials to sign in with.")
class TokenCreateInput:
    email: str = strawberry.field(description="The account's email.")
    password: str = strawberry.field(description="The account's password.")
    device_name: str | None = strawberry.field(
        default=None, description="A name for this device (e.g. \"Ann's phone\", at most 64 "
        "characters), shown in `sessions`."
    )


@strawberry.input(description="The signed-in member's new profile: give what changes.")
class AccountUpdateInput:
    name: str | None = strawberry.field(default=None, description="The new name.")
    birthday: date | None = strawberry.field(
        default=None, description="The date of birth. A birthday set or changed less than 30 "
        "days before it falls earns its birthday gift from the next year on."
    )


@strawberry.type(description="Result of accountUpdate.")
class AccountUpdatePayload:
    member: Member | None = strawberry.field(default=None, description="The member now.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was changed."
    )


@strawberry.input(description="A refresh token to exchange or revoke.")
class TokenRefreshInput:
    refresh_token: str = strawberry.field(description="The refresh token from the last pair.")


@strawberry.type(description="A new access and refresh token pair.")
class TokenPayload:
    access_token: str | None = strawberry.field(
        default=None, description="Bearer token for the Authorization header (short-lived)."
    )
    access_token_expires_at: datetime | None = strawberry.field(
        default=None, description="When the access token stops working."
    )
    refresh_token: str | None = strawberry.field(
        default=None,
        description="Single-use token to get the next pair; keep it secret.",
    )
    refresh_token_expires_at: datetime | None = strawberry.field(
        default=None, description="When the refresh token stops working."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why no tokens were issued."
    )


@strawberry.type(description="Result of tokenRevoke.")
class TokenRevokePayload:
    revoked: bool = strawberry.field(default=False, description="Whether the sign-in ended.")
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was revoked."
    )


def _token_payload(pair: tokens.TokenPair) -> TokenPayload:
    return TokenPayload(
        access_token=pair.access.token,
        access_token_expires_at=pair.access.expires_at,
        refresh_token=pair.refresh.token,
        refresh_token_expires_at=pair.refresh.expires_at,
    )


@strawberry.type
class AccountQueries:
    @strawberry.field(
        description="The signed-in member's profile.", permission_classes=[IsMember]
    )
    async def me(self, info: Info[Context, None]) -> Member | None:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        account = await info.context.loaders.accounts.load(principal.subject_id)
        return Member.from_account(account) if account else None


    @strawberry.field(
        description="A member by sign-in email: for administrators and shop systems whose "
        "API key has MEMBERS_READ (a CRM); null when no member has it.",
        permission_classes=[CanReadMembers],
    )
    async def member(
        self, info: Info[Context, None],
        email: Annotated[str, strawberry.argument(description="Sign-in email (any case).")],
    ) -> Member | None:
        account = await find_member(info.context.store, account_id=None, email=email)
        return Member.from_account(account) if account else None

    @strawberry.field(
        description="Who is signed in: the member or the staff account (with its store); "
        "null for administrators and API keys.",
        permission_classes=[IsSignedIn],
    )
    async def viewer(self, info: Info[Context, None]) -> Viewer | None:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsSignedIn guarantees it
        account = await info.context.loaders.accounts.load(principal.subject_id)
        if account is None:
            return None
        if account.role is Role.MEMBER:
            return Member.from_account(account)
        if account.role is Role.STAFF:
            return Staff.from_account(account)
        return None


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Join the programme as a member.")
    @returns_errors_in(AccountRegisterPayload)
    async def account_register(
        self, info: Info[Context, None], input: Annotated[AccountRegisterInput, INPUT]
    ) -> AccountRegisterPayload:
        code = (input.referral_code or "").strip()
        store = info.context.store
        referral = [await referrals.enrolment(store, referral_code=code)] if code else []
        chosen = None if input.consents is None else {
            purpose: ConsentPurposeType[purpose.name] in input.consents for purpose in Purpose}
        account = await register(
            info.context.services.authenticator, client_address=info.context.client_address,
            email=input.email, password=input.password, name=input.name,
            birthday=input.birthday, marketing_consent=input.marketing_consent,
            clock=info.context.services.clock,
            enrolment=directory.enrolment(store, *referral), consents=chosen,
        )
        return AccountRegisterPayload(member=Member.from_account(account))

    @strawberry.mutation(description="Set or change your date of birth.",
                         permission_classes=[IsMember])
    @returns_errors_in(AccountBirthdaySetPayload)
    async def account_birthday_set(
        self, info: Info[Context, None], input: Annotated[AccountBirthdaySetInput, INPUT]
    ) -> AccountBirthdaySetPayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        account = await set_birthday(info.context.store, member_id=principal.subject_id,
                                     birthday=input.birthday, clock=info.context.services.clock)
        return AccountBirthdaySetPayload(member=Member.from_account(account))

    @strawberry.mutation(description="Change your name and/or date of birth.",
                         permission_classes=[IsMember])
    @returns_errors_in(AccountUpdatePayload)
    async def account_update(
        self, info: Info[Context, None], input: Annotated[AccountUpdateInput, INPUT]
    ) -> AccountUpdatePayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsMember guarantees it
        account = await update_account(
            info.context.store, member_id=principal.subject_id, name=input.name,
            birthday=input.birthday, clock=info.context.services.clock)
        return AccountUpdatePayload(member=Member.from_account(account))

    @strawberry.mutation(description="Sign in: exchange email and password for tokens.")
    @returns_errors_in(TokenPayload)
    async def token_create(
        self, info: Info[Context, None], input: Annotated[TokenCreateInput, INPUT]
    ) -> TokenPayload:
        pair = await tokens.sign_in(
            info.context.services.authenticator, email=input.email, password=input.password,
            client_address=info.context.client_address,
            client=SignInClient(user_agent=info.context.user_agent,
                                address=info.context.client_address,
                                device_name=input.device_name),
        )
        return _token_payload(pair)

    @strawberry.mutation(description="Exchange a refresh token for a new pair (single use).")
    @returns_errors_in(TokenPayload)
    async def token_refresh(
        self, info: Info[Context, None], input: Annotated[TokenRefreshInput, INPUT]
    ) -> TokenPayload:
        pair = await tokens.refresh(
            info.context.services.authenticator, refresh_token=input.refresh_token
        )
        return _token_payload(pair)

    @strawberry.mutation(description="Sign out: revoke the refresh token and its successors.")
    @returns_errors_in(TokenRevokePayload)
    async def token_revoke(
        self, info: Info[Context, None], input: Annotated[TokenRefreshInput, INPUT]
    ) -> TokenRevokePayload:
        await tokens.sign_out(
            info.context.services.authenticator, refresh_token=input.refresh_token
        )
        return TokenRevokePayload(revoked=True)
