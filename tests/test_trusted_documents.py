"""Trusted documents: `kizuna operations add` takes Apollo's and Relay's manifests, checks
every operation against the schema (a bad one refuses the whole manifest, nothing written),
stores them idempotently; with KIZUNA_TRUSTED_DOCUMENTS=allow-list only those run — by id,
by Relay's documentId, or by a text whose hash is trusted — except for administrators and
GraphiQL as the settings say."""

import asyncio
import dataclasses
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from api import operations_command
from api.app import create_app
from api.builtin_operations import SCANNER_CLIENT, BuiltinOperationsError, operations_of
from api.operation_store import OPERATIONS
from api.settings import (
    PersistedOperationSettings,
    Settings,
    TrustedDocuments,
    TrustedExemption,
)
from api.state import AppState
from tests.browser_support import live_server
from tests.persisted_apps import started_app
from tests.persisted_support import PUBLIC_QUERY, apq_post, error_code, sha256
from tests.support import GraphQLClient, ManualClock
from tests.test_cli import kizuna

RULES = "query Rules { programRules { name } }"
WAYS = "query Ways { programRules { description } }"
UNLISTED = "query Unlisted { programRules { howToEarn } }"


def apollo_manifest(*bodies: str) -> dict[str, Any]:
    return {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": sha256(body), "name": body.split()[1], "type": "query", "body": body}
        for body in bodies]}


def write(tmp_path: Path, manifest: object, name: str = "manifest.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(manifest))
    return path


async def add(settings: Settings, state: AppState, path: Path) -> tuple[int, str, str]:
    """`kizuna operations add` as the CLI runs it, against the app's database."""
    out, err = io.StringIO(), io.StringIO()
    checked = operations_command.checked(settings, path, err=err)
    if checked is None:
        return 1, out.getvalue(), err.getvalue()
    code = await operations_command.add(state.services.store, checked, path, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def stored(state: AppState) -> list[dict[str, Any]]:
    return [d async for d in state.services.store.collection(OPERATIONS).find({})]


def allow_list(settings: Settings, *exempt: TrustedExemption) -> Settings:
    return dataclasses.replace(settings, persisted=PersistedOperationSettings(
        trusted_documents=TrustedDocuments.ALLOW_LIST, exempt=frozenset(exempt)))


@pytest.fixture
async def locked(settings: Settings, clock: ManualClock,
                 ) -> AsyncIterator[tuple[httpx.AsyncClient, AppState, Settings]]:
    """An app in allow-list mode with only administrators exempt."""
    locked_settings = allow_list(settings, TrustedExemption.ADMIN)
    async with started_app(locked_settings, clock) as (http, state):
        yield http, state, locked_settings


async def test_apollo_manifest_operations_run_by_hash_and_by_text_nothing_else(
    locked: tuple[httpx.AsyncClient, AppState, Settings], tmp_path: Path,
) -> None:
    http, state, settings = locked
    code, out, _ = await add(settings, state, write(tmp_path, apollo_manifest(RULES, WAYS)))
    assert code == 0
    assert "2 added" in out

    by_hash = await apq_post(http, RULES, with_text=False)
    assert by_hash.json() == {"data": {"programRules": []}}
    by_text = await http.post("/graphql", json={"query": WAYS})
    assert "errors" not in by_text.json(), by_text.text

    unlisted = await http.post("/graphql", json={"query": UNLISTED})
    assert error_code(unlisted) == "PERSISTED_QUERY_NOT_TRUSTED"
    assert "allow-list" in unlisted.json()["errors"][0]["message"]
    # Apollo's link: the hash misses, then hash and text are refused and not registered.
    assert error_code(await apq_post(http, UNLISTED, with_text=False)) == (
        "PERSISTED_QUERY_NOT_FOUND")
    assert error_code(await apq_post(http, UNLISTED, with_text=True)) == (
        "PERSISTED_QUERY_NOT_TRUSTED")
    assert {d["_id"] for d in await stored(state)} == {sha256(RULES), sha256(WAYS)}


async def test_relay_manifest_operations_run_by_document_id(
    locked: tuple[httpx.AsyncClient, AppState, Settings], tmp_path: Path,
) -> None:
    http, state, settings = locked
    code, _, err = await add(settings, state, write(tmp_path, {"3f2a9c": RULES}))
    assert code == 0, err
    for body in ({"documentId": "3f2a9c", "variables": {}}, {"doc_id": "3f2a9c"}):
        response = await http.post("/graphql", json=body)
        assert response.json() == {"data": {"programRules": []}}, response.text
    by_get = await http.get("/graphql", params={"documentId": "3f2a9c"},
                            headers={"accept": "application/json"})
    assert by_get.json() == {"data": {"programRules": []}}
    # Apollo's link asks for the same trusted text by its SHA-256, with or without it.
    for with_text in (False, True):
        by_hash = await apq_post(http, RULES, with_text=with_text)
        assert by_hash.json() == {"data": {"programRules": []}}, by_hash.text
    unknown = await http.post("/graphql", json={"documentId": "nope"})
    assert error_code(unknown) == "PERSISTED_QUERY_NOT_FOUND"
    assert "nope" in unknown.json()["errors"][0]["message"]


async def test_an_administrator_is_exempt_when_the_setting_says_so(
    settings: Settings, clock: ManualClock, http: httpx.AsyncClient,
) -> None:
    open_http = http
    for exempt, runs in ((frozenset({TrustedExemption.ADMIN}), True), (frozenset(), False)):
        configured = dataclasses.replace(settings, persisted=PersistedOperationSettings(
            trusted_documents=TrustedDocuments.ALLOW_LIST, exempt=exempt))
        async with started_app(configured, clock) as (http, state):
            # Signed in on an open app of the same database: tokenCreate is not trusted.
            admin = await GraphQLClient(open_http, state).admin(f"admin{len(exempt)}@a.example")
            response = await GraphQLClient(http, state).post(
                UNLISTED, token=admin.access_token)
            body = response.json()
            if runs:
                assert body == {"data": {"programRules": []}}, body
            else:
                assert body["errors"][0]["extensions"]["code"] == (
                    "PERSISTED_QUERY_NOT_TRUSTED")
            # Exempt or not, nothing is registered in allow-list mode.
            await apq_post(http, UNLISTED, with_text=True, token=admin.access_token)
            assert await stored(state) == []


async def test_a_member_is_not_exempt(
    locked: tuple[httpx.AsyncClient, AppState, Settings], gql: GraphQLClient,
) -> None:
    http, _, _ = locked
    member = await gql.member()  # signed up on an open app of the same database
    refused = await http.post("/graphql", json={"query": UNLISTED},
                              headers={"authorization": f"Bearer {member.access_token}"})
    assert error_code(refused) == "PERSISTED_QUERY_NOT_TRUSTED"


async def test_graphiql_is_exempt_only_where_it_is_served(
    settings: Settings, clock: ManualClock,
) -> None:
    configured = allow_list(settings, TrustedExemption.GRAPHIQL)
    async with started_app(configured, clock) as (http, _):
        from_graphiql = await http.post("/graphql", json={"query": UNLISTED},
                                        headers={"referer": "http://kizuna.test/graphql"})
        assert from_graphiql.json() == {"data": {"programRules": []}}
        elsewhere = await http.post("/graphql", json={"query": UNLISTED},
                                    headers={"referer": "http://evil.example/graphql"})
        assert error_code(elsewhere) == "PERSISTED_QUERY_NOT_TRUSTED"


async def test_a_manifest_with_bad_operations_is_refused_whole_listing_each(
    settings: Settings, state: AppState, tmp_path: Path,
) -> None:
    manifest = apollo_manifest(RULES, "query Broken { programRules { name ",
                               "query Unknown { noSuchField }")
    manifest["operations"].append({"id": "0" * 64, "name": "Liar", "type": "query",
                                   "body": WAYS})
    code, _, err = await add(settings, state, write(tmp_path, manifest))
    assert code == 1
    assert "nothing was written" in err
    assert "(Broken)" in err and "Syntax Error" in err
    assert "(Unknown)" in err and "noSuchField" in err
    assert "(Liar)" in err and "not the SHA-256" in err
    assert "(Rules)" not in err
    assert await stored(state) == []


@pytest.mark.parametrize(("manifest", "fragment"), [
    ("[1, 2]", "not a manifest"),
    ("{", "not JSON"),
    ('{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}',
     "version 2 is not supported"),
    ('{"a": "fragment F on Query { tiers { name } }"}', "defines no operation"),
    ('{"a": "query A { tiers { name } }", "b": "mutation A { tiers { name } }"}',
     "Cannot query field 'tiers' on type 'Mutation'"),
])
async def test_unusable_manifests_get_a_clear_error(
    settings: Settings, state: AppState, tmp_path: Path, manifest: str, fragment: str,
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(manifest)
    code, _, err = await add(settings, state, path)
    assert code == 1
    assert fragment in err
    assert await stored(state) == []


async def test_adding_the_same_manifest_again_changes_nothing(
    settings: Settings, state: AppState, tmp_path: Path,
) -> None:
    path = write(tmp_path, apollo_manifest(RULES, WAYS))
    assert (await add(settings, state, path))[0] == 0
    first = await stored(state)
    code, out, _ = await add(settings, state, path)
    assert code == 0
    assert "0 added" in out and "2 unchanged" in out
    assert await stored(state) == first


async def test_an_id_stored_with_another_body_is_refused_and_nothing_is_written(
    settings: Settings, state: AppState, tmp_path: Path,
) -> None:
    assert (await add(settings, state, write(tmp_path, {"v1": RULES}, "a.json")))[0] == 0
    code, _, err = await add(settings, state, write(
        tmp_path, {"v1": WAYS, "v2": UNLISTED}, "b.json"))
    assert code == 1
    assert "v1" in err and "different body" in err
    assert {d["_id"] for d in await stored(state)} == {"v1"}


async def test_a_query_registered_automatically_becomes_trusted_when_a_manifest_has_it(
    http: httpx.AsyncClient, settings: Settings, state: AppState, tmp_path: Path,
) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    code, out, _ = await add(settings, state, write(tmp_path, apollo_manifest(PUBLIC_QUERY)))
    assert code == 0
    assert "1 registered before and now trusted" in out
    [document] = await stored(state)
    assert document["trusted"] is True
    assert "expires_at" not in document


async def test_the_cli_adds_lists_and_removes(settings: Settings, tmp_path: Path) -> None:
    env = {"KIZUNA_MONGODB_URI": settings.mongodb_uri or "",
           "KIZUNA_DATABASE": settings.database, "KIZUNA_DATA_DIR": str(settings.data_dir)}
    path = write(tmp_path, apollo_manifest(RULES))
    added = kizuna("operations", "add", str(path), env=env)
    assert added.returncode == 0, added.stderr
    assert "1 added" in added.stdout
    listed = kizuna("operations", "list", env=env)
    assert listed.stdout.split() == [sha256(RULES), "Rules", "trusted"]
    bad = write(tmp_path, apollo_manifest("query Nope { nope }"), "bad.json")
    refused = kizuna("operations", "add", str(bad), env=env)
    assert refused.returncode == 1
    assert "nothing was written" in refused.stderr and "nope" in refused.stderr
    removed = kizuna("operations", "remove", sha256(RULES), env=env)
    assert removed.returncode == 0, removed.stderr
    assert kizuna("operations", "list", env=env).stdout == ""


async def _over_socket(url: str, token: str, query: str) -> dict[str, Any]:
    """The first message answering `query` sent over graphql-transport-ws."""
    async with websockets.connect(url, subprotocols=[
        websockets.Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send(json.dumps({"type": "connection_init",
                                      "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": query}}))
        async with asyncio.timeout(10):
            answer: dict[str, Any] = json.loads(await socket.recv())
        return answer


async def test_the_allow_list_holds_over_the_websocket_too(
    settings: Settings, clock: ManualClock, gql: GraphQLClient, tmp_path: Path,
) -> None:
    member = await gql.member()  # on an open app of the same database
    locked_settings = allow_list(settings)
    app = create_app(locked_settings, clock=clock)
    async with live_server(app) as server:
        url = server.url.replace("http://", "ws://") + "/graphql"
        code, _, err = await add(locked_settings, app.state.kizuna,
                                 write(tmp_path, apollo_manifest(RULES)))
        assert code == 0, err
        refused = await _over_socket(url, member.access_token, UNLISTED)
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_TRUSTED"
        answered = await _over_socket(url, member.access_token, RULES)
        assert answered == {"id": "1", "type": "next",
                            "payload": {"data": {"programRules": []}}}


async def test_the_scanner_pages_own_operations_run_under_the_allow_list(
    locked: tuple[httpx.AsyncClient, AppState, Settings],
) -> None:
    """The /scanner page ships with the server: its operations need no manifest, exactly as
    the page sends them, and nothing else rides on that."""
    http, _, _ = locked
    operations = operations_of(SCANNER_CLIENT.read_text(encoding="utf-8"))
    sign_in = {"input": {"email": "sam@example.com", "password": "not the password"}}

    tried = await http.post("/graphql", json={
        "query": operations["TOKEN_CREATE"], "variables": sign_in})
    viewer = await http.post("/graphql", json={"query": operations["VIEWER"]})
    altered = await http.post("/graphql", json={
        "query": operations["VIEWER"].replace("name code", "name"), "variables": {}})

    assert tried.json()["data"]["tokenCreate"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    # It ran: refused by the field's own rule (signed out), not by the allow-list.
    assert viewer.json()["data"] == {"viewer": None}
    assert error_code(viewer) == "UNAUTHENTICATED"
    assert error_code(altered) == "PERSISTED_QUERY_NOT_TRUSTED"


def test_every_document_the_scanner_sends_is_one_of_its_trusted_operations() -> None:
    operations = operations_of(SCANNER_CLIENT.read_text(encoding="utf-8"))
    sent = {
        name for script in SCANNER_CLIENT.parent.glob("*.js")
        for name in re.findall(r"\b(?:gql|post)\(\s*(\w+)\s*,", script.read_text("utf-8"))
        if name not in {"query"}  # api.js's own helpers pass their parameter on
    }

    assert set(operations) == {"TOKEN_CREATE", "TOKEN_REFRESH", "TOKEN_REVOKE", "VIEWER",
                               "VOUCHER_CHECK", "VOUCHER_REDEEM"}
    assert sent and sent <= set(operations), sent - set(operations)


def test_a_scanner_document_built_from_an_unknown_part_stops_the_server() -> None:
    source = ("// ---- GraphQL documents\n"
              "const A = `query A { ${MISSING} }`;\n// ---- storage\n")
    with pytest.raises(BuiltinOperationsError, match="MISSING"):
        operations_of(source)
