"""The staff scanner page: `/scanner` (HTML) and `/scanner/assets/…` (its static files).

Plain static HTML/CSS/JS under `api/static/scanner/` (no build step); the page talks to
`/graphql` like any client. Every response carries a strict Content-Security-Policy (only
'self' scripts, styles and connections; no inline script, no eval, Trusted Types enforced)
and a Permissions-Policy that allows the camera for this origin only.

Caching: the HTML is `no-cache` (revalidated with its ETag on every load). Its asset URLs
get `?v=<content hash>` appended when the routes are built, and an asset requested with the
hash of its current content is `immutable` for a year; any other asset request (such as the
modules scanner.js imports, whose URLs carry no hash) is `no-cache`, revalidated with its
ETag, so a deploy never leaves a phone running stale JavaScript.
"""

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static" / "scanner"
PAGE_PATH = "/scanner"
ASSETS_PATH = "/scanner/assets"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "manifest-src 'self'",
    "base-uri 'none'",
    # The forms are submitted by scanner.js; should the script ever fail to load, the browser
    # must not submit the password form itself.
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
])
PERMISSIONS_POLICY = (
    "camera=(self), microphone=(), geolocation=(), payment=(), usb=(), "
    "display-capture=(), interest-cohort=()"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "permissions-policy": PERMISSIONS_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-robots-tag": "noindex, nofollow",
}
HTML_CACHE_CONTROL = "no-cache"
VERSIONED_ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
UNVERSIONED_ASSET_CACHE_CONTROL = "no-cache"

# `scanner/assets/<file>` inside a quoted attribute of index.html (relative to /scanner).
_ASSET_REFERENCE = re.compile(r"""(?<=["'])scanner/assets/([A-Za-z0-9_./-]+)(?=["'])""")


def scanner_routes(static_dir: Path = STATIC_DIR) -> list[BaseRoute]:
    """The `/scanner` page and its `/scanner/assets` mount.

    Reads the static files once, to hash them; raises FileNotFoundError when index.html is
    missing or refers to an asset that does not exist.
    """
    versions = _asset_versions(static_dir)
    html = _versioned_html((static_dir / "index.html").read_text("utf-8"), versions)
    body = html.encode("utf-8")
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'

    async def page(request: Request) -> Response:
        headers = {**SECURITY_HEADERS, "cache-control": HTML_CACHE_CONTROL, "etag": etag}
        if etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    assets = _AssetHeaders(
        GZipMiddleware(StaticFiles(directory=static_dir), minimum_size=1024), versions
    )
    return [
        Route(PAGE_PATH, page, methods=["GET", "HEAD"], name="scanner"),
        Mount(ASSETS_PATH, app=assets, name="scanner-assets"),
    ]


def _asset_versions(static_dir: Path) -> dict[str, str]:
    """Each file's path relative to static_dir → the first 16 hex digits of its sha256."""
    return {
        path.relative_to(static_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for path in sorted(static_dir.rglob("*"))
        if path.is_file()
    }


def _versioned_html(html: str, versions: Mapping[str, str]) -> str:
    def versioned(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in versions:
            raise FileNotFoundError(f"index.html refers to a missing asset: {name}")
        return f"{match.group(0)}?v={versions[name]}"

    return _ASSET_REFERENCE.sub(versioned, html)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


class _AssetHeaders:
    """Adds the security headers and the cache policy to every asset response."""

    def __init__(self, app: ASGIApp, versions: Mapping[str, str]) -> None:
        self.app = app
        self.versions = versions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Under the Mount, `path` is the full path and `root_path` ends with the mount's prefix.
        name = scope["path"].removeprefix(scope.get("root_path", "")).lstrip("/")
        requested = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
        current = self.versions.get(name)
        versioned = current is not None and requested == [current]
        cache_control = (
            VERSIONED_ASSET_CACHE_CONTROL if versioned else UNVERSIONED_ASSET_CACHE_CONTROL
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers[key] = value
                headers["cache-control"] = cache_control
            await send(message)

        await self.app(scope, receive, with_headers)
