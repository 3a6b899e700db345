"""Administration: stores, staff accounts and shop-system API keys."""

from typing import Annotated

import strawberry
from strawberry import Info, relay

from auth import api_keys
from auth.accounts import create_staff
from auth.roles import ApiKeyScope
from auth.stores import create_store, list_stores
from schema.context import Context
from schema.errors import UserError, returns_errors_in
from schema.nodes import ApiKey, ApiKeyScopeType, Staff
from schema.pagination import After, First, check_first, connection, decode_cursor
from schema.permissions import IsAdmin
from schema.shared import INPUT, StoreNode, node_id


@strawberry.input(description="A new store.")
class StoreCreateInput:
    code: str = strawberry.field(description="Short unique code, e.g. PARIS-01.")
    name: str = strawberry.field(description="Display name.")
    timezone: str = strawberry.field(default="UTC", description="IANA time zone.")


@strawberry.type(description="Result of storeCreate.")
class StoreCreatePayload:
    store: StoreNode | None = strawberry.field(default=None, description="The new store.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A new staff account, bound to one store.")
class StaffCreateInput:
    email: str = strawberry.field(description="Email used to sign in.")
    password: str = strawberry.field(description="Initial password.")
    name: str = strawberry.field(description="Full name.")
    store: relay.GlobalID = strawberry.field(description="The store they work for.")
    manager: bool = strawberry.field(
        default=False, description="Store manager: may void a redemption made at the store."
    )


@strawberry.type(description="Result of staffCreate.")
class StaffCreatePayload:
    staff: Staff | None = strawberry.field(default=None, description="The new staff account.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="A new API key for a shop system.")
class ApiKeyCreateInput:
    name: str = strawberry.field(description="What the key is for.")
    scopes: list[ApiKeyScopeType] = strawberry.field(
        description="What the key may do."
    )


@strawberry.type(description="Result of apiKeyCreate.")
class ApiKeyCreatePayload:
    api_key: ApiKey | None = strawberry.field(default=None, description="The new key.")
    secret: str | None = strawberry.field(
        default=None, description="The full key. Shown this once only: store it now."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.input(description="The API key to revoke.")
class ApiKeyRevokeInput:
    api_key: relay.GlobalID = strawberry.field(description="The key's id.")


@strawberry.type(description="Result of apiKeyRevoke.")
class ApiKeyRevokePayload:
    api_key: ApiKey | None = strawberry.field(default=None, description="The revoked key.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Problems.")


@strawberry.type
class AdminQueries:
    @strawberry.field(description="All stores, oldest first.", permission_classes=[IsAdmin])
    async def stores(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[StoreNode]:
        records, page = await list_stores(
            info.context.store, first=check_first(first), after_id=decode_cursor(after)
        )
        return connection(records, page, node=StoreNode.from_record, item_id=lambda r: r.id)

    @strawberry.field(description="All API keys, newest first.", permission_classes=[IsAdmin])
    async def api_keys(
        self, info: Info[Context, None], first: First = 20, after: After = None
    ) -> relay.Connection[ApiKey]:
        records, page = await api_keys.list_api_keys(
            info.context.store, first=check_first(first), after_id=decode_cursor(after)
        )
        return connection(records, page, node=ApiKey.from_record, item_id=lambda r: r.id)


@strawberry.type
class AdminMutations:
    @strawberry.mutation(description="Create a store.", permission_classes=[IsAdmin])
    @returns_errors_in(StoreCreatePayload)
    async def store_create(
        self, info: Info[Context, None], input: Annotated[StoreCreateInput, INPUT]
    ) -> StoreCreatePayload:
        record = await create_store(
            info.context.store, code=input.code, name=input.name, timezone=input.timezone,
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return StoreCreatePayload(store=StoreNode.from_record(record))

    @strawberry.mutation(description="Create a staff account for a store.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(StaffCreatePayload)
    async def staff_create(
        self, info: Info[Context, None], input: Annotated[StaffCreateInput, INPUT]
    ) -> StaffCreatePayload:
        account = await create_staff(
            info.context.store, info.context.services.authenticator.passwords,
            email=input.email, password=input.password, name=input.name,
            store_id=node_id(input.store, "Store", ("input", "store")),
            clock=info.context.services.clock, manager=input.manager, audit=info.context.audit,
        )
        return StaffCreatePayload(staff=Staff.from_account(account))

    @strawberry.mutation(description="Create an API key for a shop system.",
                         permission_classes=[IsAdmin])
    @returns_errors_in(ApiKeyCreatePayload)
    async def api_key_create(
        self, info: Info[Context, None], input: Annotated[ApiKeyCreateInput, INPUT]
    ) -> ApiKeyCreatePayload:
        principal = info.context.principal
        assert principal is not None  # noqa: S101 - IsAdmin guarantees it
        record, secret = await api_keys.create_api_key(
            info.context.store, name=input.name,
            scopes=[ApiKeyScope(scope.name) for scope in input.scopes],
            created_by=principal.subject_id, clock=info.context.services.clock,
            audit=info.context.audit,
        )
        return ApiKeyCreatePayload(api_key=ApiKey.from_record(record), secret=secret)

    @strawberry.mutation(description="Revoke an API key at once.", permission_classes=[IsAdmin])
    @returns_errors_in(ApiKeyRevokePayload)
    async def api_key_revoke(
        self, info: Info[Context, None], input: Annotated[ApiKeyRevokeInput, INPUT]
    ) -> ApiKeyRevokePayload:
        record = await api_keys.revoke_api_key(
            info.context.store, key_id=node_id(input.api_key, "ApiKey", ("input", "apiKey")),
            clock=info.context.services.clock, audit=info.context.audit,
        )
        return ApiKeyRevokePayload(api_key=ApiKey.from_record(record))
