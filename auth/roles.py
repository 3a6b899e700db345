"""Who is calling: roles and the authenticated principal."""

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    MEMBER = "MEMBER"
    STAFF = "STAFF"
    ADMIN = "ADMIN"
    INTEGRATION = "INTEGRATION"


class ApiKeyScope(StrEnum):
    """What a shop system's API key may do."""

    ORDERS_WRITE = "ORDERS_WRITE"
    ACTIONS_WRITE = "ACTIONS_WRITE"
    MEMBERS_READ = "MEMBERS_READ"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an account (member, staff, admin) or an API key."""

    subject_id: str
    role: Role
    store_id: str | None = None
    scopes: frozenset[ApiKeyScope] = field(default_factory=frozenset)
    session_id: str | None = None
