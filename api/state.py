"""What the running app holds: settings, schema and, once started, the services."""

from dataclasses import dataclass, field

import strawberry

from api.settings import Settings
from auth.keys import Keyring
from schema.context import Services


@dataclass(slots=True)
class AppState:
    settings: Settings
    schema: strawberry.Schema
    _services: Services | None = field(default=None)
    keyring: Keyring | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the app has not started (lifespan not run)")
        return self._services

    def start(self, services: Services, keyring: Keyring) -> None:
        self._services = services
        self.keyring = keyring

    def stop(self) -> None:
        self._services = None
