"""Members gifting points to each other (`pointsTransfer`), docs/transfers.md.

The recipient is found here, where both lookups may be imported (by email in `auth`, by
referral code in `loyalty`); the use case gets a member id and checks again, in its
transaction, that it is a member who was not erased. Unknown, erased and staff alike get
UNKNOWN_MEMBER, and every recipient named counts against RECIPIENT_LOOKUPS, found or not:
otherwise a gift too large to afford would tell a member (INSUFFICIENT_POINTS) from nobody
(UNKNOWN_MEMBER) at no cost, and gifting could test an address list.
"""

from datetime import timedelta
from typing import Annotated

import strawberry
from strawberry import Info

from auth.accounts import find_member
from auth.attempts import AttemptLimit, AttemptLimiter
from loyalty.engagement.referrals import find_referrer, normalize_referral_code
from loyalty.errors import UnknownMember
from loyalty.members.transfers import transfer_points
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.permissions import IsMember
from schema.points import LedgerEntry
from schema.shared import INPUT

RECIPIENT_LOOKUPS = AttemptLimit(30, timedelta(hours=1))
"""Recipients a member may name per hour that turn out to be nobody."""


@strawberry.input(one_of=True, description="Whom to gift points to: their email or their "
                  "referral code (exactly one).")
class PointsTransferRecipientInput:
    email: str | None = strawberry.field(
        default=strawberry.UNSET, description="The member's sign-in email."
    )
    referral_code: str | None = strawberry.field(
        default=strawberry.UNSET, description="The member's referral code."
    )


@strawberry.input(description="A gift of points to another member.")
class PointsTransferInput:
    to: PointsTransferRecipientInput = strawberry.field(description="The recipient.")
    points: int = strawberry.field(
        description="How many (at least the programme's minimum; within its caps)."
    )
    message: str | None = strawberry.field(
        default=None, description="A note for the recipient (up to 200 characters)."
    )
    idempotency_key: str = strawberry.field(
        description="Makes retries safe: a repeat returns the first gift; the same key with "
        "other details is IDEMPOTENCY_CONFLICT."
    )


@strawberry.type(description="Result of pointsTransfer.")
class PointsTransferPayload:
    entry: LedgerEntry | None = strawberry.field(
        default=None, description="Your entry for the gift (negative points)."
    )
    balance: int | None = strawberry.field(
        default=None, description="Your spendable points right after the gift."
    )
    replayed: bool = strawberry.field(
        default=False, description="True when this key was used before: nothing new."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


async def _recipient(info: Info[Context, None], to: PointsTransferRecipientInput) -> str:
    """The recipient's member id; UnknownMember for nobody (a member, erased or not)."""
    store = info.context.store
    principal = info.context.principal
    assert principal is not None  # noqa: S101 - permissions guarantee a principal
    await AttemptLimiter(store, info.context.services.clock).reserve(
        {f"transfer-recipient:{principal.subject_id}": RECIPIENT_LOOKUPS},
        what="recipients named")
    found: str | None = None
    if to.email:
        account = await find_member(store, account_id=None, email=to.email)
        found = account.id if account else None
    elif to.referral_code:
        code = normalize_referral_code(to.referral_code)
        found = await find_referrer(store, code) if code else None
    if found is None:
        raise UnknownMember("No member has this email address or referral code.",
                            field=("input", "to"))
    return found


@strawberry.type
class TransferMutations:
    @strawberry.mutation(description="Gift some of your points to another member. They keep "
                         "their expiry; the programme decides whether gifts are allowed, "
                         "from when and how many.", permission_classes=[IsMember])
    @returns_errors_in(PointsTransferPayload)
    async def points_transfer(
        self, info: Info[Context, None], input: Annotated[PointsTransferInput, INPUT]
    ) -> PointsTransferPayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - permissions guarantee a principal
        transfer = await transfer_points(
            info.context.store, sender_id=principal.subject_id,
            recipient_id=await _recipient(info, input.to), points=input.points,
            message=input.message, idempotency_key=input.idempotency_key,
            clock=info.context.services.clock,
        )
        return PointsTransferPayload(entry=LedgerEntry.from_entry(transfer.sent),
                                     balance=transfer.balance, replayed=transfer.replayed)
