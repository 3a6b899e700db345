"""What joining the programme writes beside the new account, in its transaction."""

from datetime import datetime

from loyalty.engagement.referrals import Enrolment
from loyalty.ledger import rollups
from store import Session, Store


def joining(store: Store, *, referral: Enrolment | None = None) -> Enrolment:
    """The new member's enrolment: counted among the day's new members in the roll-ups,
    and linked to their referrer when they joined with a referral code (`referral`)."""

    async def enrol(session: Session, member_id: str, joined_at: datetime) -> None:
        if referral is not None:
            await referral(session, member_id, joined_at)
        await rollups.add(store, session, rollups.joined_tally(joined_at), member_id=member_id)

    return enrol
