"""The loyalty programme, one sub-package per capability (lowest first; each imports only
those before it): programme, ledger, tiers, segments, rewards, engagement, earning, members.
The modules here are the shared vocabulary every sub-package uses and import none of them."""
