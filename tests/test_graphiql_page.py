"""The GraphiQL page: what GET /graphql serves a browser, what /graphiql/assets serves, with
which headers, and that the vendored files are the pinned releases.

Through the started app (tests/conftest.py's `http`) and httpx's ASGI transport. The browser
test of the page is tests/test_graphiql_e2e.py.
"""

import asyncio
import gzip
import hashlib
import re
import threading
from pathlib import Path

import brotli  # type: ignore[import-untyped]  # ships no type information
import httpx
import pytest

from api import static_assets
from api.graphiql_page import STATIC_DIR, graphiql_page
from api.static_assets import CompressedAssets
from tests.page_support import parse_page
from tests.support import GraphQLClient

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDOR = STATIC_DIR / "vendor"
BUNDLE = "/graphiql/assets/vendor/graphiql.min.js"
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PINNED = {  # what the page is written and tested against
    "react": "18.3.1", "react-dom": "18.3.1", "graphiql": "3.8.3",
    "@graphiql/plugin-explorer": "3.2.5",
}


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


def _assert_security_headers(response: httpx.Response) -> None:
    csp = _csp(response)
    assert csp["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src", "connect-src"):
        assert csp[directive] == ["'self'"], directive
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["font-src"] == ["'self'", "data:"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'none'"]
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "http" not in policy  # no other origin, no CDN
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    # Same-origin: GraphiQL's requests to /graphql carry the page's URL (the trusted-documents
    # exemption reads it); other origins get nothing.
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


async def test_a_browser_gets_our_page_with_strict_security_headers(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/graphql", headers=BROWSER)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    _assert_security_headers(response)
    assert "<title>Kizuna GraphiQL</title>" in response.text
    assert "unpkg" not in response.text and "cdn" not in response.text.lower()


async def test_the_page_has_no_inline_script_style_or_handlers(
    http: httpx.AsyncClient,
) -> None:
    page = parse_page((await http.get("/graphql", headers=BROWSER)).text)

    assert not page.inline_script
    assert not page.inline_style
    assert page.event_handlers == []
    assert [Path(url.split("?")[0]).name for url in page.script_sources] == [
        "react.production.min.js", "react-dom.production.min.js", "graphiql.min.js",
        "plugin-explorer.umd.js", "graphiql-setup.js",
    ]
    assert len(page.stylesheets) == 3


async def test_every_asset_the_page_loads_is_served_versioned_and_cached_for_a_year(
    http: httpx.AsyncClient,
) -> None:
    page = parse_page((await http.get("/graphql", headers=BROWSER)).text)
    expected_types = {".js": "text/javascript", ".css": "text/css"}

    for url in page.script_sources + page.stylesheets:
        match = re.fullmatch(r"graphiql/assets/([\w./-]+)\?v=([0-9a-f]{16})", url)
        assert match, url
        name, version = match.groups()
        assert version == hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:16]
        response = await http.get(f"/{url}")
        assert response.status_code == 200, url
        assert response.content == (STATIC_DIR / name).read_bytes()
        assert response.headers["content-type"].startswith(expected_types[Path(name).suffix])
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        _assert_security_headers(response)


async def test_an_asset_without_its_current_version_is_revalidated(
    http: httpx.AsyncClient,
) -> None:
    plain = await http.get("/graphiql/assets/graphiql-setup.js")

    assert plain.headers["cache-control"] == "no-cache"
    again = await http.get(
        "/graphiql/assets/graphiql-setup.js", headers={"if-none-match": plain.headers["etag"]}
    )
    assert again.status_code == 304


async def test_the_page_is_revalidated_with_its_etag(http: httpx.AsyncClient) -> None:
    first = await http.get("/graphql", headers=BROWSER)

    second = await http.get(
        "/graphql", headers={**BROWSER, "if-none-match": first.headers["etag"]}
    )

    assert second.status_code == 304 and second.content == b""
    _assert_security_headers(second)


async def _raw(
    http: httpx.AsyncClient, accept_encoding: str | None, *, path: str = BUNDLE,
    if_none_match: str | None = None,
) -> tuple[httpx.Response, bytes]:
    """The asset's answer and its bytes as sent (httpx would otherwise decode them)."""
    request = http.build_request("GET", path)
    del request.headers["accept-encoding"]
    if accept_encoding is not None:
        request.headers["accept-encoding"] = accept_encoding
    if if_none_match is not None:
        request.headers["if-none-match"] = if_none_match
    response = await http.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    return response, raw


def _decoded(raw: bytes, encoding: str | None) -> bytes:
    if encoding == "br":
        decoded: bytes = brotli.decompress(raw)
        return decoded
    return gzip.decompress(raw) if encoding == "gzip" else raw


@pytest.mark.parametrize(("accept_encoding", "encoding"), [
    ("gzip, deflate, br, zstd", "br"),  # what Chromium sends
    ("gzip;q=1.0, br;q=0.5", "gzip"),
    ("gzip", "gzip"),
    ("identity", None),
    (None, None),
])
async def test_assets_are_sent_in_the_encoding_the_client_prefers_once_compressed(
    http: httpx.AsyncClient, accept_encoding: str | None, encoding: str | None,
) -> None:
    """Through the whole app, api/compression.py's middleware included: the bytes decode
    once to the file (never compressed twice), with one Vary and an ETag per encoding."""
    response, raw = await _raw(http, accept_encoding)

    assert response.status_code == 200
    assert response.headers.get("content-encoding") == encoding
    assert _decoded(raw, encoding) == (VENDOR / "graphiql.min.js").read_bytes()
    assert int(response.headers["content-length"]) == len(raw)
    if encoding is not None:
        assert len(raw) < len((VENDOR / "graphiql.min.js").read_bytes()) // 4
    assert response.headers["vary"] == "Accept-Encoding"
    digest = hashlib.sha256((VENDOR / "graphiql.min.js").read_bytes()).hexdigest()[:32]
    assert response.headers["etag"] == (f'"{digest}-{encoding}"' if encoding else f'"{digest}"')
    _assert_security_headers(response)


async def test_each_encoding_is_revalidated_with_its_own_etag(http: httpx.AsyncClient) -> None:
    etags = {encoding: (await _raw(http, encoding))[0].headers["etag"]
             for encoding in ("br", "gzip", "identity")}
    assert len(set(etags.values())) == 3

    for encoding, etag in etags.items():
        for validator in (etag, f"W/{etag}", f'"other", {etag}'):
            again, raw = await _raw(http, encoding, if_none_match=validator)
            assert again.status_code == 304, (encoding, validator)
            assert raw == b""
            assert again.headers["etag"] == etag
            assert again.headers["vary"] == "Accept-Encoding"
            assert "content-encoding" not in again.headers
    # Another encoding's validator is not this one's: the bytes differ.
    other, raw = await _raw(http, "gzip", if_none_match=etags["br"])
    assert other.status_code == 200
    assert other.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == (VENDOR / "graphiql.min.js").read_bytes()


async def test_an_asset_is_compressed_once_per_encoding_off_the_event_loop(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, assets = graphiql_page()
    monkeypatch.setattr(assets, "compressed", CompressedAssets())  # not yet compressed
    made: list[tuple[str, bool]] = []
    original = static_assets.compress

    def counting(content: bytes, encoding: str) -> bytes:
        made.append((encoding, threading.current_thread() is threading.main_thread()))
        return original(content, encoding)

    monkeypatch.setattr(static_assets, "compress", counting)

    # Concurrent first requests wait for one compression rather than each doing it.
    first = await asyncio.gather(*(_raw(http, "br") for _ in range(3)))
    second, raw = await _raw(http, "br")
    gzipped, _ = await _raw(http, "gzip")

    assert made == [("br", False), ("gzip", False)]  # in worker threads, once each
    assert {body for _, body in first} == {raw}
    assert second.headers["content-encoding"] == "br"
    assert gzipped.headers["content-encoding"] == "gzip"
    assert assets.compressed.cached(assets.files["vendor/graphiql.min.js"], "br") == raw


async def test_an_asset_answers_head_with_its_length_and_no_body(
    http: httpx.AsyncClient,
) -> None:
    get, raw = await _raw(http, "br")
    head = await http.head(BUNDLE, headers={"accept-encoding": "br"})

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(raw))
    assert head.headers["etag"] == get.headers["etag"]


@pytest.mark.parametrize(
    "path",
    ["/graphiql/assets/", "/graphiql/assets/missing.js", "/graphiql/assets/../../app.py",
     "/graphiql/assets/%2e%2e/%2e%2e/graphql_view.py"],
)
async def test_nothing_outside_the_static_files_is_served(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)

    assert response.status_code == 404
    assert "KizunaGraphQL" not in response.text


async def test_graphql_clients_still_get_graphql_at_the_same_url(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"accept": "application/json"}
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_production_serves_neither_the_page_nor_its_assets(
    production: GraphQLClient,
) -> None:
    page = await production.http.get("/graphql", headers=BROWSER)
    asset = await production.http.get("/graphiql/assets/vendor/graphiql.min.js")

    assert page.status_code == 404
    assert "text/html" not in page.headers.get("content-type", "")
    assert "GraphiQL" not in page.text
    assert asset.status_code == 404


def test_our_script_never_writes_html_or_evaluates_strings() -> None:
    script = (STATIC_DIR / "graphiql-setup.js").read_text("utf-8")

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "localStorage."):
        assert sink not in script, sink
    assert "shouldPersistHeaders: false" in script  # bearer tokens stay out of localStorage


def test_vendored_files_match_the_pinned_releases() -> None:
    readme = (VENDOR / "README.md").read_text("utf-8")
    script = (REPO_ROOT / "scripts" / "vendor-graphiql.sh").read_text("utf-8")
    pins = re.findall(r'^  "([@\w/-]+)\|([\d.]+)\|(sha512-[A-Za-z0-9+/=]+)\|', script, re.MULTILINE)

    assert {name: version for name, version, _ in pins} == PINNED
    for name, version, integrity in pins:
        assert f"| `{name}` | **{version}** | `{integrity}` |" in readme, name
    vendored = sorted(path.name for path in VENDOR.iterdir() if path.name != "README.md")
    listed = re.findall(r"^\| `([\w.-]+)` \| `[@\w/-]+` \| `[\w./-]+` \| `([0-9a-f]{64})` \|$",
                        readme, re.MULTILINE)
    assert sorted(name for name, _ in listed) == vendored
    for name, digest in listed:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    for licence in ("LICENSE.react", "LICENSE.react-dom", "LICENSE.graphiql"):
        assert "MIT License" in (VENDOR / licence).read_text("utf-8"), licence
    assert '"license": "MIT"' in (VENDOR / "package.plugin-explorer.json").read_text("utf-8")
