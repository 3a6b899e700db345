"""Request ids, the access log and the HTTP metrics: one pure ASGI middleware, outside
every other, so it sees every answer (413, 401, 503 included) and never buffers one.

Each HTTP request gets an id (the client's `X-Request-ID` when it is a sane one, else a
new one), echoed in the `X-Request-ID` response header, bound to the logging context for
every line logged while the request runs, put in GraphQL errors' `extensions.requestId`
and in audit records. A WebSocket connection gets one id for its life.

The access log has one line per HTTP request and two per WebSocket connection (when it
is accepted, when it ends; one if it is refused). What it holds is documented in
docs/operations.md#access-log: never a query string, a token, an e-mail address, a name or
a client address.
"""

import functools
import logging
import time
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from api.logs import structured_logger
from api.metrics import Metrics, bounded_name
from auth.roles import Principal, Role
from schema.context import Context, request_id
from schema.operation_report import FAULT_CODE, OperationReport

NOTE = "kizuna.request"
"""The scope-state key of the request's RequestNote (read by api.graphql_view)."""
_HEADER = b"x-request-id"
_REQUEST_ID = "kizuna.request_id"
_PRINCIPAL_KINDS = {Role.MEMBER: "member", Role.STAFF: "staff", Role.ADMIN: "admin",
                    Role.INTEGRATION: "api_key"}


@dataclass(slots=True)
class RequestNote:
    """What the layers below tell the access log about a request or connection."""

    request_id: str
    telemetry: "RequestTelemetry"
    principal: str | None = None
    operation: str | None = None
    operation_type: str | None = None
    operations: int = 0
    errors: int = 0
    payload_errors: int = 0


def principal_kind(principal: Principal | None) -> str:
    """anonymous, member, staff, admin or api_key: never who."""
    return "anonymous" if principal is None else _PRINCIPAL_KINDS[principal.role]


def scope_request_id(scope: Scope) -> str:
    """The request's id as the middleware chose it (or, without the middleware, from the
    header the same way, once per request): for every answer's errors, GraphQL's or not."""
    state = scope.setdefault("state", {})
    note: RequestNote | None = state.get(NOTE)
    if note is not None:
        return note.request_id
    chosen: str | None = state.get(_REQUEST_ID)
    if chosen is None:
        chosen = state[_REQUEST_ID] = request_id(_header(scope))
    return chosen


def note_principal(scope: Scope, principal: Principal | None) -> None:
    """Tell the access log what kind of caller this is as soon as it is known: a request
    refused before any operation ran is logged with it too."""
    note: RequestNote | None = scope.get("state", {}).get(NOTE)
    if note is not None:
        note.principal = principal_kind(principal)


def operation_reporter(scope: Scope, context: Context) -> None:
    """Have `context` report its operations to the middleware of this request, if any."""
    note: RequestNote | None = scope.get("state", {}).get(NOTE)
    if note is not None:
        context.report_operation = functools.partial(
            note.telemetry.operation_done, note, context)


class RequestTelemetry:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._access = structured_logger("kizuna.access")
        self._errors = structured_logger("kizuna.http")
        self._enabled = logging.getLogger("kizuna.access").isEnabledFor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def operation_done(self, note: RequestNote, context: Context,
                       report: OperationReport) -> None:
        note.principal = principal_kind(context.principal)
        note.operation = bounded_name(report.name)
        note.operation_type = report.type
        note.operations += 1
        note.errors += len(report.error_codes)
        note.payload_errors += len(report.payload_error_codes)
        self.metrics.operation(report)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        note = RequestNote(request_id=request_id(_header(scope)), telemetry=self)
        scope.setdefault("state", {})[NOTE] = note
        tokens = bind_contextvars(request_id=note.request_id)
        status = 500
        sent = 0
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal status, sent, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (_HEADER, note.request_id.encode())]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if response_started:
                raise
            # Logged here, with the request id, and answered here, with it too: nothing
            # further out would put it on the 500. Outside CORS, so a page on another
            # origin cannot read it (docs/operations.md#logs): the log has the fault.
            self._errors.exception("unhandled error")
            await _fault(note, tracking_send)
        finally:
            seconds = time.perf_counter() - started
            route = _route(scope)
            self.metrics.request(route or "unmatched", scope["method"], status, seconds)
            if self._enabled(logging.INFO):
                self._access.info(
                    "request", method=scope["method"], path=route,
                    status=status, duration_ms=round(seconds * 1000, 2), bytes=sent,
                    operation=note.operation, operation_type=note.operation_type,
                    principal=note.principal, errors=note.errors,
                    payload_errors=note.payload_errors)
            reset_contextvars(**tokens)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        note = RequestNote(request_id=request_id(_header(scope)), telemetry=self)
        scope.setdefault("state", {})[NOTE] = note
        tokens = bind_contextvars(request_id=note.request_id)
        close_code: int | None = None

        async def tracking_send(message: Message) -> None:
            nonlocal close_code
            if message["type"] == "websocket.accept":
                self._access.info("websocket open", path=_route(scope))
            elif message["type"] == "websocket.close":
                close_code = message.get("code", 1000)
            await send(message)

        async def tracking_receive() -> Message:
            nonlocal close_code
            message = await receive()
            if message["type"] == "websocket.disconnect" and close_code is None:
                close_code = message.get("code", 1005)
            return message

        try:
            await self.app(scope, tracking_receive, tracking_send)
        finally:
            self._access.info(
                "websocket close", path=_route(scope), code=close_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                principal=note.principal, operations=note.operations, errors=note.errors)
            reset_contextvars(**tokens)


def _header(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER:
            found: str = value.decode("latin-1")
            return found
    return None


def _route(scope: Scope) -> str | None:
    """The matched route's template (`/data-export/{token}`: never the token itself);
    None for a path no route matched, which is whatever a client typed and never logged."""
    route = scope.get("route")
    if route is None:
        # Answered before routing (a CORS preflight or refusal, a 413): the route the path
        # would have reached, as the router matches it (a method it does not take included).
        route = _matching_route(scope)
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else None


def _matching_route(scope: Scope) -> BaseRoute | None:
    partial: BaseRoute | None = None
    for route in getattr(scope.get("app"), "routes", ()):
        if not isinstance(route, BaseRoute):
            continue
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


async def _fault(note: RequestNote, send: Send) -> None:
    body = (b'{"errors":[{"message":"Internal server error.","extensions":{"code":"'
            + FAULT_CODE.encode() + b'","requestId":"' + note.request_id.encode() + b'"}}]}')
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
