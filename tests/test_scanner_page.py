"""The staff scanner page: what /scanner and /scanner/assets serve, and with which headers.

Fast: a Starlette app built from `scanner_routes()` alone, through httpx's ASGI transport.
The browser test of the page itself is tests/test_scanner_e2e.py.
"""

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from api.app import create_app
from api.scanner_page import STATIC_DIR, scanner_routes
from api.settings import Settings
from tests.page_support import parse_page

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDOR = STATIC_DIR / "vendor"
BASE_URL = "http://kizuna.test"


@pytest.fixture
async def page_http() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=scanner_routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


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
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'none'"]
    assert "require-trusted-types-for" in csp
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "camera=(self)" in response.headers["permissions-policy"].replace(" ", "").split(",")
    assert "microphone=()" in response.headers["permissions-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


async def test_scanner_page_is_html_with_strict_security_headers(
    page_http: httpx.AsyncClient,
) -> None:
    response = await page_http.get("/scanner")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    _assert_security_headers(response)
    assert 'data-testid="signin-form"' in response.text


async def test_scanner_page_has_no_inline_script_style_or_handlers(
    page_http: httpx.AsyncClient,
) -> None:
    page = parse_page((await page_http.get("/scanner")).text)

    assert not page.inline_script
    assert not page.inline_style
    assert page.event_handlers == []
    assert len(page.script_sources) == 2 and len(page.stylesheets) == 1


async def test_every_asset_the_page_loads_is_versioned_and_cached_for_a_year(
    page_http: httpx.AsyncClient,
) -> None:
    page = parse_page((await page_http.get("/scanner")).text)
    expected_types = {".js": "text/javascript", ".css": "text/css"}

    for url in page.script_sources + page.stylesheets:
        match = re.fullmatch(r"scanner/assets/([\w./-]+)\?v=([0-9a-f]{16})", url)
        assert match, url
        name, version = match.groups()
        assert version == hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:16]
        response = await page_http.get(f"/{url}")
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(expected_types[Path(name).suffix])
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        _assert_security_headers(response)


async def test_asset_without_its_current_version_is_revalidated(
    page_http: httpx.AsyncClient,
) -> None:
    plain = await page_http.get("/scanner/assets/scanner.js")
    stale = await page_http.get("/scanner/assets/scanner.js?v=0000000000000000")

    for response in (plain, stale):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
        _assert_security_headers(response)
    again = await page_http.get(
        "/scanner/assets/scanner.js", headers={"if-none-match": plain.headers["etag"]}
    )
    assert again.status_code == 304


async def test_page_is_revalidated_with_its_etag(page_http: httpx.AsyncClient) -> None:
    first = await page_http.get("/scanner")

    second = await page_http.get("/scanner", headers={"if-none-match": first.headers["etag"]})

    assert second.status_code == 304
    assert second.content == b""
    _assert_security_headers(second)


async def test_large_assets_are_gzipped_for_clients_that_accept_it(
    page_http: httpx.AsyncClient,
) -> None:
    async with page_http.stream(
        "GET", "/scanner/assets/vendor/jsQR.js", headers={"accept-encoding": "gzip"}
    ) as response:
        content = await response.aread()

    assert response.headers["content-encoding"] == "gzip"
    assert content == (VENDOR / "jsQR.js").read_bytes()  # httpx decodes transparently
    assert response.num_bytes_downloaded < len(content) // 3


@pytest.mark.parametrize(
    "path",
    [
        "/scanner/assets/",
        "/scanner/assets/missing.js",
        "/scanner/assets/../../app.py",
        "/scanner/assets/%2e%2e/%2e%2e/app.py",
    ],
)
async def test_nothing_outside_the_static_files_is_served(
    page_http: httpx.AsyncClient, path: str
) -> None:
    response = await page_http.get(path)

    assert response.status_code == 404
    assert "create_app" not in response.text


async def test_page_accepts_only_get_and_head(page_http: httpx.AsyncClient) -> None:
    assert (await page_http.head("/scanner")).status_code == 200
    assert (await page_http.post("/scanner")).status_code == 405


def test_our_scripts_never_write_html_or_evaluate_strings() -> None:
    scripts = sorted(STATIC_DIR.glob("*.js"))

    assert {path.name for path in scripts} >= {"scanner.js", "api.js", "format.js"}
    for path in scripts:
        script = path.read_text("utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "new Function", "setTimeout(\"", "setInterval(\""):
            assert sink not in script, (path.name, sink)


def test_every_element_the_script_uses_exists_in_the_page() -> None:
    script = (STATIC_DIR / "scanner.js").read_text("utf-8")
    page = parse_page((STATIC_DIR / "index.html").read_text("utf-8"))

    used = set(re.findall(r'\bel\("([\w-]+)"\)', script))

    assert used, "scanner.js looks elements up with el(<data-testid>)"
    assert used <= page.test_ids, used - page.test_ids


def test_routes_refuse_a_page_that_refers_to_a_missing_asset(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script src="scanner/assets/gone.js"></script>')

    with pytest.raises(FileNotFoundError, match="gone.js"):
        scanner_routes(tmp_path)


def test_vendored_jsqr_matches_the_pinned_release() -> None:
    readme = (VENDOR / "README.md").read_text("utf-8")
    script = (REPO_ROOT / "scripts" / "vendor-jsqr.sh").read_text("utf-8")
    version = re.search(r'^JSQR_VERSION="([\d.]+)"$', script, re.MULTILINE)
    integrity = re.search(r'^JSQR_INTEGRITY="(sha512-[A-Za-z0-9+/=]+)"$', script, re.MULTILINE)

    assert version and integrity
    assert version.group(1).startswith("1.4.")
    assert f"**{version.group(1)}**" in readme
    assert integrity.group(1) in readme
    for name in ("jsQR.js", "LICENSE.jsQR"):
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert f"`{name}` | " in readme and f"`{digest}`" in readme, name
    assert "Apache License" in (VENDOR / "LICENSE.jsQR").read_text("utf-8")
    assert (VENDOR / "jsQR.js").read_text("utf-8").count('root["jsQR"] = factory()') == 1


async def test_the_app_serves_the_scanner_page(settings: Settings) -> None:
    app = create_app(settings)  # routing only: the page needs no database
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        page = await client.get("/scanner")
        script = await client.get("/scanner/assets/scanner.js")

    assert page.status_code == 200 and script.status_code == 200
    _assert_security_headers(page)
    _assert_security_headers(script)
