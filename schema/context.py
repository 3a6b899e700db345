"""What every resolver receives: the caller, the services, per-request loaders."""

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from auth.accounts import Account, get_accounts
from auth.roles import Principal
from auth.sign_in import Authenticator
from auth.stores import ShopStore, get_stores
from scanner.qr import QrRenderer
from scanner.redemption import ScanDesk
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


class Loaders:
    """DataLoaders batch every lookup of one request into one query per kind."""

    def __init__(self, store: Store) -> None:
        self.accounts = DataLoader[str, Account | None](
            lambda ids: _ordered(get_accounts(store, list(ids)), ids)
        )
        self.stores = DataLoader[str, ShopStore | None](
            lambda ids: _ordered(get_stores(store, list(ids)), ids)
        )


async def _ordered[V](found: Awaitable[dict[str, V]], ids: Sequence[str]) -> list[V | None]:
    by_id = await found
    return [by_id.get(key) for key in ids]


@dataclass(slots=True)
class Context:
    services: Services
    principal: Principal | None
    client_address: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.services.store)

    @property
    def store(self) -> Store:
        return self.services.store

