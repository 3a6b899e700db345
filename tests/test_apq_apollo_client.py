"""A real client: Apollo Client 4 and its persisted-query link (npm, tests/js/apq) against a
live server. The first request of each query sends the hash alone and misses (400 in the
media type Apollo Client 4 asks for), the link retries with the text (registered), and the
next request is a hit by hash alone — over POST, and over GET (`useGETForHashedQueries`),
where the hit carries an ETag."""

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.operation_store import OPERATIONS
from api.settings import Settings
from store import connect
from tests.browser_support import live_server
from tests.support import ManualClock

CLIENT_DIR = Path(__file__).resolve().parent / "js" / "apq"
NPM_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="session")
def apollo_client_dir() -> Path:
    """tests/js/apq with its node_modules installed from the lock file (once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("KIZUNA_REQUIRE_NODE"):
            pytest.fail("node and npm are required (KIZUNA_REQUIRE_NODE is set)")
        pytest.skip("node/npm not installed")
    if not (CLIENT_DIR / "node_modules" / "@apollo" / "client").is_dir():
        subprocess.run(  # noqa: S603 - npm with fixed arguments
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=CLIENT_DIR,
            check=True, capture_output=True, timeout=NPM_TIMEOUT_SECONDS)
    return CLIENT_DIR


async def _run_client(directory: Path, url: str) -> list[dict[str, Any]]:
    node = shutil.which("node") or "node"
    process = await asyncio.create_subprocess_exec(
        node, "apq.mjs", url, cwd=directory,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_apollo_clients_first_request_registers_and_the_next_is_a_hit_by_hash(
    apollo_client_dir: Path, settings: Settings, clock: ManualClock,
) -> None:
    app = create_app(settings, clock=clock)
    try:
        async with live_server(app) as server:
            lines = await _run_client(apollo_client_dir, f"{server.url}/graphql")
            documents = [d async for d in app.state.kizuna.services.store.collection(
                OPERATIONS).find({})]
    finally:
        store = connect(settings.mongodb_uri or "", settings.database)
        await store.client.drop_database(settings.database)
        await store.close()

    results = [line for line in lines if "result" in line]
    assert [r["error"] for r in results] == [None] * 4
    assert [r["result"] for r in results] == [{"programRules": []}] * 4
    for flow, hashed_method in (("post", "POST"), ("get", "GET")):
        exchanges = [line for line in lines if line["flow"] == flow and "method" in line]
        # miss (hash alone), retry with the text (POST), then a hit by hash alone
        assert [e["method"] for e in exchanges] == [hashed_method, "POST", hashed_method]
        miss, register, hit = exchanges
        assert json.loads(miss["answer"])["errors"][0]["extensions"]["code"] == (
            "PERSISTED_QUERY_NOT_FOUND")
        # Apollo Client 4 prefers application/graphql-response+json, where the miss is a
        # request error, 400 (docs/persisted-operations.md) — and the link still retries.
        assert miss["accept"].startswith("application/graphql-response+json")
        assert (miss["status"], miss["type"]) == (400, "application/graphql-response+json")
        assert (hit["status"], hit["type"]) == (200, "application/graphql-response+json")
        for hashed in (miss, hit):
            assert "query" not in json.loads(hashed["sent"] or "{}")
            assert "query=" not in hashed["url"]
            assert "persistedQuery" in (hashed["sent"] or "") + hashed["url"].replace(
                "%22", '"')
        assert json.loads(register["sent"])["query"].startswith("query Landing")
        assert json.loads(hit["answer"]) == {"data": {"programRules": []}}
        if flow == "get":
            assert hit["etag"]
    assert sorted(d["name"] for d in documents) == ["LandingGet", "LandingPost"]
