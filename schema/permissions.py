"""Declarative permissions: who may see a field or call a mutation.

A denial is a top-level GraphQL error with `extensions.code` UNAUTHENTICATED (nobody signed
in) or FORBIDDEN (signed in with the wrong role).
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from strawberry import Info
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.permission import BasePermission

from auth.roles import ApiKeyScope, Principal, Role
from schema.context import Context
from store import Store


class _RolePermission(BasePermission):
    roles: frozenset[Role] = frozenset()
    message = "You are not allowed to do this."

    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - strawberry's own attribute

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            # Raised rather than returned: the instance is shared by concurrent requests, so
            # it cannot carry a per-request message.
            raise StrawberryGraphQLError(
                "Sign in to do this.", extensions={"code": "UNAUTHENTICATED"}
            )
        return principal.role in self.roles


class IsSignedIn(_RolePermission):
    roles = frozenset(Role)


class IsMember(_RolePermission):
    roles = frozenset({Role.MEMBER})
    message = "Only members can do this."


class IsAdmin(_RolePermission):
    roles = frozenset({Role.ADMIN})
    message = "Only administrators can do this."


class IsStaff(_RolePermission):
    roles = frozenset({Role.STAFF})
    message = "Only store staff can do this."


def may_see_account(principal: Principal | None, account_id: str) -> bool:
    """Admins see every account; anyone else only their own."""
    return principal is not None and (
        principal.role is Role.ADMIN or principal.subject_id == account_id
    )


def may_see_store(principal: Principal | None, store_id: str) -> bool:
    """Admins see every store; staff the one they work for."""
    return principal is not None and (
        principal.role is Role.ADMIN or principal.store_id == store_id
    )


def is_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.role is Role.ADMIN


async def admin_nodes[T, N](
    info: Info[Context, None], node_ids: Iterable[str],
    load: Callable[[Store, list[str]], Awaitable[Mapping[str, T]]], build: Callable[[T], N],
) -> list[N | None]:
    """`resolve_nodes` of a type only administrators see: the records `load` finds, built
    as nodes, in the order asked; for anyone else every id resolves to null."""
    ids = list(node_ids)
    if not is_admin(info.context.principal):
        return [None for _ in ids]
    found = await load(info.context.store, ids)
    return [build(found[i]) if i in found else None for i in ids]


def may_read_members(principal: Principal | None) -> bool:
    """Admins, and shop systems (a CRM, say) whose API key has MEMBERS_READ."""
    return principal is not None and (
        principal.role is Role.ADMIN
        or (principal.role is Role.INTEGRATION and ApiKeyScope.MEMBERS_READ in principal.scopes)
    )


class IsTheMemberOrAdmin(BasePermission):
    """Fields of a member that only the member and administrators read (a shop system with
    MEMBERS_READ sees the profile, points and tier, not these)."""

    message = "Only the member or an administrator can see this."
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - strawberry's own attribute

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        return may_see_account(info.context.principal, str(source.id))


class _ScopedPermission(BasePermission):
    """Admins, or shop systems whose API key has `scope`."""

    scope: ApiKeyScope
    message = "This needs an administrator or an API key with the right scope."
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - strawberry's own attribute

    # Who, besides a shop system with the scope, may do it.
    people: frozenset[Role] = frozenset({Role.ADMIN})

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise StrawberryGraphQLError(
                "Sign in or use an API key to do this.", extensions={"code": "UNAUTHENTICATED"}
            )
        return principal.role in self.people or (
            principal.role is Role.INTEGRATION and self.scope in principal.scopes
        )


class CanRecordOrders(_ScopedPermission):
    scope = ApiKeyScope.ORDERS_WRITE


class CanRecordActions(_ScopedPermission):
    scope = ApiKeyScope.ACTIONS_WRITE


class CanReadMembers(_ScopedPermission):
    scope = ApiKeyScope.MEMBERS_READ


class CanRecordStoreOrders(CanRecordOrders):
    """Also store staff, for purchases and returns at their till (the use case checks the
    rest)."""

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is not None and principal.role is Role.STAFF:
            return True
        return super().has_permission(source, info, **kwargs)


class CanRedeemVouchers(_ScopedPermission):
    """Store staff at the till, or a shop system (ORDERS_WRITE) online."""

    scope = ApiKeyScope.ORDERS_WRITE
    people = frozenset({Role.STAFF})
    message = "Only store staff or a shop system can redeem vouchers."
