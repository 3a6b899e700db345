"""MongoDB access for Kizuna: client, embedded server, indexes, transactions, ids.

Only this package touches PyMongo and BSON machinery; the others receive a `Store` and use
the plain collection calls it exposes.
"""

from pymongo import InsertOne, ReturnDocument, UpdateOne

from store.client import Collection, Document, Session, Store, connect
from store.errors import (
    IdempotencyConflict,
    InputErrors,
    InvalidInput,
    KizunaError,
    NotFound,
    RateLimited,
    is_database_unavailable,
    is_duplicate_key,
    is_storage_corrupt,
    is_storage_full,
    log_retrying,
    only_duplicate_keys,
)
from store.ids import new_id
from store.indexes import IndexSpec, ensure_indexes

__all__ = [
    "Collection",
    "Document",
    "IdempotencyConflict",
    "InsertOne",
    "ReturnDocument",
    "UpdateOne",
    "IndexSpec",
    "InputErrors",
    "InvalidInput",
    "KizunaError",
    "NotFound",
    "RateLimited",
    "Session",
    "Store",
    "connect",
    "ensure_indexes",
    "is_database_unavailable",
    "is_storage_corrupt",
    "is_duplicate_key",
    "is_storage_full",
    "log_retrying",
    "new_id",
    "only_duplicate_keys",
]
