"""The checkout desk: what every till use case (voucher checks, redemptions, card scans)
needs, built once at start-up, and the guessing-limit keys of whoever scans."""

from dataclasses import dataclass
from datetime import timedelta

from scanner.audit import AuditLog, Scanner
from scanner.guessing import GuessingLimiter, GuessKeys, scan_keys
from scanner.payload import VoucherTokens
from store import Store
from store.clock import Clock


@dataclass(frozen=True, slots=True)
class ScanDesk:
    """What the checkout use cases need, built once at start-up."""

    store: Store
    tokens: VoucherTokens
    limiter: GuessingLimiter
    audit: AuditLog
    clock: Clock
    void_window: timedelta


def guess_keys(scanner: Scanner) -> GuessKeys:
    """The limits a failed scan by `scanner` counts toward (its device, its account, its
    address)."""
    return scan_keys(actor_id=scanner.actor_id, device_id=scanner.device_id,
                     client_address=scanner.client_address)
