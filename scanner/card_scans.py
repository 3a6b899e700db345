"""Member cards at the till: whose card a scanned token is, within the guessing limits.

A token that does not work counts toward the same limits as a mistyped voucher code, so
neither the card desk nor a till can be used to try tokens. A scan at the card desk
(`scan_member_card`) also leaves an audit record, whatever its outcome.
"""

import asyncio
from dataclasses import dataclass

from auth.accounts import get_account
from loyalty.earning.orders import recorded_order_member
from loyalty.ledger.points import points_summary
from loyalty.ledger.snapshot import read_snapshots
from scanner.audit import OK, ScanAction, Scanner
from scanner.cards import card_holder
from scanner.desk import ScanDesk, guess_keys
from scanner.errors import InvalidCardToken
from scanner.vouchers import first_name


@dataclass(frozen=True, slots=True)
class CardHolder:
    """What staff see of the member whose card they scanned."""

    member_id: str
    first_name: str
    points_balance: int
    """Spendable now."""


async def scan_member_card(desk: ScanDesk, *, token: str, scanner: Scanner) -> CardHolder:
    """The member whose card `token` is, with their first name and balance. Raises
    RateLimited (nothing checked) or InvalidCardToken (counted toward the limits)."""
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
    account, snapshots = await asyncio.gather(
        get_account(desk.store, member_id), read_snapshots(desk.store, [member_id])
    )
    balance = points_summary(snapshots[member_id], now).balance
    desk.audit.record(action=ScanAction.CARD_SCAN, outcome=OK, scanner=scanner, at=now,
                      member_id=member_id)
    return CardHolder(member_id=member_id, first_name=first_name(account.name if account else ""),
                      points_balance=balance)


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


async def order_member(desk: ScanDesk, *, token: str, scanner: Scanner) -> str:
    """The member an order is for, from a card token a shop system or an administrator
    sends. They are not held to the limits (a shop system's checkouts must not lock each
    other out), but a token that does not work counts toward the limits its account and
    address share with tills. Raises InvalidCardToken."""
    try:
        return await card_holder(desk.store, token=token, clock=desk.clock)
    except InvalidCardToken:
        await desk.limiter.record_failure(guess_keys(scanner))
        raise
