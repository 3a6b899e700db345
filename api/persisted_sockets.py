"""The allow-list of trusted documents over the WebSocket (graphql-transport-ws): without
it a subscription, or a query sent over the socket, would bypass KIZUNA_TRUSTED_DOCUMENTS."""

from typing import Protocol

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from api.persisted_operations import PersistedOperations
from schema.context import Context


class _WithPersistedOperations(Protocol):
    @property
    def persisted_operations(self) -> PersistedOperations: ...


class AllowListedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws whose `subscribe` messages pass the allow-list first; a refused
    one gets the protocol's `error` message (the connection stays open)."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        view: _WithPersistedOperations = self.view  # type: ignore[assignment]
        if self.connection_acknowledged and message["id"] not in self.operations:
            refusal = await view.persisted_operations.socket_refusal(
                message["payload"].get("query"), self.context.principal)
            if refusal is not None:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [refusal.formatted]})
                return
        await super().handle_subscribe(message)
