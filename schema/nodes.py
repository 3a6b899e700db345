"""The major objects, as Relay nodes with opaque global ids; each authorises its own lookup."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Self

import strawberry
from strawberry import Info, relay

from auth.accounts import Account
from auth.api_keys import ApiKey as ApiKeyRecord
from auth.api_keys import get_api_keys
from auth.consents import Purpose, consent_history
from auth.roles import ApiKeyScope, Principal, Role
from loyalty.engagement import referrals
from loyalty.ledger.entries import history
from loyalty.ledger.points import points_summary
from loyalty.members import screens
from scanner.cards import member_card
from scanner.vouchers import VoucherStatus, member_vouchers
from schema.badge_types import MemberBadgeType, badges_of
from schema.challenge_types import MemberChallengeType
from schema.challenges import challenges_of
from schema.consent_types import Consent, ConsentPurposeType, ConsentRecordNode, purposes_of
from schema.context import Context
from schema.offers import OfferType
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import (
    IsAdmin,
    IsTheMemberOrAdmin,
    admin_nodes,
    may_read_members,
    may_see_account,
)
from schema.points import LedgerEntry, MemberPoints
from schema.shared import QrCode, StoreNode
from schema.tier_types import MemberTier
from schema.voucher_types import VoucherNode, VoucherStatusType


@strawberry.type(description="The member card to show at a till: a QR that changes every "
                 "30 seconds, so a screenshot stops working.")
class MemberCard:
    token: str = strawberry.field(description="What the QR encodes (KZC…).")
    expires_at: datetime = strawberry.field(
        description="When this token's step ends (it is still accepted for one more step)."
    )
    refresh_in_seconds: int = strawberry.field(description="Fetch the card again after this.")

    @strawberry.field(description="The QR of `token`.")
    def qr(self) -> QrCode:
        return QrCode(payload=self.token)


@strawberry.enum(name="ApiKeyScope", description="What a shop system's API key may do.")
class ApiKeyScopeType(Enum):
    ORDERS_WRITE = strawberry.enum_value(
        ApiKeyScope.ORDERS_WRITE.value, description="Record orders, refunds and returns."
    )
    ACTIONS_WRITE = strawberry.enum_value(
        ApiKeyScope.ACTIONS_WRITE.value,
        description="Record non-purchase actions (reviews, surveys, sign-ups).",
    )
    MEMBERS_READ = strawberry.enum_value(
        ApiKeyScope.MEMBERS_READ.value,
        description="Look members up (`member`, `node`) and read their profile, points and "
        "tier."
    )


@strawberry.type(description="A shopper enrolled in the loyalty programme. The member and "
                 "administrators see all of it; a shop system whose API key has MEMBERS_READ "
                 "sees the profile (email, name, consent, since when), points and tier.")
class Member(relay.Node):
    id: relay.NodeID[str]
    email: str = strawberry.field(description="Sign-in email (lower case).")
    name: str = strawberry.field(description="Name as the member entered it.")
    birthday: date | None = strawberry.field(
        description="Date of birth, if given (the member and administrators).",
        permission_classes=[IsTheMemberOrAdmin],
    )
    marketing_consent: bool = strawberry.field(
        description="Whether the member agreed to receive marketing messages by email.",
        deprecation_reason="Use `consents` (MARKETING_EMAIL), which also says when and how.",
    )
    member_since: datetime = strawberry.field(description="When the member registered.")
    erased_at: datetime | None = strawberry.field(
        default=None, description="When the member's personal data was erased (their email "
        "then reads `erased:<id>` and their name is empty); null while it is kept."
    )

    @strawberry.field(description="Balance, pending points and what expires soon.")
    async def points(self, info: Info[Context, None]) -> MemberPoints:
        return await self.points_of(info, self.id)

    @staticmethod
    async def points_of(info: Info[Context, None], member_id: str) -> MemberPoints:
        now = info.context.services.clock()
        snapshot = await info.context.loaders.members.load(member_id)
        return MemberPoints.from_summary(points_summary(snapshot, now), now)

    @strawberry.field(description="Every points movement with its reason, newest first. "
                      "An order or action that earned nothing is not listed. The member "
                      "and administrators.", permission_classes=[IsTheMemberOrAdmin])
    async def history(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[LedgerEntry]:
        entries, page = await history(
            info.context.store, member_id=self.id, first=check_first(first),
            after_id=decode_cursor(after),
        )
        return connection(entries, page, node=LedgerEntry.from_entry, item_id=lambda e: e.id)

    @strawberry.field(description="The member's vouchers, newest first (the member and "
                      "administrators).", permission_classes=[IsTheMemberOrAdmin])
    async def vouchers(
        self, info: Info[Context, None],
        status: Annotated[
            VoucherStatusType | None,
            strawberry.argument(description="Only vouchers in this status."),
        ] = None,
        first: First = 20, after: After = None,
    ) -> relay.Connection[VoucherNode]:
        found, page = await member_vouchers(
            info.context.store, member_id=self.id,
            status=VoucherStatus(status.name) if status is not None else None,
            now=info.context.services.clock(), first=check_first(first),
            after_id=decode_cursor(after),
        )
        return connection(found, page, node=VoucherNode.from_record, item_id=lambda v: v.id)

    @strawberry.field(description="Every active badge, earned ones first (with when and why; "
                      "an archived badge the member earned is still listed), then the locked "
                      "ones with how to earn them. The member and administrators.",
                      permission_classes=[IsTheMemberOrAdmin])
    async def badges(self, info: Info[Context, None]) -> list[MemberBadgeType]:
        return await badges_of(info, self.id)

    @strawberry.field(description="The member's tier, the next one and what it takes.")
    async def tier(
        self, info: Info[Context, None]
    ) -> MemberTier:
        return await self.tier_of(info, self.id)

    @staticmethod
    async def tier_of(info: Info[Context, None], member_id: str) -> MemberTier:
        snapshot = await info.context.loaders.members.load(member_id)
        return MemberTier.of(await screens.tier(
            info.context.store, snapshot, now=info.context.services.clock()
        ))

    @strawberry.field(description="What administrators see of the member beyond the profile: "
                      "consent, points, tier history, ledger with actors, vouchers, orders "
                      "and refunds, referrals, survey answers, last activity, card. "
                      "Administrators only.", permission_classes=[IsAdmin])
    def admin(self) -> Annotated[
        "MemberAdminView", strawberry.lazy("schema.member_admin")  # type: ignore[name-defined]  # noqa: F821
    ]:
        # schema.member_admin builds on this module, which therefore names its type lazily,
        # without an import; its resolvers read only the `member_id` this subject carries.
        return AdminSubject(member_id=self.id)

    @strawberry.field(description="The code friends enter when they join (accountRegister's "
                      "referralCode): when a friend's first order is recorded, both of you "
                      "get the referral reward. The member and administrators.",
                      permission_classes=[IsTheMemberOrAdmin])
    async def referral_code(self, info: Info[Context, None]) -> str:
        if self.erased_at is not None:
            return ""  # an erased member refers nobody: no code is drawn again
        return await referrals.referral_code(info.context.store, member_id=self.id)

    @strawberry.field(description="Rewards and campaigns picked for this member from their "
                      "history, best first, each with a one-line reason — with the "
                      "PERSONALISATION consent; without it, the general offers every member "
                      "gets (docs/accounts.md). The member and administrators.",
                      permission_classes=[IsTheMemberOrAdmin])
    async def offers(
        self, info: Info[Context, None],
        first: Annotated[int, strawberry.argument(description="How many (1–20).")] = 5,
    ) -> list[OfferType]:
        account = await info.context.loaders.accounts.load(self.id)
        found = await screens.offers(
            info.context.store, await info.context.loaders.members.load(self.id),
            birthday=self.known_birthday, now=info.context.services.clock(),
            limit=max(1, min(first, 20)),
            personalised=account is not None and account.consents_to(Purpose.PERSONALISATION),
        )
        return [OfferType.of(offer) for offer in found]

    @strawberry.field(description="The challenges open to the member, with their progress "
                      "in the current period and what to do next (the member and "
                      "administrators).", permission_classes=[IsTheMemberOrAdmin])
    async def challenges(self, info: Info[Context, None]) -> list[MemberChallengeType]:
        return await challenges_of(info, self.id)

    @strawberry.field(description="The member card for the till; only for the member.")
    async def card(self, info: Info[Context, None]) -> MemberCard | None:
        principal = info.context.principal
        if principal is None or principal.subject_id != self.id:
            return None
        token = await member_card(info.context.store, member_id=self.id,
                                  clock=info.context.services.clock)
        return MemberCard(token=token.token, expires_at=token.expires_at,
                          refresh_in_seconds=token.refresh_in_seconds)

    @strawberry.field(description="Each consent purpose, given or not, with when and "
                      "through what (the member and administrators).",
                      permission_classes=[IsTheMemberOrAdmin])
    async def consents(self, info: Info[Context, None]) -> list[Consent]:
        account = await info.context.loaders.accounts.load(self.id)
        return purposes_of(dict(account.consents)) if account else []

    @strawberry.field(description="Every consent given or withdrawn, newest first: the "
                      "proof of each choice (the member and administrators).",
                      permission_classes=[IsTheMemberOrAdmin])
    async def consent_history(
        self, info: Info[Context, None],
        purpose: Annotated[ConsentPurposeType | None, strawberry.argument(
            description="Only this purpose's records.")] = None,
        first: First = 20, after: After = None,
    ) -> relay.Connection[ConsentRecordNode]:
        found, page = await consent_history(
            info.context.store, member_id=self.id,
            purpose=Purpose[purpose.name] if purpose else None, first=check_first(first),
            after_id=decode_cursor(after))
        return connection(found, page, node=ConsentRecordNode.of, item_id=lambda r: r.id)

    async def known_birthday(self) -> date | None:
        return self.birthday

    @classmethod
    def from_account(cls, account: Account) -> Self:
        return cls(
            id=account.id, email=account.email, name=account.name, birthday=account.birthday,
            marketing_consent=account.marketing_consent, member_since=account.created_at,
            erased_at=account.erased_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        accounts = await _visible_accounts(info, node_ids, Role.MEMBER,
                                           readers=may_read_members)
        return [cls.from_account(a) if a else None for a in accounts]


@dataclass(frozen=True, slots=True)
class AdminSubject:
    """The member whose admin view (schema/member_admin.py) is resolved."""

    member_id: str


@strawberry.type(description="A store employee who scans vouchers and member cards.")
class Staff(relay.Node):
    id: relay.NodeID[str]
    email: str = strawberry.field(description="Sign-in email (lower case).")
    name: str = strawberry.field(description="Full name.")
    manager: bool = strawberry.field(
        description="Store manager: may void a redemption made at the store."
    )
    store_id: strawberry.Private[str]

    @strawberry.field(description="The store this person works for.")
    async def store(self, info: Info[Context, None]) -> StoreNode | None:
        return await StoreNode.load(info, self.store_id)

    @classmethod
    def from_account(cls, account: Account) -> Self:
        return cls(
            id=account.id, email=account.email, name=account.name, manager=account.manager,
            store_id=account.store_id or "",
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        accounts = await _visible_accounts(info, node_ids, Role.STAFF)
        return [cls.from_account(a) if a else None for a in accounts]


@strawberry.type(description="A shop system's credential. The secret is shown only once.")
class ApiKey(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="What the key is for, e.g. 'Shopify store'.")
    prefix: str = strawberry.field(description="Public part of the key, to recognise it.")
    scopes: list[ApiKeyScopeType] = strawberry.field(description="What the key may do.")
    created_at: datetime = strawberry.field(description="When the key was created.")
    revoked_at: datetime | None = strawberry.field(description="When the key was revoked.")

    @classmethod
    def from_record(cls, record: ApiKeyRecord) -> Self:
        return cls(
            id=record.id, name=record.name, prefix=record.prefix,
            scopes=[ApiKeyScopeType(scope.value) for scope in sorted(record.scopes)],
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        return await admin_nodes(info, node_ids, get_api_keys, cls.from_record)


async def _visible_accounts(
    info: Info[Context, None], node_ids: Iterable[str], role: Role,
    readers: Callable[[Principal | None], bool] = lambda _: False,
) -> list[Account | None]:
    """The accounts of `role` the caller may see: their own, any for an admin, any for
    the `readers`."""
    principal = info.context.principal
    ids = list(node_ids)
    everyone = readers(principal)
    visible = [i for i in ids if everyone or may_see_account(principal, i)]
    loaded = dict(zip(visible, await info.context.loaders.accounts.load_many(visible), strict=True))
    return [
        account if (account := loaded.get(i)) is not None and account.role is role else None
        for i in ids
    ]
