"""Compressed answers: brotli or gzip, as the client's Accept-Encoding prefers, for text and
JSON answers of at least a threshold size.

Only whole answers (one body message) are compressed: a streamed answer goes out as it is
made, since holding it back to compress would delay what the client is waiting for. Images
(PNG QR codes) are compressed already and are left alone.
"""

import asyncio
import gzip

import brotli  # type: ignore[import-untyped]  # ships no type information
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Measured on the 359 kB introspection answer (docs/http.md): brotli 5 makes 35 kB in
# ~3 ms, gzip 5 makes 42 kB in ~3 ms; higher levels cost far more for little.
BROTLI_QUALITY = 5
GZIP_LEVEL = 5
# Bodies this large are compressed off the event loop (zlib and brotli release the GIL).
_OFF_LOOP_BYTES = 64 * 1024

_COMPRESSIBLE = (
    "application/json",
    "application/graphql-response+json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
    "text/",
)
_NEVER = ("text/event-stream",)  # a stream must reach the client event by event


def choose_encoding(accept_encoding: str | None) -> str | None:
    """`br` or `gzip`, whichever the header ranks higher (brotli on a tie, being smaller),
    or None when it accepts neither; `q=0` refuses a coding, `*` stands for the others."""
    if not accept_encoding:
        return None
    qualities: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        coding = coding.lower()
        qualities["gzip" if coding == "x-gzip" else coding] = quality
    wildcard = qualities.get("*", 0.0)
    br = qualities.get("br", wildcard)
    gz = qualities.get("gzip", wildcard)
    if br > 0 and br >= gz:
        return "br"
    return "gzip" if gz > 0 else None


def compressible(headers: Headers) -> bool:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return (
        "content-encoding" not in headers
        and media.startswith(_COMPRESSIBLE)
        and not media.startswith(_NEVER)
    )


def compress(body: bytes, encoding: str) -> bytes:
    if encoding == "br":
        compressed: bytes = brotli.compress(body, quality=BROTLI_QUALITY)
        return compressed
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


class Compression:
    """Compresses whole answers of at least `min_bytes` with a compressible content type;
    every such answer says `Vary: Accept-Encoding`, compressed or not, for caches."""

    def __init__(self, app: ASGIApp, *, min_bytes: int) -> None:
        self.app = app
        self.min_bytes = min_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "HEAD":
            await self.app(scope, receive, send)
            return
        encoding = choose_encoding(Headers(scope=scope).get("accept-encoding"))
        _compare_weakly(scope)
        held: Message | None = None
        decided = False

        async def compressing(message: Message) -> None:
            nonlocal held, decided
            if decided:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if message["status"] in (204, 304) or not compressible(headers):
                    decided = True
                    await send(message)
                    return
                if "accept-encoding" not in headers.get("vary", "").lower():
                    headers.add_vary_header("Accept-Encoding")  # once, if the app said it too
                if encoding is None:
                    decided = True
                    await send(message)
                    return
                held = message
                return
            if message["type"] != "http.response.body" or held is None:
                await send(message)
                return
            decided = True
            body: bytes = message.get("body", b"")
            if message.get("more_body", False) or len(body) < self.min_bytes:
                await send(held)
                await send(message)
                return
            assert encoding is not None  # noqa: S101 - a response is held only with one
            if len(body) >= _OFF_LOOP_BYTES:
                body = await asyncio.to_thread(compress, body, encoding)
            else:
                body = compress(body, encoding)
            headers = MutableHeaders(scope=held)
            headers["content-encoding"] = encoding
            headers["content-length"] = str(len(body))
            etag = headers.get("etag")
            if etag is not None and etag.startswith('"'):
                # The compressed bytes differ: a strong validator would claim otherwise.
                headers["etag"] = f"W/{etag}"
            await send(held)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, compressing)


def _compare_weakly(scope: Scope) -> None:
    """If-None-Match compares validators weakly (RFC 9110 13.1.2): a client sends back the
    weak ETag of a compressed answer, and the routes behind, which compare strings, see
    the validator they made."""
    if any(name == b"if-none-match" and b"W/" in value for name, value in scope["headers"]):
        scope["headers"] = [
            (name, value.replace(b"W/", b"") if name == b"if-none-match" else value)
            for name, value in scope["headers"]
        ]
