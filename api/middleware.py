"""HTTP-level limits that apply before any GraphQL parsing, and answers for requests that
fail because the database does."""

import json

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.telemetry import scope_request_id
from schema.error_reporting import Outage, log_outage, outage_of


class BodySizeLimit:
    """Answers 413 when a request body is larger than `max_bytes` (declared or streamed)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(scope, send)
                return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _too_large(scope, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send) -> None:
    body = json.dumps({"errors": [{"message": "Request body too large.", "extensions": {
        "code": "PAYLOAD_TOO_LARGE", "requestId": scope_request_id(scope)}}]}).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


class DatabaseOutage:
    """Answers 503 with Retry-After, never a bare 500, when a request fails because the
    database is unreachable, restarting or out of disk: before GraphQL runs (an API key
    looked up) or on any other route. Resolvers' failures are the GraphQL view's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            outage = outage_of(error)
            if outage is None or response_started:
                raise
            log_outage(outage, error)
            graphql = scope["path"].startswith("/graphql")
            await outage_response(scope, outage, graphql=graphql)(scope, receive, send)


def outage_response(
    scope: Scope, outage: Outage, *, graphql: bool, data: object = None
) -> JSONResponse:
    """What a client is told about an outage: GraphQL-shaped errors (with what `data` the
    operation produced before it) for /graphql, `{"error": …}` like other routes' errors."""
    body: dict[str, object]
    if graphql:
        body = {"errors": [{"message": outage.message, "extensions": {
            "code": outage.code, "requestId": scope_request_id(scope)}}]}
        if data is not None:
            body["data"] = data
    else:
        body = {"error": outage.message, "code": outage.code}
    return JSONResponse(
        body, status_code=503, headers={"retry-after": str(outage.retry_after_seconds)}
    )
