"""`kizuna verify`'s check (scanner.books.verify) run on the server's database at the end
of a scenario, as lines for the report."""

import time

from bench.progress import say
from scanner.books import verify
from store import Store

SHOWN = 10


async def verify_lines(store: Store) -> list[str]:
    """balance = Σ entries = Σ open lots and the other invariants, over the whole database;
    the violations (the first SHOWN) or "ok", and how long the check took."""
    say("verify: checking the ledger's invariants (kizuna verify)")
    started = time.monotonic()
    try:
        violations = await verify(store)
    except Exception as error:  # noqa: BLE001 - the figures measured before still count
        return [f"verify (scanner.books.verify, what `kizuna verify` runs): FAILED after "
                f"{time.monotonic() - started:.1f} s: {type(error).__name__}: "
                f"{' '.join(str(error).split())[:200]}"]
    took = f"{time.monotonic() - started:.1f} s"
    if not violations:
        return [f"verify (scanner.books.verify, what `kizuna verify` runs): ok: no violation "
                f"({took})"]
    return [
        f"verify (scanner.books.verify, what `kizuna verify` runs): {len(violations)} "
        f"VIOLATION(S) ({took}); the first {min(SHOWN, len(violations))}:",
        *(f"  {violation}" for violation in violations[:SHOWN]),
    ]
