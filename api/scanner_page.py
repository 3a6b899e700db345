"""The staff scanner page: `/scanner` (HTML) and `/scanner/assets/…` (its static files).

Plain static HTML/CSS/JS under `api/static/scanner/` (no build step); the page talks to
`/graphql` like any client. Every response carries a strict Content-Security-Policy (only
'self' scripts, styles and connections; no inline script, no eval, Trusted Types enforced)
and a Permissions-Policy that allows the camera for this origin only.

Caching: see api/static_assets.py (the HTML revalidated on every load, assets requested with
their content hash immutable for a year, any other asset request revalidated), so a deploy
never leaves a phone running stale JavaScript.
"""

from collections.abc import Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from api.static_assets import static_page

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


def scanner_routes(static_dir: Path = STATIC_DIR) -> list[BaseRoute]:
    """The `/scanner` page and its `/scanner/assets` mount.

    Reads the static files once, to hash them; raises FileNotFoundError when index.html is
    missing or refers to an asset that does not exist.
    """
    page, assets = static_page(
        static_dir, asset_prefix="scanner/assets", security_headers=SECURITY_HEADERS
    )

    async def serve(request: Request) -> Response:
        return page.response(request)

    return [
        Route(PAGE_PATH, serve, methods=["GET", "HEAD"], name="scanner"),
        Mount(ASSETS_PATH, app=assets, name="scanner-assets"),
    ]
