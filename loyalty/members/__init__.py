"""What a member's screens show, read together: their tier, the rewards priced for them,
personal offers, and the cached reference data (programme, rules, rewards, segments)."""
