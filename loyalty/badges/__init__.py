"""Badges: marks of achievement a member collects (granted by challenges, administrators and
earning rules), and which earning rules, rewards and segments may ask for."""
