"""The indexes the ledger's queries need (created at start-up)."""

from loyalty.collections import LEDGER, LOTS
from store import IndexSpec

INDEXES = (
    IndexSpec(LEDGER, (("key", 1),), name="key_unique", unique=True),
    IndexSpec(LEDGER, (("member_id", 1), ("_id", -1)), name="member_history"),
    IndexSpec(LOTS, (("member_id", 1), ("expired_at", 1), ("remaining", 1)), name="member_open"),
    IndexSpec(LOTS, (("expires_at", 1), ("expired_at", 1)), name="due_for_expiry"),
    IndexSpec(LOTS, (("order_id", 1),), name="order_lots"),
)
