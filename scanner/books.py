"""`kizuna verify` over the whole database: the ledger's invariants (loyalty.ledger.verify)
and the vouchers': every transition of a voucher has its event; and the badges members hold
exist (loyalty.badges.verify)."""

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import events
from events import EventType, SubjectKind
from loyalty.badges.verify import badge_references
from loyalty.ledger.verify import Members, Violation
from loyalty.ledger.verify import verify as verify_ledger
from loyalty.play.challenge_verify import challenge_rewards
from loyalty.play.draw_books import draw_books
from loyalty.play.leaderboard_prizes import prize_books
from scanner.collections import VOUCHERS
from scanner.vouchers import VoucherStatus
from store import Session, Store


async def verify(store: Store) -> list[Violation]:
    """Every violation of the invariants (a snapshot per batch of members)."""
    return await verify_ledger(
        store, more=(_voucher_events, draw_books, badge_references, prize_books,
                     challenge_rewards)
    )


def expected_events(voucher: dict[str, Any]) -> Counter[str]:
    """The events the transitions of `voucher` (its document) wrote: it was issued, each
    voided redemption was a redemption and a void, and its status says the last one."""
    voids = len(voucher.get("voided_redemptions") or ())
    status = voucher["status"]
    expected = Counter({
        EventType.VOUCHER_ISSUED.value: 1,
        EventType.VOUCHER_REDEEMED.value: voids + (status == VoucherStatus.REDEEMED.value),
        EventType.VOUCHER_VOIDED.value: voids,
        EventType.VOUCHER_CANCELLED.value: int(status == VoucherStatus.CANCELLED.value),
    })
    return +expected  # without the zero counts


async def _voucher_events(
    store: Store, session: Session | None, members: Members
) -> AsyncIterator[Violation]:
    recorded = await events.types_by_subject(store, session, SubjectKind.VOUCHER,
                                             members.where())
    async for voucher in store.collection(VOUCHERS).find(members.where(), session=session):
        found = Counter({**recorded.pop(voucher["_id"], {}),
                         **events.staged_types(voucher)}.values())
        expected = expected_events(voucher)
        if found != expected:
            yield Violation("every voucher transition has its event", voucher["_id"],
                            f"expected {dict(expected)}, found {dict(found)}")
    for voucher_id, types in recorded.items():
        yield Violation("every event has its change", voucher_id,
                        f"{dict(Counter(types.values()))} about a voucher that does not exist")
