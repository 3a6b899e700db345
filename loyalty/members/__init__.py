"""What a member sees on their screens, read together: points, tier, affordable rewards,
personal offers, and the cached reference data (programme, rules, rewards, segments)."""
