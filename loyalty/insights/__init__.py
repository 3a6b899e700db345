"""The programme's figures for its managers and finance: liability, flows of points,
redemption and breakage rates, expiry forecast, members, rewards, NPS (docs/analytics.md)."""
