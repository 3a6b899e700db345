"""The GraphiQL page: GET /graphql in a browser (outside production) and `/graphiql/assets/…`.

Our own page (`api/static/graphiql/`), not strawberry's, which loads React, GraphiQL and the
explorer plugin from a public CDN and so shows only "Loading..." without internet access. The
page loads the builds vendored from npm by scripts/vendor-graphiql.sh, from the app itself,
and its configuration from graphiql-setup.js. Caching is api/static_assets.py's.

Every response carries a strict Content-Security-Policy: scripts, styles and connections
from this origin only (connect-src 'self' also covers the WebSocket of subscriptions), no
inline script and no eval. Fonts and a few icons are data: URIs inside the vendored
stylesheet. Unlike the scanner, Trusted Types are not enforced: GraphiQL renders the schema's
Markdown descriptions through React's dangerouslySetInnerHTML and its CodeMirror editors write
innerHTML, so a policy would have to let every string through and would protect nothing.
"""

import functools
from collections.abc import Mapping
from pathlib import Path

from starlette.routing import BaseRoute, Mount

from api.static_assets import StaticAssets, StaticPage, static_page

STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql/assets"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS: Mapping[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "permissions-policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), display-capture=()"
    ),
    "x-content-type-options": "nosniff",
    # GraphiQL's requests to /graphql (same origin) carry the page's URL as Referer, which
    # is how the trusted-documents allow-list recognises them (api/persisted_operations.py,
    # `_from_graphiql`); a link to another origin still gets no Referer.
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-robots-tag": "noindex, nofollow",
}


@functools.cache
def graphiql_page(static_dir: Path = STATIC_DIR) -> tuple[StaticPage, StaticAssets]:
    """The page and the app serving its assets, built once per process: hashing the 4 MB of
    vendored files takes a few milliseconds an app would otherwise pay each time, and the
    assets' compressed bytes, made on first request, are then made once."""
    return static_page(
        static_dir, asset_prefix=ASSETS_PATH.lstrip("/"), security_headers=SECURITY_HEADERS
    )


def graphiql_routes(*, production: bool) -> list[BaseRoute]:
    """The `/graphiql/assets` mount, outside production only (where the page is served)."""
    if production:
        return []
    _, assets = graphiql_page()
    return [Mount(ASSETS_PATH, app=assets, name="graphiql-assets")]
