"""Names of the collections `scanner` owns, and the indexes its queries need.

Document shapes: vouchers — see scanner/vouchers.py; member_cards — see scanner/cards.py;
scan_failures and scan_locks — see scanner/guessing.py; scan records — see scanner/audit.py.
"""

from events import staged_index
from store.indexes import IndexSpec

VOUCHERS = "vouchers"
MEMBER_CARDS = "member_cards"
SCAN_FAILURES = "scan_failures"
SCAN_LOCKS = "scan_locks"
SCAN_AUDIT = "scan_audit"
"""Where scans were audited before the one audit trail (events/audit.py); its records are
moved there at start-up (scanner/audit.py `adopt_legacy_records`)."""

INDEXES = (
    IndexSpec(VOUCHERS, (("code", 1),), name="code_unique", unique=True),
    IndexSpec(VOUCHERS, (("member_id", 1), ("_id", -1)), name="member_newest_first"),
    IndexSpec(
        VOUCHERS, (("issue_key", 1),), name="issue_key_unique", unique=True,
        partial_filter={"issue_key": {"$exists": True}},
    ),
    IndexSpec(MEMBER_CARDS, (("member_id", 1),), name="member_unique", unique=True),
    IndexSpec(SCAN_FAILURES, (("expires_at", 1),), name="expiry_ttl", expire_after_seconds=0),
    IndexSpec(SCAN_LOCKS, (("locked_until", 1),), name="expiry_ttl", expire_after_seconds=0),
    staged_index(VOUCHERS),
)
