"""Member cards at the till: whose card a scanned token is, within the guessing limits.

A token that does not work counts toward the same limits as a mistyped voucher code, so a
till cannot be used to try tokens; a scan at the card desk leaves an audit record either way.
"""

from loyalty.earning.orders import recorded_order_member
from scanner.audit import OK, ScanAction, Scanner
from scanner.cards import card_holder
from scanner.desk import ScanDesk, guess_keys
from scanner.errors import InvalidCardToken


async def scan_member_card(desk: ScanDesk, *, token: str, scanner: Scanner) -> str:
    """The member whose card `token` is. Raises RateLimited (nothing checked) or
    InvalidCardToken (counted toward the limits)."""
    keys = guess_keys(scanner)
    async with desk.limiter.one_at_a_time(keys):
        desk.limiter.ensure_allowed(keys)
        now = desk.clock()
        try:
            member_id = await card_holder(desk.store, token=token, clock=desk.clock)
        except InvalidCardToken as error:
            desk.audit.record(action=ScanAction.CARD_SCAN, outcome=error.code,
                              scanner=scanner, at=now)
            await desk.limiter.record_failure(keys)
            raise
    desk.audit.record(action=ScanAction.CARD_SCAN, outcome=OK, scanner=scanner, at=now,
                      member_id=member_id)
    return member_id


async def till_order_member(
    desk: ScanDesk, *, token: str, scanner: Scanner, order_id: str
) -> str:
    """The member an in-store order is for, from the card scanned at the till.

    A retry of an order this store already recorded keeps its member even once the token
    has stopped working (the till resends after a timeout). Raises RateLimited (nothing
    checked) or InvalidCardToken (counted toward the limits)."""
    keys = guess_keys(scanner)
    desk.limiter.ensure_allowed(keys)
    try:
        return await card_holder(desk.store, token=token, clock=desk.clock)
    except InvalidCardToken:
        retried = scanner.store_id and await recorded_order_member(
            desk.store, order_id, store_id=scanner.store_id
        )
        if not retried:
            await desk.limiter.record_failure(keys)
            raise
        return retried
