"""A static HTML page and its assets, served with security headers, a cache policy and
compression.

Used by the /scanner page and the GraphiQL page. The HTML is `no-cache` (revalidated with its
ETag on every load). Its asset URLs get `?v=<content hash>` appended when the routes are
built, and an asset requested with the hash of its current content is `immutable` for a
year; any other asset request (such as modules a script imports, whose URLs carry no hash)
is `no-cache`, revalidated with its ETag, so a deploy never leaves a browser running stale
JavaScript.

The files are read once, when the routes are built (to hash them), and served from memory:
what a `?v=<hash>` URL answers is always the content of that hash. A text asset is sent
brotli- or gzip-compressed as the client's Accept-Encoding prefers (api/compression.py's
`choose_encoding`). Each encoding of an asset is compressed once per process, the first time
it is asked for, in a worker thread (GraphiQL's 3.5 MB bundle takes ~0.2 s), and kept: later
requests send the cached bytes, and the event loop never compresses an asset. Every encoding
has an ETag of its own (the content hash, suffixed `-br` or `-gzip`), so a cache never takes
one encoding's bytes for another's; api/compression.py's middleware leaves alone an answer
that already has a Content-Encoding.
"""

import asyncio
import gzip
import hashlib
import mimetypes
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import brotli  # type: ignore[import-untyped]  # ships no type information
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketClose

from api.compression import choose_encoding, compressible
from api.etags import none_match

HTML_CACHE_CONTROL = "no-cache"
VERSIONED_ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
UNVERSIONED_ASSET_CACHE_CONTROL = "no-cache"
# Paid once per asset and process, not per request, so higher than api/compression.py's:
# on GraphiQL's 3.5 MB bundle, brotli 9 makes 630 kB in ~0.23 s (quality 11: 568 kB in
# ~6.7 s); gzip 9 makes 728 kB in ~0.22 s.
BROTLI_QUALITY = 9
GZIP_LEVEL = 9


@dataclass(frozen=True, slots=True)
class StaticPage:
    """index.html of a static directory, with its assets' URLs versioned."""

    body: bytes
    etag: str
    security_headers: Mapping[str, str]

    def response(self, request: Request) -> Response:
        """The page, or 304 when the client holds its current version."""
        headers = {
            **self.security_headers, "cache-control": HTML_CACHE_CONTROL, "etag": self.etag,
        }
        if none_match(request.headers.get("if-none-match"), self.etag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type="text/html; charset=utf-8", headers=headers)


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of a static directory, as read when the routes were built."""

    content: bytes
    media_type: str
    digest: str  # sha256, hex
    compressible: bool  # a text type, as api/compression.py counts them

    @property
    def version(self) -> str:
        """What `?v=` carries in the page's URLs."""
        return self.digest[:16]

    def etag(self, encoding: str | None) -> str:
        tag = self.digest[:32]
        return f'"{tag}-{encoding}"' if encoding else f'"{tag}"'


def static_page(
    static_dir: Path, *, asset_prefix: str, security_headers: Mapping[str, str]
) -> tuple[StaticPage, "StaticAssets"]:
    """The page built from `static_dir/index.html` and the ASGI app serving the directory's
    files (to mount where `asset_prefix` leads, relative to the page's URL).

    In index.html, a quoted `<asset_prefix>/<file>` gets `?v=<hash of file>` appended. Reads
    the files once; raises FileNotFoundError when index.html is missing or refers to an
    asset that does not exist.
    """
    files = read_assets(static_dir)
    if "index.html" not in files:
        raise FileNotFoundError(static_dir / "index.html")
    html = versioned_html(
        files["index.html"].content.decode("utf-8"),
        {name: asset.version for name, asset in files.items()},
        asset_prefix=asset_prefix,
    )
    body = html.encode("utf-8")
    page = StaticPage(
        body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
        security_headers=security_headers,
    )
    return page, StaticAssets(files, security_headers)


def read_assets(static_dir: Path) -> dict[str, Asset]:
    """Each file under static_dir, by its path relative to static_dir."""
    files: dict[str, Asset] = {}
    for path in sorted(static_dir.rglob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or "text/plain"
        files[path.relative_to(static_dir).as_posix()] = Asset(
            content=content,
            media_type=media_type,
            digest=hashlib.sha256(content).hexdigest(),
            compressible=compressible(Headers(headers={"content-type": media_type})),
        )
    return files


def versioned_html(html: str, versions: Mapping[str, str], *, asset_prefix: str) -> str:
    """`html` with `?v=<version>` after each quoted `<asset_prefix>/<file>`."""
    reference = re.compile(
        rf"""(?<=["']){re.escape(asset_prefix)}/([A-Za-z0-9_./-]+)(?=["'])"""
    )

    def versioned(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in versions:
            raise FileNotFoundError(f"index.html refers to a missing asset: {name}")
        return f"{match.group(0)}?v={versions[name]}"

    return reference.sub(versioned, html)


def compress(content: bytes, encoding: str) -> bytes:
    """`content` in `encoding` (`br` or `gzip`); slow on large files, run off the loop."""
    if encoding == "br":
        compressed: bytes = brotli.compress(content, quality=BROTLI_QUALITY)
        return compressed
    return gzip.compress(content, compresslevel=GZIP_LEVEL, mtime=0)


@dataclass(slots=True)
class CompressedAssets:
    """Each asset's compressed bytes per encoding, made once and kept for the process.

    Keyed by content hash, so two files of the same content share an entry. A thread lock
    per entry, taken in the worker thread, makes concurrent first requests wait for one
    compression rather than each doing it (an asyncio lock would tie the cache to one event
    loop, and GraphiQL's assets live as long as the process).
    """

    _bytes: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    async def get(self, asset: Asset, encoding: str) -> bytes | None:
        """The asset in `encoding`, or None when compressing does not make it smaller."""
        key = (asset.digest, encoding)
        if key in self._bytes:
            return self._bytes[key]
        return await asyncio.to_thread(self._make, asset, encoding)

    def cached(self, asset: Asset, encoding: str) -> bytes | None:
        """What `get` keeps, without compressing (None when not made yet or not smaller)."""
        return self._bytes.get((asset.digest, encoding))

    def _make(self, asset: Asset, encoding: str) -> bytes | None:
        key = (asset.digest, encoding)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._bytes:
                packed = compress(asset.content, encoding)
                self._bytes[key] = packed if len(packed) < len(asset.content) else None
            return self._bytes[key]


class StaticAssets:
    """The ASGI app serving a static directory's files (GET and HEAD), with the security
    headers and the cache policy on every response, compressed as the module says."""

    def __init__(
        self, files: Mapping[str, Asset], security_headers: Mapping[str, str]
    ) -> None:
        self.files = files
        self.security_headers = security_headers
        self.compressed = CompressedAssets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket handshake to the mount
            await WebSocketClose()(scope, receive, send)
            return
        response = await self._response(Request(scope))
        await response(scope, receive, send)

    async def _response(self, request: Request) -> Response:
        scope = request.scope
        # Under the Mount, `path` is the full path and `root_path` ends with the mount's prefix.
        name = scope["path"].removeprefix(scope.get("root_path", "")).lstrip("/")
        asset = self.files.get(name)
        requested = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
        versioned = asset is not None and requested == [asset.version]
        headers = {
            **self.security_headers,
            "cache-control": (
                VERSIONED_ASSET_CACHE_CONTROL if versioned else UNVERSIONED_ASSET_CACHE_CONTROL
            ),
        }
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={**headers, "allow": "GET, HEAD"}
            )
        if asset is None:
            return PlainTextResponse("Not Found", status_code=404, headers=headers)

        body, encoding = asset.content, None
        if asset.compressible:
            headers["vary"] = "Accept-Encoding"
            wanted = choose_encoding(request.headers.get("accept-encoding"))
            packed = await self.compressed.get(asset, wanted) if wanted else None
            if packed is not None:
                body, encoding = packed, wanted
        headers["etag"] = asset.etag(encoding)
        if none_match(request.headers.get("if-none-match"), headers["etag"]):
            return Response(status_code=304, headers=headers)
        if encoding is not None:
            headers["content-encoding"] = encoding
        headers["content-length"] = str(len(body))
        return Response(
            b"" if request.method == "HEAD" else body, media_type=asset.media_type,
            headers=headers,
        )
