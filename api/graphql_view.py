"""The /graphql endpoint: authentication, then strawberry's ASGI view with our context."""

import asyncio
import contextlib
import json
import time
from collections import Counter
from datetime import timedelta

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from api import graphql_http, public_caching
from api.graphiql_page import graphiql_page
from api.middleware import outage_response
from api.persisted_operations import PersistedOperations
from api.persisted_sockets import AllowListedTransportWS
from api.state import AppState
from api.telemetry import note_principal, operation_reporter, scope_request_id
from auth.api_keys import KEY_MARKER, authenticate_api_key
from auth.roles import Principal
from auth.sign_in import SignInEnded, authenticate
from auth.tokens import InvalidAccessToken
from schema.context import Context
from schema.error_reporting import Outage, outage_of
from schema.operation_report import report_refusal

_PRINCIPAL = "kizuna.principal"
_SOCKET = "kizuna.websocket"
_OUTAGE = "kizuna.outage"


class Unauthenticated(Exception):
    """Credentials were presented but cannot be trusted."""


class KizunaGraphQL(GraphQL[Context, None]):
    """Queries over GET or POST, mutations over POST only, no batching, and subscriptions
    only over graphql-transport-ws."""

    graphql_transport_ws_handler_class = AllowListedTransportWS

    def __init__(self, state: AppState) -> None:
        super().__init__(
            state.schema,
            graphql_ide=None if state.settings.production else "graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=state.settings.max_subscriptions_per_connection,
            # Web apps that may call the API over HTTP (CORS) may subscribe too.
            allowed_origins=state.settings.cors_origins,
        )
        self._state = state
        self._connections: Counter[str] = Counter()
        self.persisted_operations = PersistedOperations(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate first: a token that is present but not valid gets 401 and is never
        treated as anonymous. Requests refused before GraphQL runs get JSON errors too, in
        the media type the client accepts (api/graphql_http.py)."""
        if scope["type"] == "http" and (unacceptable := graphql_http.start(scope)) is not None:
            await unacceptable(scope, receive, send)
            return
        try:
            principal = await self._principal(Headers(scope=scope).get("authorization"))
        except Unauthenticated as error:
            refused = JSONResponse(
                {"errors": [{"message": str(error), "extensions": {
                    "code": "UNAUTHENTICATED", "requestId": scope_request_id(scope)}}]},
                status_code=401,
                headers={"www-authenticate": 'Bearer error="invalid_token"'},
            )
            if scope["type"] == "http":
                graphql_http.finish(refused, scope)
            await refused(scope, receive, send)
            return
        scope.setdefault("state", {})[_PRINCIPAL] = principal
        note_principal(scope, principal)  # for the access log, whatever happens next
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                self._closed(scope["state"].pop(_SOCKET, None))
            return
        response: Response
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            # strawberry answers these in plain text; a GraphQL client expects JSON errors.
            response = graphql_http.refusal(error, scope)
        outage: tuple[Outage, object] | None = scope["state"].pop(_OUTAGE, None)
        if outage is not None:
            # A 503 a client retries on, not a 200 it might take for an answer.
            response = outage_response(scope, outage[0], graphql=True, data=outage[1])
        graphql_http.finish(response, scope)
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Not for a GET that names a persisted operation, whatever its Accept says."""
        return super().should_render_graphql_ide(request) and (
            not self.persisted_operations.is_persisted_get(request.query_params))

    async def execute_operation(  # noqa: PLR0917 - strawberry's signature
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData], context: Context,
        root_value: None, sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        """Persisted operations (api/persisted_operations.py): a request may name a stored
        operation instead of sending its text, or be refused by the allow-list."""
        if isinstance(request_data, list):  # batches are refused before this
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response)
        started = time.perf_counter()
        resolved = await self.persisted_operations.resolve(request_data, request, context.principal)
        if isinstance(resolved, ExecutionResult):
            # Refused before the schema ran: told to the metrics and the access log as a
            # refused operation, with the request id in its errors like any other's.
            report_refusal(context, resolved, time.perf_counter() - started)
            return resolved
        result = await super().execute_operation(
            request, request_adapter, resolved.data, context, root_value, sub_response)
        if isinstance(result, ExecutionResult):
            await self.persisted_operations.registered(resolved, result, context.client_address)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Notes an outage of the database for `__call__`, which answers 503 for it: only
        for a whole response, since a streamed one has already started when this runs."""
        for error in result.errors or ():
            outage = outage_of(error.original_error)
            if outage is not None:
                request.scope["state"][_OUTAGE] = (outage, _some_data(result.data))
                break
        public_caching.note_result(request.scope, result)
        return graphql_http.shaped(
            request.scope, result, await super().process_result(request, result)
        )

    async def execute_single(  # noqa: PLR0917 - strawberry's signature
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response, context: Context, root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """strawberry's, but subscriptions are refused over HTTP (they run over WebSocket):
        strawberry would run their resolvers as a query's and fail."""
        graphql_http.check_operation_name(request_data.operation_name)
        try:
            return await self.schema.execute(
                request_data.query, root_value=root_value,
                variable_values=request_data.variables, context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=graphql_http.http_operations(request_adapter.method),
                operation_extensions=request_data.extensions,
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError,
                MissingQueryError) as error:
            raise graphql_http.not_executable(error, request_adapter.method) from error

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our GraphiQL page, which loads nothing from outside the app (api/graphiql_page.py),
        instead of strawberry's, which loads its scripts from a CDN."""
        page, _ = graphiql_page()
        return page.response(request)

    def decode_json(self, data: str | bytes) -> object:
        """JSON as the standard library reads it, but a document nested too deeply for it is
        the client's error, not a fault."""
        try:
            return json.loads(data)
        except RecursionError:
            raise HTTPException(400, "The JSON is nested too deeply.") from None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        client = request.client
        context = Context(
            services=self._state.services,
            principal=request.scope["state"][_PRINCIPAL],
            client_address=client.host if client else "unknown",
            request_id=scope_request_id(request.scope),
            transport=response if isinstance(response, WebSocket) else None,
            user_agent=request.headers.get("user-agent", ""),
        )
        operation_reporter(request.scope, context)  # the access log's and the metrics'
        return context

    @property
    def connections_open(self) -> int:
        """Signed-in WebSocket connections of this app now (for /metrics)."""
        return self._connections.total()

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """`connection_init` carries the bearer token (`{"authorization": "Bearer …"}`) unless
        the upgrade request did; the account may hold only so many connections; the token
        and its sign-in are checked again while the connection lives."""
        websocket = context.transport
        if not isinstance(websocket, WebSocket):
            raise ConnectionRejectionError
        token = _bearer_token(_authorization(context.connection_params or {}))
        if token is not None:
            try:
                context.principal = authenticate(self._state.services.authenticator, token)
            except (SignInEnded, InvalidAccessToken):
                raise ConnectionRejectionError from None
        else:
            token = _bearer_token(websocket.headers.get("authorization"))
        principal = context.principal
        if principal is None or token is None:
            raise ConnectionRejectionError
        if self._connections[principal.subject_id] >= (
            self._state.settings.max_connections_per_account
        ):
            raise ConnectionRejectionError
        self._connections[principal.subject_id] += 1
        watchdog = asyncio.create_task(self._watch(websocket, token), name="ws-auth-check")
        websocket.scope["state"][_SOCKET] = (principal.subject_id, watchdog)
        acknowledged: UnsetType = UNSET
        return acknowledged

    async def _watch(self, websocket: WebSocket, token: str) -> None:
        """Close the connection with 4403 once `token` has expired or its sign-in ended."""
        interval = self._state.settings.subscription_auth_check_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                authenticate(self._state.services.authenticator, token)
            except (SignInEnded, InvalidAccessToken):
                with contextlib.suppress(Exception):
                    await websocket.close(code=4403, reason="Forbidden: sign in again")
                return

    def _closed(self, connection: tuple[str, asyncio.Task[None]] | None) -> None:
        if connection is None:
            return
        account, watchdog = connection
        watchdog.cancel()
        self._connections[account] -= 1
        if self._connections[account] <= 0:
            del self._connections[account]

    async def _principal(self, authorization: str | None) -> Principal | None:
        if authorization is None:
            return None
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            raise Unauthenticated("Use `Authorization: Bearer <token>`.")
        if credentials.startswith(KEY_MARKER):
            principal = await authenticate_api_key(self._state.services.store, credentials)
            if principal is None:
                raise Unauthenticated("This API key is not valid.")
            return principal
        try:
            return authenticate(self._state.services.authenticator, credentials)
        except SignInEnded as ended:
            raise Unauthenticated(str(ended)) from None
        except InvalidAccessToken:
            raise Unauthenticated(
                "The access token is invalid or expired; refresh it or sign in."
            ) from None


def _bearer_token(authorization: object) -> str | None:
    if not isinstance(authorization, str):
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def _authorization(connection_params: dict[str, object]) -> object:
    """The `authorization` entry of connection_init's payload, whatever its case: GraphiQL
    sends its Headers tab there, where people write `Authorization`."""
    for key, value in connection_params.items():
        if key.lower() == "authorization":
            return value
    return None


def _some_data(data: dict[str, object] | None) -> dict[str, object] | None:
    """What the operation produced before the outage, if anything (a mutation next to the
    one that failed): the client needs it to know what not to send again."""
    return data if data and any(value is not None for value in data.values()) else None
