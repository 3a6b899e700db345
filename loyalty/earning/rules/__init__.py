"""Earning rules and campaigns: what earns points, how many, within which limits."""
