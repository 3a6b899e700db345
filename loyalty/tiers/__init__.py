"""Members moving between tiers: upgrades as they qualify, reviews when a window ends, manual
settings, a changed ladder re-evaluated; each move is a line in the member's ledger."""
