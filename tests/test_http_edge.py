"""CORS for web apps on other origins (api/cors.py) and compressed answers
(api/compression.py), through the real app and database."""

import dataclasses
import gzip
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
import websockets
from graphql import get_introspection_query
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from api.app import create_app
from api.settings import Settings, SettingsError
from tests.conftest import BASE_URL
from tests.scanner_support import open_scanner_shop
from tests.support import TEST_CLIENT_ADDRESS, GraphQLClient, ManualClock

APP_ORIGIN = "https://app.example.com"
DEV_ORIGIN = "http://localhost:5173"
OTHER_ORIGIN = "https://evil.example.net"
TYPENAME = {"query": "{ __typename }"}
INTROSPECTION = {"query": get_introspection_query(descriptions=True)}

type Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(settings: Settings, clock: ManualClock) -> Serve:
    """An HTTP client for the app started with `settings` changed as given."""

    @asynccontextmanager
    async def serving(**changes: Any) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app(dataclasses.replace(settings, **changes), clock=clock)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, client=(TEST_CLIENT_ADDRESS, 40000))
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                yield client

    return serving


@pytest.fixture
async def cors(serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(cors_origins=(APP_ORIGIN, DEV_ORIGIN)) as client:
        yield client


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def _vary(response: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("vary", "").split(",") if v.strip()}


def _preflight(origin: str, method: str = "POST",
               headers: str = "authorization, content-type") -> dict[str, str]:
    return {"origin": origin, "access-control-request-method": method,
            "access-control-request-headers": headers}


# CORS ---------------------------------------------------------------------------------------


async def test_without_the_setting_there_are_no_cors_headers(http: httpx.AsyncClient) -> None:
    preflight = await http.options("/graphql", headers=_preflight(APP_ORIGIN))
    actual = await http.post("/graphql", json=TYPENAME, headers={"origin": APP_ORIGIN})

    assert preflight.status_code == 405
    assert preflight.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert actual.status_code == 200
    for response in (preflight, actual):
        assert _cors_headers(response) == {}
        assert "origin" not in _vary(response)


async def test_a_preflight_from_an_allowed_origin_is_answered_and_cacheable(
    cors: httpx.AsyncClient,
) -> None:
    apollo = ("authorization, content-type, x-request-id, apollographql-client-name, "
              "apollographql-client-version")
    response = await cors.options("/graphql", headers=_preflight(APP_ORIGIN, headers=apollo))

    assert response.status_code == 204
    assert response.content == b""
    headers = _cors_headers(response)
    assert headers["access-control-allow-origin"] == APP_ORIGIN
    assert {m.strip() for m in headers["access-control-allow-methods"].split(",")} >= {
        "GET", "POST"}
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert allowed >= {"authorization", "content-type", "x-request-id",
                       "apollographql-client-name", "apollographql-client-version"}
    assert headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in headers
    assert "origin" in _vary(response)


async def test_an_allowed_origins_request_gets_the_answer_readable(
    cors: httpx.AsyncClient,
) -> None:
    response = await cors.post("/graphql", json=TYPENAME, headers={"origin": DEV_ORIGIN})

    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    headers = _cors_headers(response)
    assert headers["access-control-allow-origin"] == DEV_ORIGIN
    exposed = {h.strip() for h in headers["access-control-expose-headers"].split(",")}
    assert exposed == {"x-request-id", "retry-after"}
    assert "access-control-allow-credentials" not in headers
    assert "origin" in _vary(response)


async def test_a_refused_origin_gets_no_cors_headers(cors: httpx.AsyncClient) -> None:
    preflight = await cors.options("/graphql", headers=_preflight(OTHER_ORIGIN))
    actual = await cors.post("/graphql", json=TYPENAME, headers={"origin": OTHER_ORIGIN})
    # An allowed origin's neighbours (another scheme, port or subdomain) are other origins.
    for lookalike in ("http://app.example.com", "https://app.example.com:8443",
                      "https://evil.app.example.com", "null"):
        refused = await cors.options("/graphql", headers=_preflight(lookalike))
        assert refused.status_code == 403, lookalike
        assert _cors_headers(refused) == {}, lookalike

    assert preflight.status_code == 403
    assert preflight.json()["errors"][0]["extensions"]["code"] == "CORS_REFUSED"
    assert OTHER_ORIGIN in preflight.json()["errors"][0]["message"]
    assert _cors_headers(preflight) == {}
    # The request itself is answered (a browser would not let the page read it).
    assert actual.status_code == 200
    assert _cors_headers(actual) == {}
    assert "origin" in _vary(preflight) and "origin" in _vary(actual)


async def test_a_preflight_for_another_method_or_header_is_refused(
    cors: httpx.AsyncClient,
) -> None:
    method = await cors.options("/graphql", headers=_preflight(APP_ORIGIN, method="DELETE"))
    header = await cors.options(
        "/graphql", headers=_preflight(APP_ORIGIN, headers="authorization, x-secret"))

    assert method.status_code == 403
    assert "DELETE" in method.json()["errors"][0]["message"]
    assert header.status_code == 403
    assert "x-secret" in header.json()["errors"][0]["message"]
    assert _cors_headers(method) == {} and _cors_headers(header) == {}


async def test_answers_without_an_origin_still_vary_by_origin(cors: httpx.AsyncClient) -> None:
    """A shared cache must not hand an answer made for no origin to a web app's request."""
    graphql = await cors.post("/graphql", json=TYPENAME)
    health = await cors.get("/healthz", headers={"origin": APP_ORIGIN})

    assert _cors_headers(graphql) == {}
    assert "origin" in _vary(graphql)
    assert health.headers["access-control-allow-origin"] == APP_ORIGIN
    # Other methods than a preflight's still get the GraphQL endpoint's JSON 405.
    options = await cors.options("/graphql", headers={"origin": APP_ORIGIN})
    assert options.status_code == 405
    assert options.headers["allow"] == "GET, POST"


async def test_the_preflight_max_age_is_a_setting(serve: Serve) -> None:
    async with serve(cors_origins=(APP_ORIGIN,), cors_max_age_seconds=7200) as client:
        response = await client.options("/graphql", headers=_preflight(APP_ORIGIN))
    assert response.headers["access-control-max-age"] == "7200"


def test_cors_origins_are_validated_and_normalised() -> None:
    settings = Settings.from_env({"KIZUNA_CORS_ORIGINS": (
        " https://App.Example.com , http://localhost:5173,https://shop.example.com:443,"
        "https://app.example.com,"
    ), "KIZUNA_CORS_MAX_AGE_SECONDS": "120"})
    assert settings.cors_origins == (
        "https://app.example.com", "http://localhost:5173", "https://shop.example.com")
    assert settings.cors_max_age_seconds == 120
    assert Settings.from_env({}).cors_origins == ()

    bad = ["*", "https://*.example.com", "https://app.example.com/", "https://app.example.com/x",
           "ftp://files.example.com", "app.example.com", "null", "https://user@app.example.com",
           "https://app.example.com?x=1", "https://app.example.com:99999"]
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"KIZUNA_CORS_ORIGINS": ",".join(bad)})
    problems = raised.value.problems
    assert len(problems) == len(bad), problems
    for entry, problem in zip(bad, problems, strict=True):
        assert problem.startswith("KIZUNA_CORS_ORIGINS: ") and repr(entry) in problem


# Compression --------------------------------------------------------------------------------


async def _raw(http: httpx.AsyncClient, accept_encoding: str | None,
               body: dict[str, Any] = INTROSPECTION) -> tuple[httpx.Response, bytes]:
    """The answer and its bytes as sent (httpx would otherwise decode them)."""
    request = http.build_request("POST", "/graphql", json=body)
    del request.headers["accept-encoding"]
    if accept_encoding is not None:
        request.headers["accept-encoding"] = accept_encoding
    response = await http.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    return response, raw


async def test_a_large_answer_is_compressed_with_brotli_or_gzip_as_preferred(
    http: httpx.AsyncClient,
) -> None:
    plain, plain_bytes = await _raw(http, None)
    br, br_bytes = await _raw(http, "gzip, deflate, br")
    gz, gz_bytes = await _raw(http, "gzip;q=1.0, br;q=0.5")
    no_br, no_br_bytes = await _raw(http, "br;q=0, *")

    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert len(plain_bytes) > 200_000  # the introspection answer GraphiQL asks for
    assert json.loads(plain_bytes)["data"]["__schema"]["queryType"]["name"] == "Query"
    assert br.headers["content-encoding"] == "br"
    assert brotli.decompress(br_bytes) == plain_bytes
    assert int(br.headers["content-length"]) == len(br_bytes) < len(plain_bytes) // 5
    assert gz.headers["content-encoding"] == "gzip"
    assert gzip.decompress(gz_bytes) == plain_bytes
    assert int(gz.headers["content-length"]) == len(gz_bytes) < len(plain_bytes) // 5
    assert no_br.headers["content-encoding"] == "gzip"
    assert gzip.decompress(no_br_bytes) == plain_bytes
    for response in (plain, br, gz, no_br):
        assert "accept-encoding" in _vary(response)


async def test_no_compression_when_refused_or_not_worth_it(http: httpx.AsyncClient) -> None:
    for refusal in ("identity", "gzip;q=0, br;q=0", "*;q=0", "deflate", ""):
        response, raw = await _raw(http, refusal)
        assert "content-encoding" not in response.headers, refusal
        assert json.loads(raw)["data"]["__schema"], refusal
        assert "accept-encoding" in _vary(response), refusal
    small, small_bytes = await _raw(http, "br, gzip", TYPENAME)
    assert "content-encoding" not in small.headers
    assert json.loads(small_bytes) == {"data": {"__typename": "Query"}}
    assert "accept-encoding" in _vary(small)  # a larger answer at this URL would be


async def test_the_threshold_and_the_switch_are_settings(serve: Serve) -> None:
    async with serve(compression_min_bytes=64) as client:
        member_query = {"query": "{ __schema { queryType { name } mutationType { name } "
                                 "subscriptionType { name } } __typename }"}
        response, raw = await _raw(client, "gzip", member_query)
        assert response.headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(raw))["data"]["__typename"] == "Query"
    async with serve(compression=False) as client:
        response, raw = await _raw(client, "br, gzip")
        assert "content-encoding" not in response.headers
        assert "accept-encoding" not in _vary(response)
        assert json.loads(raw)["data"]["__schema"]


async def test_images_are_never_compressed_and_svg_keeps_its_validator(
    gql: GraphQLClient, http: httpx.AsyncClient,
) -> None:
    shop = await open_scanner_shop(gql)
    ann = await gql.member(email="ann@example.com", name="Ann Martin")
    await shop.issue("ann@example.com")
    [voucher] = await shop.my_vouchers(ann.access_token)
    auth = {"authorization": f"Bearer {ann.access_token}", "accept-encoding": "br, gzip"}

    png = await http.get(voucher["qr"]["pngUrl"], headers=auth)
    svg = await http.get(voucher["qr"]["svgUrl"], headers=auth)
    again = await http.get(voucher["qr"]["svgUrl"],
                           headers={**auth, "if-none-match": svg.headers["etag"]})

    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert "content-encoding" not in png.headers
    assert "accept-encoding" not in _vary(png)
    assert png.content.startswith(b"\x89PNG")
    assert svg.status_code == 200 and svg.headers["content-encoding"] == "br"
    assert svg.content.lstrip().startswith(b"<")  # decoded by the client
    # The compressed bytes are not the identity's: the validator is weak, and still works.
    assert svg.headers["etag"].startswith('W/"')
    assert again.status_code == 304


async def test_cors_and_compression_vary_together(cors: httpx.AsyncClient) -> None:
    request = cors.build_request("POST", "/graphql", json=INTROSPECTION,
                                 headers={"origin": APP_ORIGIN, "accept-encoding": "gzip"})
    response = await cors.send(request)

    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert {"origin", "accept-encoding"} <= _vary(response)
    assert response.json()["data"]["__schema"]


# CORS in a real browser ---------------------------------------------------------------------

_CALL_API = """async (url) => {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {"content-type": "application/json", "authorization": "Bearer nope",
                "x-request-id": "browser-1", "apollographql-client-name": "web"},
      body: JSON.stringify({query: "{ __typename }"}),
    });
    return {status: response.status, body: await response.json()};
  } catch (error) {
    return {failed: String(error)};
  }
}"""


async def test_chromium_lets_only_allowed_origins_read_the_api(
    settings: Settings, clock: ManualClock,
) -> None:
    """A web app's page calls the API with a bearer token, which needs a preflight: from
    the listed origin it reads the answer, from another (the same page server by another
    name) it gets a network error."""
    from tests.browser_support import chromium, live_server, require_browser  # noqa: PLC0415

    require_browser()

    async def web_app(request: Request) -> Response:
        return HTMLResponse("<!doctype html><title>A shop's web app</title>")

    pages = Starlette(routes=[Route("/", web_app)])
    async with live_server(pages) as page_server:
        port = page_server.url.rsplit(":", 1)[1]
        allowed, refused = f"http://localhost:{port}", f"http://127.0.0.1:{port}"
        application = create_app(
            dataclasses.replace(settings, cors_origins=(allowed,)), clock=clock)
        async with live_server(application) as server, chromium(None) as browser:
            page = await browser.new_page()
            results = {}
            for origin in (allowed, refused):
                await page.goto(f"{origin}/")
                results[origin] = await page.evaluate(_CALL_API, f"{server.url}/graphql")
            await page.close()

    # The bad token's 401 is readable by the allowed origin: it needed the preflight.
    assert results[allowed].get("status") == 401, results
    assert results[allowed]["body"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "failed" in results[refused], results


async def test_subscriptions_accept_the_allowed_origins_only(
    settings: Settings, clock: ManualClock,
) -> None:
    """Browsers send Origin on a WebSocket handshake and CORS does not apply to it: the
    server itself refuses pages on other origins, and accepts the listed ones."""
    from tests.browser_support import live_server  # noqa: PLC0415

    application = create_app(dataclasses.replace(settings, cors_origins=(APP_ORIGIN,)),
                             clock=clock)
    async with live_server(application) as server:
        url = server.url.replace("http://", "ws://") + "/graphql"

        async def handshake(origin: str | None) -> int:
            try:
                async with websockets.connect(
                    url, origin=cast("websockets.Origin | None", origin),
                    subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
                ) as socket:
                    await socket.send(json.dumps({"type": "connection_init"}))
                    return 101
            except websockets.InvalidStatus as refused:
                return refused.response.status_code

        assert await handshake(APP_ORIGIN) == 101
        assert await handshake(None) == 101  # not a browser
        assert await handshake(OTHER_ORIGIN) == 403
        assert await handshake(DEV_ORIGIN) == 403
