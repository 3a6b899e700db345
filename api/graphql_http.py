"""GraphQL over HTTP (graphql.github.io/graphql-over-http/draft): the media type each
/graphql request is answered in, the status codes that go with it, and GraphQL-shaped JSON
errors for requests refused before GraphQL runs.

Two media types: `application/graphql-response+json` (status codes tell request errors,
400, from execution results, 200) and `application/json`, the legacy one, where every
well-formed GraphQL response is a 200 as clients written before the spec expect.
"""

from dataclasses import dataclass

from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import Scope
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from api.telemetry import scope_request_id

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
SUPPORTED = (GRAPHQL_RESPONSE_JSON, JSON)

_MEDIA = "kizuna.media_type"
_REQUEST_ERROR = "kizuna.request_error"


def negotiate(accept: str | None) -> str | None:
    """The supported media type `accept` prefers, or None when it allows neither.

    No header means `application/json` (the spec, until its watershed). A tie in quality
    goes to the range named more precisely, then to the one listed first, then to
    `application/json`: `*/*` alone gets `application/json`.
    """
    if accept is None or not accept.strip():
        return JSON
    ranges = [parsed for part in accept.split(",") if (parsed := _media_range(part))]
    best: tuple[float, int, int, int] | None = None
    chosen: str | None = None
    for preference, media in enumerate((JSON, GRAPHQL_RESPONSE_JSON)):
        match = _best_match(media, ranges)
        if match is None or match[0] <= 0:
            continue
        quality, precision, position = match
        score = (quality, precision, -position, -preference)
        if best is None or score > best:
            best, chosen = score, media
    return chosen


def _media_range(part: str) -> tuple[str, float] | None:
    """`type/subtype` (lower case) and its q of one element of an Accept header."""
    media, *parameters = (piece.strip() for piece in part.split(";"))
    if "/" not in media:
        return None
    quality = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return None
    return media.lower(), quality


def _best_match(media: str, ranges: list[tuple[str, float]]) -> tuple[float, int, int] | None:
    """q, precision (2 exact, 1 `type/*`, 0 `*/*`) and position of the range that applies
    to `media`: the most precise one, as RFC 9110 says."""
    kind = media.split("/", 1)[0]
    found: tuple[float, int, int] | None = None
    for position, (pattern, quality) in enumerate(ranges):
        if pattern == media:
            precision = 2
        elif pattern == f"{kind}/*":
            precision = 1
        elif pattern == "*/*":
            precision = 0
        else:
            continue
        if found is None or precision > found[1]:
            found = (quality, precision, position)
    return found


def start(scope: Scope) -> Response | None:
    """Notes the media type the request is answered in; a 406 response when the client
    accepts neither JSON type. A browser opening GraphiQL (`text/html`) gets the page."""
    headers = Headers(scope=scope)
    media = negotiate(headers.get("accept"))
    if media is None and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
        media = JSON
    scope.setdefault("state", {})[_MEDIA] = media or JSON
    if media is None:
        return error_response(
            scope, 406, "NOT_ACCEPTABLE",
            f"The Accept header allows neither {GRAPHQL_RESPONSE_JSON} nor {JSON}.",
        )
    return None


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    code: str
    message: str
    allow: str | None = None


# strawberry's reasons for refusing a request, in words that say what to send instead.
_REASONS = {
    "GraphQL only supports GET and POST requests.": _Refusal(
        405, "METHOD_NOT_ALLOWED", "Send GraphQL requests with GET (queries) or POST.",
        allow="GET, POST",
    ),
    "Unsupported content type": _Refusal(
        415, "UNSUPPORTED_MEDIA_TYPE",
        "Send the request body as JSON with `Content-Type: application/json`.",
    ),
    "Batching is not enabled": _Refusal(
        400, "BATCH_NOT_SUPPORTED",
        "Batched operations (a JSON array) are not supported: send one operation per "
        "request.",
    ),
    "No GraphQL query found in the request": _Refusal(
        400, "BAD_REQUEST",
        "No GraphQL query found in the request: send it as `query` (a string).",
    ),
}

_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
          413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


def http_operations(method: str) -> set[OperationType]:
    """What runs over HTTP: queries with GET or POST, mutations with POST only (a GET must
    change nothing). Subscriptions run over WebSocket (graphql-transport-ws)."""
    if method == "POST":
        return {OperationType.QUERY, OperationType.MUTATION}
    return {OperationType.QUERY}


def check_operation_name(operation_name: object) -> None:
    """strawberry checks the type of `query`, `variables` and `extensions`, not this one."""
    if not isinstance(operation_name, str | None):
        raise HTTPException(
            400, "The GraphQL operation's `operationName` must be a string or null, if provided."
        )


def not_executable(
    error: CannotGetOperationTypeError | InvalidOperationTypeError | MissingQueryError,
    method: str,
) -> HTTPException:
    """strawberry's refusal of a request whose operation cannot run, for `refusal`."""
    if isinstance(error, MissingQueryError):
        return HTTPException(400, "No GraphQL query found in the request")
    if isinstance(error, InvalidOperationTypeError):
        return HTTPException(400, error.as_http_error_reason(method))
    return HTTPException(400, error.as_http_error_reason())


def refusal(error: HTTPException, scope: Scope) -> Response:
    """A GraphQL-shaped JSON answer for a request strawberry refused before executing it."""
    cause = error.__cause__
    if isinstance(cause, CannotGetOperationTypeError):
        # `operationName` names no operation of the document: a GraphQL request error.
        errors = [{"message": error.reason,
                   "extensions": {"requestId": scope_request_id(scope)}}]
        if scope.get("state", {}).get(_MEDIA) == GRAPHQL_RESPONSE_JSON:
            return JSONResponse({"errors": errors}, status_code=400)
        return JSONResponse({"data": None, "errors": errors})
    if isinstance(cause, InvalidOperationTypeError):
        if cause.operation_type is OperationType.SUBSCRIPTION:
            refused = _Refusal(
                400, "BAD_REQUEST", "Subscriptions are served over WebSocket "
                "(the graphql-transport-ws protocol) at /graphql, not over HTTP.",
            )
        else:
            refused = _Refusal(
                405, "METHOD_NOT_ALLOWED", "Mutations are not allowed over GET: send them "
                "with POST.", allow="POST",
            )
    else:
        refused = _REASONS.get(error.reason) or _Refusal(
            error.status_code, _CODES.get(error.status_code, "BAD_REQUEST"), error.reason,
        )
    headers = {"allow": refused.allow} if refused.allow else None
    return error_response(
        scope, refused.status, refused.code, refused.message, headers=headers)


def error_response(
    scope: Scope, status: int, code: str, message: str, *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """GraphQL-shaped errors for a request refused before GraphQL ran, with the request id
    as GraphQL's own errors carry it."""
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {
            "code": code, "requestId": scope_request_id(scope)}}]},
        status_code=status, headers=headers,
    )


def shaped(scope: Scope, result: ExecutionResult, body: GraphQLHTTPResponse) -> GraphQLHTTPResponse:
    """`body` as the negotiated media type wants it: with `application/graphql-response+json`
    a request error (the document did not parse or validate, the variables did not coerce,
    the operation was not found: execution never started) has no `data` and answers 400."""
    state = scope.get("state", {})
    if state.get(_MEDIA) == GRAPHQL_RESPONSE_JSON and is_request_error(result):
        state[_REQUEST_ERROR] = True
        body.pop("data", None)
    return body


def is_request_error(result: ExecutionResult) -> bool:
    """No data and only errors that no field raised (a field's error carries its path)."""
    return result.data is None and bool(result.errors) and all(
        error.path is None for error in result.errors or ()
    )


def finish(response: Response, scope: Scope) -> None:
    """Sets the negotiated content type on a JSON answer, and 400 for a request error."""
    if not response.headers.get("content-type", "").startswith(JSON):
        return  # GraphiQL's page
    state = scope.get("state", {})
    response.headers["content-type"] = state.get(_MEDIA, JSON)
    if state.pop(_REQUEST_ERROR, False) and response.status_code == 200:
        response.status_code = 400
