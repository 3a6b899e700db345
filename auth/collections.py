"""Names of the collections `auth` owns, and the indexes its queries need."""

from events import staged_index
from store.indexes import IndexSpec

ACCOUNTS = "accounts"
STORES = "stores"
REFRESH_TOKENS = "refresh_tokens"
API_KEYS = "api_keys"
ATTEMPTS = "auth_attempts"
REVOKED_SESSIONS = "revoked_sessions"
ACCOUNT_CODES = "account_codes"
"""One-time codes (password reset, e-mail change), hashed; see auth/codes.py."""
CONSENTS = "consents"
ERASED_EXTERNAL_IDS = "erased_external_ids"
"""Digests of erased members' external ids (auth/imports.py): an import does not bring an
erased member back."""
"""Every consent given or withdrawn, never changed; see auth/consents.py."""

INDEXES = (
    IndexSpec(ACCOUNTS, (("email", 1),), name="email_unique", unique=True),
    IndexSpec(ACCOUNTS, (("store_id", 1), ("_id", 1)), name="store_staff"),
    staged_index(ACCOUNTS),
    IndexSpec(STORES, (("code", 1),), name="code_unique", unique=True),
    IndexSpec(REFRESH_TOKENS, (("family_id", 1),), name="family"),
    IndexSpec(REFRESH_TOKENS, (("expires_at", 1),), name="expiry_ttl", expire_after_seconds=0),
    IndexSpec(API_KEYS, (("prefix", 1),), name="prefix_unique", unique=True),
    IndexSpec(ATTEMPTS, (("expires_at", 1),), name="expiry_ttl", expire_after_seconds=0),
    IndexSpec(REVOKED_SESSIONS, (("revoked_at", 1),), name="revoked_at"),
    IndexSpec(REVOKED_SESSIONS, (("expires_at", 1),), name="expiry_ttl",
              expire_after_seconds=0),
    IndexSpec(REFRESH_TOKENS, (("account_id", 1), ("family_id", 1)), name="account_sessions"),
    IndexSpec(ACCOUNT_CODES, (("purge_at", 1),), name="purge_ttl", expire_after_seconds=0),
    IndexSpec(ACCOUNT_CODES, (("expires_at", 1),), name="expires_at"),
    IndexSpec(CONSENTS, (("member_id", 1), ("_id", 1)), name="member_history"),
)
