"""The /graphql endpoint: strawberry's ASGI view with our context and transport rules."""

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.state import AppState
from auth.api_keys import KEY_MARKER, authenticate_api_key
from auth.roles import Principal
from auth.tokens import InvalidAccessToken
from schema.context import Context


class KizunaGraphQL(GraphQL[Context, None]):
    """Queries over GET or POST, mutations over POST only, no batching, and subscriptions
    only over graphql-transport-ws."""

    def __init__(self, state: AppState) -> None:
        super().__init__(
            state.schema,
            graphql_ide=None if state.settings.production else "graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self._state = state

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        principal = await self._principal(request.headers.get("authorization"))
        client = request.client
        return Context(
            services=self._state.services,
            principal=principal,
            client_address=client.host if client else "unknown",
        )

    async def _principal(self, authorization: str | None) -> Principal | None:
        """The caller behind the bearer token; a token that is present but not valid is
        rejected with 401, never treated as anonymous."""
        if authorization is None:
            return None
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise HTTPException(401, "Use `Authorization: Bearer <token>`.")
        if credentials.startswith(KEY_MARKER):
            principal = await authenticate_api_key(self._state.services.store, credentials)
            if principal is None:
                raise HTTPException(401, "This API key is not valid.")
            return principal
        try:
            return self._state.services.authenticator.access_tokens.verify(credentials)
        except InvalidAccessToken:
            raise HTTPException(
                401, "The access token is invalid or expired; refresh it or sign in."
            ) from None
