"""The points ledger: immutable entries, lots spent soonest-expiry-first, posting them with
the member's totals in one transaction, expiry, adjustments, and the invariants `verify` checks."""
