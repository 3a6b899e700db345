"""The loyalty programme: members' points ledger and lots, earning rules and campaigns."""
