"""CORS for web apps on other origins: an explicit allow-list of exact origins, never
credentials (clients send bearer tokens, not cookies), preflights cached by the browser.

Starlette's CORSMiddleware is not used: it answers a refused preflight with the allowed
methods and headers anyway, and sends `Vary: Origin` only to requests that carry an
Origin, so a shared cache can hand an answer without CORS headers to a web app.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-request-id",
    # Apollo Client's and Apollo's CSRF-prevention headers.
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
)
EXPOSED_HEADERS = ("x-request-id", "retry-after")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    origins: frozenset[str]
    max_age_seconds: int = 600


def parse_origins(value: str) -> tuple[tuple[str, ...], list[str]]:
    """The origins of a comma-separated list, normalised as browsers send them (lower
    case, no default port), and a problem for each entry that is not `scheme://host[:port]`
    with scheme http or https."""
    origins: list[str] = []
    problems: list[str] = []
    for entry in (piece.strip() for piece in value.split(",")):
        if not entry:
            continue
        origin = normalise_origin(entry)
        if origin is None:
            problems.append(
                f"{entry!r} is not an origin (http:// or https://, a host and maybe a port; "
                "no path, no wildcard)"
            )
        elif origin not in origins:
            origins.append(origin)
    return tuple(origins), problems


def normalise_origin(entry: str) -> str | None:
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if (
        parts.scheme.lower() not in _DEFAULT_PORTS or not host or "*" in entry
        or parts.username is not None or parts.password is not None
        or parts.path or parts.query or parts.fragment or entry.endswith(("?", "#"))
    ):
        return None
    scheme = parts.scheme.lower()
    shown_host = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{shown_host}"
    return f"{scheme}://{shown_host}:{port}"


class Cors:
    """Answers preflights itself and adds CORS headers to answers for allowed origins;
    every HTTP answer says `Vary: Origin`, since its headers depend on it."""

    def __init__(self, app: ASGIApp, *, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin is not None and (
            "access-control-request-method" in headers
        ):
            await self._preflight(scope, headers, origin)(scope, receive, send)
            return
        allowed = origin is not None and origin in self.policy.origins

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if allowed and origin is not None:
                    response_headers["access-control-allow-origin"] = origin
                    response_headers["access-control-expose-headers"] = ", ".join(
                        EXPOSED_HEADERS
                    )
            await send(message)

        await self.app(scope, receive, with_cors)

    def _preflight(self, scope: Scope, headers: Headers, origin: str) -> Response:
        method = headers["access-control-request-method"].strip()
        requested = _header_names(headers.get("access-control-request-headers", ""))
        refused_headers = sorted(set(requested) - set(ALLOWED_HEADERS))
        if origin not in self.policy.origins:
            problem = f"The origin {origin} may not call this API from a browser."
        elif method not in ALLOWED_METHODS:
            problem = f"The method {method} is not allowed: use GET or POST."
        elif refused_headers:
            problem = f"The request headers {', '.join(refused_headers)} are not allowed."
        else:
            return Response(status_code=204, headers={
                "access-control-allow-origin": origin,
                "access-control-allow-methods": ", ".join(ALLOWED_METHODS),
                "access-control-allow-headers": ", ".join(ALLOWED_HEADERS),
                "access-control-max-age": str(self.policy.max_age_seconds),
                "vary": "Origin",
            })
        # No CORS headers: the browser refuses the actual request and shows why.
        body: object = (
            {"errors": [{"message": problem, "extensions": {"code": "CORS_REFUSED"}}]}
            if scope["path"].startswith("/graphql") else {"error": problem, "code": "CORS_REFUSED"}
        )
        return JSONResponse(body, status_code=403, headers={"vary": "Origin"})


def _header_names(value: str) -> Iterable[str]:
    return [name.strip().lower() for name in value.split(",") if name.strip()]
