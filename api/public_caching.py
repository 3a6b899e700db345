"""HTTP caching of GraphQL answers to GET, conservatively.

Only a persisted query run by its hash over GET without credentials, answered 200 with no
`errors`, is public: an anonymous caller sees what every anonymous caller sees (there are
no cookies; authentication is the Authorization header), and the URL holds everything the
answer depends on (the hash, the variables). It gets a weak `ETag`, `Cache-Control:
public, …` and `Vary: Accept, Authorization` — so no shared cache hands the anonymous answer
to a request that carries a token — and `If-None-Match` with that tag gets 304 without a
body. Every other GraphQL answer to GET (a member's screen, an error) gets `Cache-Control:
private, no-store`. POST answers are not cached by HTTP caches anyway and are left alone.
"""

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types import ExecutionResult

from api.etags import none_match
from api.persisted_operations import PUBLIC_CANDIDATE

_ERROR_FREE = "kizuna.error_free"

_JSON_TYPES = ("application/json", "application/graphql-response+json")


def note_result(scope: Scope, result: ExecutionResult) -> None:
    """Called by the view with the result it answers: only one without `errors` may be
    public. Noted here, where the result is at hand, so the body need not be parsed again
    to find out."""
    if not result.errors:
        scope.setdefault("state", {})[_ERROR_FREE] = True


class PublicCaching:
    """Wraps the /graphql endpoint (GET requests only; the rest pass straight through)."""

    def __init__(self, app: ASGIApp, *, max_age: int, compressed: bool) -> None:
        self._app = app
        # api/compression.py adds `Vary: Accept-Encoding` to the JSON 200 but not to a 304
        # (no content type): the 304 must still say what the 200 says (RFC 9110 15.4.5).
        self._vary_304 = ("Accept-Encoding",) if compressed else ()
        # 0: caches may keep the answer but must revalidate it (a 304 costs no body).
        self._public = f"public, max-age={max_age}" if max_age else "public, no-cache"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self._app(scope, receive, send)
            return
        scope.setdefault("state", {})
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._finish(scope, start, b"".join(chunks), send)
            else:
                await send(message)

        await self._app(scope, receive, capture)

    async def _finish(self, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        headers = MutableHeaders(raw=list(start["headers"]))
        content_type = headers.get("content-type", "").split(";", 1)[0].strip()
        if content_type not in _JSON_TYPES:  # GraphiQL's page and the like: untouched
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        state = scope["state"]
        if not (state.get(PUBLIC_CANDIDATE) and state.get(_ERROR_FREE)
                and start["status"] == 200):
            headers["cache-control"] = "private, no-store"
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})
            return
        # Weak: a compressing middleware outside may send other bytes under the same tag
        # (If-None-Match compares weakly anyway).
        etag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers["etag"] = etag
        headers["cache-control"] = self._public
        headers["vary"] = _vary(headers.get("vary"), "Accept", "Authorization")
        if none_match(Headers(scope=scope).get("if-none-match"), etag):
            del headers["content-length"]
            del headers["content-type"]
            headers["vary"] = _vary(headers.get("vary"), *self._vary_304)
            await send({**start, "status": 304, "headers": headers.raw})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})




def _vary(existing: str | None, *names: str) -> str:
    present = [part.strip() for part in (existing or "").split(",") if part.strip()]
    lower = {part.lower() for part in present}
    return ", ".join(present + [name for name in names if name.lower() not in lower])
