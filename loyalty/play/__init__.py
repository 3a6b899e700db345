"""Play: what a member can pursue — challenges with progress, leaderboards and prize draws."""
