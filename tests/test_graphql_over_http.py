"""GraphQL over HTTP (api/graphql_http.py): the media type a client is answered in, the
spec's status codes for each, JSON errors for every request refused before GraphQL runs,
and the graphql-http audit of the spec run against a live server."""

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.browser_support import live_server
from tests.support import GraphQLClient

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
BOTH = pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
TYPENAME = {"query": "{ __typename }"}
AUDIT_DIR = Path(__file__).resolve().parent / "js" / "graphql-http"


async def _post(http: httpx.AsyncClient, body: object, accept: str | None = None,
                **headers: str) -> httpx.Response:
    if accept is not None:
        headers["accept"] = accept
    return await http.post("/graphql", json=body, headers=headers)


def _error(response: httpx.Response) -> dict[str, Any]:
    """The only error of a refusal, checked to be GraphQL-shaped JSON."""
    body = response.json()
    assert set(body) == {"errors"}, body
    [error] = body["errors"]
    assert isinstance(error["message"], str) and error["message"], body
    return dict(error)


# Content negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "media"), [
    (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    (JSON, JSON),
    (None, JSON),
    ("*/*", JSON),
    ("application/*", JSON),
    # Apollo Client 4 and urql ask for the new type first.
    (f"{GRAPHQL_RESPONSE},{JSON};q=0.9", GRAPHQL_RESPONSE),
    (f"{JSON}, {GRAPHQL_RESPONSE}", JSON),
    (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
    (f"text/html, {GRAPHQL_RESPONSE};charset=utf-8", GRAPHQL_RESPONSE),
    (f"{JSON};q=0, */*", GRAPHQL_RESPONSE),
])
async def test_the_answer_is_in_the_media_type_the_client_prefers(
    http: httpx.AsyncClient, accept: str | None, media: str,
) -> None:
    response = await _post(http, TYPENAME, accept)

    assert response.status_code == 200
    assert response.headers["content-type"] == media
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("accept", ["text/plain", "application/xml", f"{JSON};q=0",
                                    f"{GRAPHQL_RESPONSE};q=0, {JSON};q=0", "image/*"])
async def test_a_client_accepting_neither_json_type_gets_406(
    http: httpx.AsyncClient, accept: str,
) -> None:
    response = await _post(http, TYPENAME, accept)
    by_get = await http.get("/graphql", params={"query": "{ __typename }"},
                            headers={"accept": accept})

    for refused in (response, by_get):
        assert refused.status_code == 406
        assert refused.headers["content-type"] == JSON
        assert _error(refused)["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_a_browser_still_gets_graphiql(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


# Status codes of GraphQL responses ----------------------------------------------------------


@pytest.mark.parametrize(("body", "what"), [
    ({"query": "{"}, "Syntax Error"),
    ({"query": "{ noSuchField }"}, "noSuchField"),
    ({"query": "query($id: ID!) { __typename }", "variables": {"id": None}}, "$id"),
    ({"query": "query A { __typename }", "operationName": "B"}, "B"),
    # Several operations and no operationName: the spec's GetOperation refuses to guess.
    ({"query": "query A { __typename } mutation B { __typename }"}, "operationName"),
])
async def test_request_errors_are_400_without_data_for_graphql_response_json(
    http: httpx.AsyncClient, body: dict[str, Any], what: str,
) -> None:
    """The document does not parse or validate, the variables do not coerce, the operation
    is not in the document: execution never starts."""
    modern = await _post(http, body, GRAPHQL_RESPONSE)
    legacy = await _post(http, body, JSON)

    assert modern.status_code == 400
    assert modern.headers["content-type"] == GRAPHQL_RESPONSE
    assert "data" not in modern.json()
    assert what in modern.json()["errors"][0]["message"]
    # Clients written before the spec expect 200 with errors (and `data: null`).
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == JSON
    assert legacy.json()["data"] is None
    assert what in legacy.json()["errors"][0]["message"]


@BOTH
async def test_the_named_operation_of_several_runs(http: httpx.AsyncClient, accept: str) -> None:
    document = 'query A { a: __typename } query B { b: __typename }'
    answer = await _post(http, {"query": document, "operationName": "B"}, accept)

    assert answer.status_code == 200
    assert answer.json() == {"data": {"b": "Query"}}


@BOTH
async def test_field_errors_are_200_with_data(http: httpx.AsyncClient, accept: str) -> None:
    response = await _post(http, {"query": "{ me { id } __typename }"}, accept)

    assert response.status_code == 200
    assert response.headers["content-type"] == accept
    body = response.json()
    assert body["data"] == {"me": None, "__typename": "Query"}
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["path"] == ["me"]


# Requests refused before GraphQL runs -------------------------------------------------------


@BOTH
@pytest.mark.parametrize(("body", "code", "words"), [
    ({"variables": {}}, "BAD_REQUEST", "No GraphQL query"),
    ({"qeury": "{ __typename }"}, "BAD_REQUEST", "No GraphQL query"),
    ({"query": 7}, "BAD_REQUEST", "`query` must be a string"),
    ({"query": "{ __typename }", "variables": "x"}, "BAD_REQUEST", "`variables` must be"),
    ({"query": "{ __typename }", "extensions": [1]}, "BAD_REQUEST", "`extensions` must be"),
    ({"query": "{ __typename }", "operationName": {"a": 1}}, "BAD_REQUEST",
     "`operationName` must be"),
    ({"query": "{ __typename }", "operationName": False}, "BAD_REQUEST",
     "`operationName` must be"),
    ([TYPENAME, TYPENAME], "BATCH_NOT_SUPPORTED", "one operation per request"),
    ({"query": "subscription { memberEvents { __typename } }"}, "BAD_REQUEST", "WebSocket"),
])
async def test_malformed_requests_are_json_400s(
    http: httpx.AsyncClient, accept: str, body: object, code: str, words: str,
) -> None:
    response = await _post(http, body, accept)

    assert response.status_code == 400
    assert response.headers["content-type"] == accept
    error = _error(response)
    assert error["extensions"]["code"] == code
    assert words in error["message"]


@BOTH
async def test_bad_json_and_unsupported_content_types_get_json_errors(
    http: httpx.AsyncClient, accept: str,
) -> None:
    bad_json = await http.post("/graphql", content=b'{ "not a JSON',
                               headers={"content-type": JSON, "accept": accept})
    empty = await http.post("/graphql", headers={"content-type": JSON, "accept": accept})
    form = await http.post("/graphql", data={"query": "{ __typename }"},
                           headers={"accept": accept})
    text = await http.post("/graphql", content=b"{ __typename }",
                           headers={"content-type": "text/plain", "accept": accept})
    no_type = await http.post("/graphql", content=json.dumps(TYPENAME).encode(),
                              headers={"accept": accept})

    for bad in (bad_json, empty):
        assert bad.status_code == 400
        assert bad.headers["content-type"] == accept
        assert _error(bad) == {"message": "Unable to parse request body as JSON",
                               "extensions": {"code": "BAD_REQUEST",
                                              "requestId": bad.headers["x-request-id"]}}
    for unsupported in (form, text, no_type):
        assert unsupported.status_code == 415
        assert unsupported.headers["content-type"] == accept
        error = _error(unsupported)
        assert error["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert "application/json" in error["message"]


@BOTH
async def test_a_mutation_over_get_is_405_and_runs_nothing(
    gql: GraphQLClient, accept: str,
) -> None:
    mutation = """mutation { accountRegister(input: {email: "get@example.com",
      password: "correct horse battery staple", name: "Get"}) { errors { code } } }"""
    response = await gql.http.get("/graphql", params={"query": mutation},
                                  headers={"accept": accept})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == accept
    error = _error(response)
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in error["message"]
    # Nobody was registered: the same e-mail address registers now.
    assert (await gql.register(email="get@example.com"))["errors"] == []


@BOTH
async def test_queries_over_get_work_with_variables(http: httpx.AsyncClient, accept: str) -> None:
    response = await http.get("/graphql", headers={"accept": accept}, params={
        "query": "query($name: String!) { __type(name: $name) { name } }",
        "variables": json.dumps({"name": "Query"}),
    })

    assert response.status_code == 200
    assert response.headers["content-type"] == accept
    assert response.json() == {"data": {"__type": {"name": "Query"}}}


@BOTH
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
async def test_other_methods_are_405_with_allow(
    http: httpx.AsyncClient, accept: str, method: str,
) -> None:
    response = await http.request(method, "/graphql", json=TYPENAME, headers={"accept": accept})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == accept
    if method != "HEAD":
        assert _error(response)["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@BOTH
async def test_a_bad_token_is_a_json_401_in_the_negotiated_type(
    http: httpx.AsyncClient, accept: str,
) -> None:
    response = await _post(http, TYPENAME, accept, authorization="Bearer not-a-token")

    assert response.status_code == 401
    assert response.headers["content-type"] == accept
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert _error(response)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_body_too_large_is_still_a_json_413(http: httpx.AsyncClient) -> None:
    response = await _post(http, {"query": "{ __typename }", "x": "y" * 70_000},
                           GRAPHQL_RESPONSE)

    assert response.status_code == 413
    assert _error(response)["message"] == "Request body too large."


# The graphql-http audit ---------------------------------------------------------------------


def _require_node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is not None and npm is not None:
        return node, npm
    reason = "the graphql-http audit needs node and npm"
    if os.environ.get("KIZUNA_REQUIRE_NODE") == "1":
        pytest.fail(reason + " — KIZUNA_REQUIRE_NODE=1 is set")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def audit_node() -> str:
    """node, with the audit's locked packages installed once per session."""
    node, npm = _require_node()
    import subprocess  # noqa: PLC0415 - only the audit runs programs

    installed = subprocess.run(  # noqa: S603 - fixed arguments
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=AUDIT_DIR,
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert installed.returncode == 0, installed.stderr
    return node


@pytest.fixture
async def live_url(app: Starlette) -> AsyncIterator[str]:
    async with live_server(app) as server:
        yield f"{server.url}/graphql"


async def test_the_graphql_http_audit_passes_without_warnings(
    audit_node: str, live_url: str,
) -> None:
    process = await asyncio.create_subprocess_exec(
        audit_node, "audit.mjs", live_url, cwd=AUDIT_DIR,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    results = json.loads(stdout)

    assert len(results) >= 60  # the audit ran, not an empty list
    not_ok = [f"{r['id']} {r['status']}: {r['name']} — {r['reason']} (HTTP {r['responseStatus']})"
              for r in results if r["status"] != "ok"]
    assert not_ok == [], "\n".join(not_ok)
