"""The points ledger: immutable entries, lots spent soonest-expiry-first, the member's totals
posted with them in one transaction, what a member's points are, expiry, adjustments, and
the invariants `verify` checks."""
