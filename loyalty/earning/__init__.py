"""Earning and taking back points for what shops report: earning rules and campaigns, paid
orders, refunds and returns, non-purchase actions; each applied once per external id."""
