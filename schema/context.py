"""What every resolver receives: the caller, the services, per-request loaders."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from strawberry.dataloader import DataLoader

from auth.accounts import Account, get_accounts
from auth.api_keys import ApiKey, get_api_keys
from auth.data_export import DataRights
from auth.roles import Principal, Role
from auth.sign_in import Authenticator
from auth.stores import ShopStore, get_stores
from events.audit import Audit
from events.feed import EventFeed
from loyalty.ledger.snapshot import MemberSnapshot, read_snapshots
from loyalty.members.admin_view import MemberFacts, member_facts
from scanner.cards import card_ids
from scanner.desk import ScanDesk
from scanner.qr import QrRenderer
from schema.operation_report import OperationReport
from store import Store
from store.clock import Clock


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived collaborators, built once at start-up."""

    store: Store
    authenticator: Authenticator
    clock: Clock
    scanning: ScanDesk
    qr: QrRenderer
    feed: EventFeed
    """This process's live feed of the outbox (subscriptions read it)."""
    data_rights: DataRights
    """The personal data every package declares (api/privacy.py) and the export's links."""
    webhook_private_targets: bool = False
    """Whether webhook endpoints may be http:// and private addresses (development)."""
    leaderboard_name_blocklist: tuple[str, ...] = ()
    """Words no leaderboard display name may contain (comparison form; api.settings)."""
    jobs_due: asyncio.Event = field(default_factory=asyncio.Event)
    """Set it to run this instance's background jobs now rather than at their interval
    (after a change they should act on, such as a new tier)."""


class Loaders:
    """DataLoaders batch every lookup of one request into one query per kind."""

    def __init__(self, store: Store) -> None:
        self.accounts = DataLoader[str, Account | None](
            lambda ids: _ordered(get_accounts(store, list(ids)), ids)
        )
        self.stores = DataLoader[str, ShopStore | None](
            lambda ids: _ordered(get_stores(store, list(ids)), ids)
        )
        self.members = DataLoader[str, MemberSnapshot](lambda ids: _snapshots(store, ids))
        """A member's totals and open lots, read once per request for every screen field."""
        self.member_facts = DataLoader[str, MemberFacts | None](
            lambda ids: _ordered(member_facts(store, list(ids)), ids)
        )
        self.card_ids = DataLoader[str, str | None](
            lambda ids: _ordered(card_ids(store, list(ids)), ids)
        )
        self.api_keys = DataLoader[str, ApiKey | None](
            lambda ids: _ordered(get_api_keys(store, list(ids)), ids)
        )


async def _ordered[V](found: Awaitable[dict[str, V]], ids: Sequence[str]) -> list[V | None]:
    by_id = await found
    return [by_id.get(key) for key in ids]


async def _snapshots(store: Store, ids: Sequence[str]) -> list[MemberSnapshot]:
    found = await read_snapshots(store, ids)
    return [found[member_id] for member_id in ids]


@dataclass(slots=True)
class Context:
    services: Services
    principal: Principal | None
    client_address: str
    request_id: str = field(default_factory=lambda: new_request_id())
    """The request's id (the client's `X-Request-ID` when it is a sane one): audit records
    carry it."""
    loaders: Loaders = field(init=False)
    connection_params: dict[str, object] | None = None
    """A WebSocket's `connection_init` payload (strawberry sets it)."""
    transport: object | None = None
    """The WebSocket this context serves, for `api` (resolvers never use it)."""
    user_agent: str = ""
    """The client's User-Agent header (recorded with a sign-in, shown in `sessions`)."""
    report_operation: Callable[[OperationReport], None] | None = None
    """Told how each operation ended (api's access log and metrics), if anyone listens."""

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.services.store)

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def audit(self) -> Audit:
        """The caller as the audit trail records them (mutations that write pass it to
        their use case); only for a signed-in caller, which permissions guarantee."""
        principal = self.principal
        assert principal is not None  # noqa: S101 - permissions guarantee a principal
        return Audit(
            principal_id=principal.subject_id, role=principal.role.value,
            client_address=self.client_address, request_id=self.request_id,
            store_id=principal.store_id,
            api_key_id=principal.subject_id if principal.role is Role.INTEGRATION else None,
        )

    async def member_birthday(self) -> date | None:
        """The signed-in account's birthday (segments by birthday month need it)."""
        if self.principal is None:
            return None
        account = await self.loaders.accounts.load(self.principal.subject_id)
        return account.birthday if account is not None else None



MAX_REQUEST_ID_LENGTH = 128
_REQUEST_ID_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")


def new_request_id() -> str:
    return secrets.token_hex(16)


def request_id(header: str | None) -> str:
    """The client's request id when it is 1–128 letters, digits or `-_.:` (a proxy's or a
    shop system's correlation id), else a new one: a hostile header never reaches a
    record."""
    if header and len(header) <= MAX_REQUEST_ID_LENGTH and set(header) <= _REQUEST_ID_CHARACTERS:
        return header
    return new_request_id()
