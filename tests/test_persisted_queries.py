"""Apollo's automatic persisted queries over HTTP: a hash alone misses with the error Apollo's
link retries on, the hash with the text registers it, then the hash alone runs it (POST and
GET); the text must hash to the hash; registration is bounded; a public answer to a GET by
hash carries an ETag and answers 304 to If-None-Match, a member's answer is never
cacheable."""

import asyncio
import dataclasses
import hashlib
from datetime import timedelta
from typing import Any

import httpx
import pytest

from api.migrations import migrate
from api.operation_store import OPERATIONS, OperationStore, TrustedOperation
from api.settings import PersistedOperationSettings, Settings, TrustedDocuments
from api.state import AppState
from tests.persisted_apps import started_app, started_app_for
from tests.persisted_support import (
    ME_QUERY,
    PUBLIC_QUERY,
    apq_get,
    apq_post,
    error_code,
    sha256,
)
from tests.support import TEST_CLIENT_ADDRESS, GraphQLClient


async def _stored(state: AppState) -> list[dict[str, Any]]:
    return [d async for d in state.services.store.collection(OPERATIONS).find({})]


async def test_unknown_hash_answers_persisted_query_not_found_as_apollo_expects(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    response = await apq_post(http, PUBLIC_QUERY, with_text=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/")
    errors = response.json()["errors"]
    assert errors == [{"message": "PersistedQueryNotFound", "extensions": {
        "code": "PERSISTED_QUERY_NOT_FOUND", "requestId": response.headers["x-request-id"]}}]
    assert await _stored(state) == []


async def test_hash_with_text_registers_then_the_hash_alone_runs_over_post_and_get(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    registered = await apq_post(http, PUBLIC_QUERY, with_text=True)
    assert registered.status_code == 200, registered.text
    assert registered.json() == {"data": {"programRules": []}}
    [document] = await _stored(state)
    assert (document["_id"], document["body"], document["trusted"]) == (
        sha256(PUBLIC_QUERY), PUBLIC_QUERY, False)

    by_post = await apq_post(http, PUBLIC_QUERY, with_text=False)
    assert by_post.json() == {"data": {"programRules": []}}
    by_get = await apq_get(http, PUBLIC_QUERY)
    assert by_get.status_code == 200, by_get.text
    assert by_get.json() == {"data": {"programRules": []}}


async def test_a_hit_by_hash_costs_no_more_database_round_trips_than_the_text(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    await apq_post(http, PUBLIC_QUERY, with_text=False)  # warm: the programme's wording
    commands = state.services.store.commands

    async def round_trips(send: Any) -> int:
        before = commands.total
        response = await send()
        assert response.json() == {"data": {"programRules": []}}
        return commands.total - before

    by_text = await round_trips(lambda: http.post("/graphql", json={"query": PUBLIC_QUERY}))
    by_hash = await round_trips(lambda: apq_post(http, PUBLIC_QUERY, with_text=False))
    assert by_hash == by_text  # the operation came from the process's copy


async def test_text_that_does_not_hash_to_the_sent_hash_is_refused_and_not_stored(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    response = await apq_post(http, PUBLIC_QUERY, with_text=True, digest=sha256("other"))
    assert error_code(response) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "provided sha does not match query" in response.json()["errors"][0]["message"]
    assert "data" not in response.json() or response.json()["data"] is None
    assert await _stored(state) == []


@pytest.mark.parametrize(("persisted", "fragment"), [
    ({"version": 2, "sha256Hash": "0" * 64}, "Unsupported persisted query version"),
    ({"version": 1, "sha256Hash": "not-a-hash"}, "64 lowercase hexadecimal"),
    ("yes", "must be an object"),
])
async def test_malformed_persisted_query_extensions_get_a_clear_error(
    http: httpx.AsyncClient, persisted: object, fragment: str,
) -> None:
    response = await http.post("/graphql", json={
        "query": PUBLIC_QUERY, "extensions": {"persistedQuery": persisted}})
    assert error_code(response) == "PERSISTED_QUERY_BAD_REQUEST"
    assert fragment in response.json()["errors"][0]["message"]


async def test_a_query_that_does_not_validate_runs_into_its_errors_and_is_not_registered(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    query = "query Bad { noSuchField }"
    response = await apq_post(http, query, with_text=True)
    assert response.json()["errors"][0]["message"].startswith("Cannot query field")
    assert await _stored(state) == []


async def test_a_mutation_registers_and_runs_by_hash_over_post(
    http: httpx.AsyncClient, gql: GraphQLClient,
) -> None:
    mutation = """mutation SignIn($input: TokenCreateInput!) {
      tokenCreate(input: $input) { accessToken errors { code } } }"""
    await gql.register("mia@example.com")
    variables = {"input": {"email": "mia@example.com", "password": "correct horse battery "
                                                                   "staple"}}
    first = await apq_post(http, mutation, with_text=False, variables=variables)
    assert error_code(first) == "PERSISTED_QUERY_NOT_FOUND"  # nothing ran
    second = await apq_post(http, mutation, with_text=True, variables=variables)
    assert second.json()["data"]["tokenCreate"]["errors"] == []
    third = await apq_post(http, mutation, with_text=False, variables=variables)
    assert third.json()["data"]["tokenCreate"]["accessToken"]


async def test_at_the_per_client_cap_the_clients_least_recently_used_one_makes_room(
    settings: Settings, clock: Any,
) -> None:
    capped = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        apq_max_per_client=2))
    async with started_app(capped, clock) as (http, state):
        queries = [f"query Q{n} {{ programRules {{ name }} }}" for n in range(3)]
        for query in queries:
            response = await apq_post(http, query, with_text=True)
            assert response.json() == {"data": {"programRules": []}}
            clock.advance(minutes=1)
        assert sorted(d["_id"] for d in await _stored(state)) == sorted(
            sha256(query) for query in queries[1:])
        miss = await apq_post(http, queries[0], with_text=False)
        assert error_code(miss) == "PERSISTED_QUERY_NOT_FOUND"


async def test_registration_can_be_switched_off(settings: Settings, clock: Any) -> None:
    off = dataclasses.replace(settings, persisted=PersistedOperationSettings(apq=False))
    async with started_app(off, clock) as (http, state):
        response = await apq_post(http, PUBLIC_QUERY, with_text=True)
        assert response.json() == {"data": {"programRules": []}}
        assert await _stored(state) == []


async def test_public_get_by_hash_has_an_etag_and_answers_304_to_if_none_match(
    http: httpx.AsyncClient,
) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    first = await apq_get(http, PUBLIC_QUERY)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, no-cache"
    assert "authorization" in first.headers["vary"].lower()
    again = await apq_get(http, PUBLIC_QUERY, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    stale = await apq_get(http, PUBLIC_QUERY, headers={"if-none-match": '"something-else"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()


def _vary(response: httpx.Response) -> set[str]:
    return {part.strip().lower() for part in response.headers.get("vary", "").split(",")
            if part.strip()}


async def test_the_304_carries_the_same_vary_as_the_200(http: httpx.AsyncClient) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    encoding = {"accept-encoding": "gzip"}
    first = await apq_get(http, PUBLIC_QUERY, headers=encoding)
    assert first.status_code == 200
    assert _vary(first) == {"accept", "authorization", "accept-encoding"}
    again = await apq_get(http, PUBLIC_QUERY,
                          headers={**encoding, "if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert _vary(again) == _vary(first)
    assert again.headers.get("vary", "").lower().count("accept-encoding") == 1


async def test_public_max_age_comes_from_the_setting(settings: Settings, clock: Any) -> None:
    cached = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        public_cache_seconds=60))
    async with started_app(cached, clock) as (http, _):
        await apq_post(http, PUBLIC_QUERY, with_text=True)
        response = await apq_get(http, PUBLIC_QUERY)
        assert response.headers["cache-control"] == "public, max-age=60"


async def test_authenticated_and_full_text_gets_are_never_cacheable(
    http: httpx.AsyncClient, gql: GraphQLClient,
) -> None:
    member = await gql.member()
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    signed_in = await apq_get(http, PUBLIC_QUERY, token=member.access_token)
    assert signed_in.status_code == 200
    assert signed_in.headers["cache-control"] == "private, no-store"
    assert "etag" not in signed_in.headers
    full_text = await http.get("/graphql", params={"query": PUBLIC_QUERY},
                               headers={"accept": "application/json"})
    assert full_text.headers["cache-control"] == "private, no-store"
    assert "etag" not in full_text.headers
    await apq_post(http, ME_QUERY, with_text=True, token=member.access_token)
    mine = await http.get("/graphql", params={"extensions": (
        '{"persistedQuery":{"version":1,"sha256Hash":"' + sha256(ME_QUERY) + '"}}')},
        headers={"accept": "application/json",
                 "authorization": f"Bearer {member.access_token}"})
    assert mine.json() == {"data": {"me": {"name": "Ann"}}}
    assert mine.headers["cache-control"] == "private, no-store"
    assert "etag" not in mine.headers


async def test_anonymous_get_with_errors_is_not_public(http: httpx.AsyncClient) -> None:
    await apq_post(http, ME_QUERY, with_text=True)
    response = await http.get("/graphql", params={"extensions": (
        '{"persistedQuery":{"version":1,"sha256Hash":"' + sha256(ME_QUERY) + '"}}')},
        headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"
    assert "etag" not in response.headers


async def test_a_get_by_hash_accepting_anything_runs_the_query_not_graphiql(
    http: httpx.AsyncClient,
) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    response = await apq_get(http, PUBLIC_QUERY, headers={"accept": "*/*"})
    assert response.status_code == 200
    assert response.json() == {"data": {"programRules": []}}


async def _eventually(condition: Any) -> None:
    """Wait (briefly) for a background write: a use is recorded off the request's path."""
    for _ in range(200):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the background write did not happen")


async def test_at_the_total_cap_the_least_recently_used_registration_is_evicted(
    settings: Settings, clock: Any,
) -> None:
    capped = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        apq_max_operations=2))
    used, unused, new = (f"query {name} {{ programRules {{ name }} }}"
                         for name in ("Used", "Unused", "New"))
    async with started_app(capped, clock) as (http, state):
        for query in (used, unused):
            assert "errors" not in (await apq_post(http, query, with_text=True)).json()
            clock.advance(hours=2)
        # A hit from the process's copy: its use is written in the background.
        assert "errors" not in (await apq_post(http, used, with_text=False)).json()
        operations = state.services.store.collection(OPERATIONS)

        async def use_written() -> bool:
            document = await operations.find_one({"_id": sha256(used)})
            return document is not None and document["last_used"] == clock()

        await _eventually(use_written)
        assert "errors" not in (await apq_post(http, new, with_text=True)).json()
        assert sorted(d["_id"] for d in await _stored(state)) == sorted(
            [sha256(used), sha256(new)])
        assert error_code(await apq_post(http, unused, with_text=False)) == (
            "PERSISTED_QUERY_NOT_FOUND")
        for query in (used, new):
            assert "errors" not in (await apq_post(http, query, with_text=False)).json()


async def test_concurrent_registrations_at_the_total_cap_all_run_and_trusted_ones_stay(
    settings: Settings, clock: Any,
) -> None:
    capped = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        apq_max_operations=3))
    queries = [f"query Q{n} {{ programRules {{ name }} }}" for n in range(10)]
    async with started_app(capped, clock) as (http, state):
        await OperationStore(state.services.store, clock=clock).add_trusted(
            [TrustedOperation(id=sha256(PUBLIC_QUERY), body=PUBLIC_QUERY, name="Landing")])
        for query in queries[:3]:
            await apq_post(http, query, with_text=True)
            clock.advance(minutes=1)
        responses = await asyncio.gather(*(apq_post(http, query, with_text=True)
                                           for query in queries[3:9]))
        assert all(r.json() == {"data": {"programRules": []}} for r in responses)
        # Racing registrations may overshoot the cap; the next one evicts back down to it.
        clock.advance(minutes=1)
        await apq_post(http, queries[9], with_text=True)
        stored = await _stored(state)
        registered = [d["_id"] for d in stored if not d["trusted"]]
        assert len(registered) == 3
        assert sha256(queries[9]) in registered
        assert [d["_id"] for d in stored if d["trusted"]] == [sha256(PUBLIC_QUERY)]


async def test_ipv6_clients_of_one_64_share_the_per_client_cap_and_no_address_is_stored(
    settings: Settings, clock: Any,
) -> None:
    capped = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        apq_max_per_client=2))
    addresses = ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:3::1")
    queries = [f"query Q{n} {{ programRules {{ name }} }}" for n in range(4)]
    async with started_app_for(capped, clock, addresses) as (clients, state):
        one, same_64, other_64 = clients
        for http, query in ((one, queries[0]), (one, queries[1]), (same_64, queries[2]),
                            (other_64, queries[3])):
            assert "errors" not in (await apq_post(http, query, with_text=True)).json()
            clock.advance(minutes=1)
        stored = {d["_id"]: d for d in await _stored(state)}
        # The third registration from the /64 evicted the first; the other /64 evicted
        # nothing.
        assert sorted(stored) == sorted(sha256(q) for q in queries[1:])
        assert stored[sha256(queries[1])]["client"] == stored[sha256(queries[2])]["client"]
        assert stored[sha256(queries[3])]["client"] != stored[sha256(queries[1])]["client"]
        dumped = repr(list(stored.values())).lower()
        for address in (*addresses, "2001:db8", TEST_CLIENT_ADDRESS):
            assert address not in dumped


async def test_the_client_is_stored_as_a_keyed_hash_not_its_address(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    [document] = await _stored(state)
    assert TEST_CLIENT_ADDRESS not in repr(document)
    # Keyed: not a plain digest anyone could compute for each of the 2³² IPv4 addresses.
    assert document["client"] != hashlib.sha256(TEST_CLIENT_ADDRESS.encode()).hexdigest()[:32]
    assert len(document["client"]) == 32


async def test_a_registration_expires_after_the_retention_period_since_its_last_use(
    http: httpx.AsyncClient, state: AppState, clock: Any,
) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)
    [document] = await _stored(state)
    assert document["expires_at"] - document["last_used"] == timedelta(days=30)
    clock.advance(days=3)
    await apq_post(http, PUBLIC_QUERY, with_text=False)
    operations = state.services.store.collection(OPERATIONS)

    async def moved() -> bool:
        found = await operations.find_one({"_id": sha256(PUBLIC_QUERY)})
        return found is not None and found["expires_at"] == clock() + timedelta(days=30)

    await _eventually(moved)


async def test_concurrent_registrations_of_one_query_store_it_once_and_all_run(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    responses = await asyncio.gather(*(apq_post(http, PUBLIC_QUERY, with_text=True)
                                       for _ in range(8)))
    assert all(r.json() == {"data": {"programRules": []}} for r in responses)
    assert len(await _stored(state)) == 1


GRAPHQL_RESPONSE = "application/graphql-response+json"
MEDIA_STATUS = [("application/json", 200), (GRAPHQL_RESPONSE, 400),
                (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", 400)]
"""What docs/persisted-operations.md promises for a refusal: a request error, so 200 in the
legacy media type and 400 in the GraphQL-over-HTTP one (Apollo Client 4's preference)."""


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    media = GRAPHQL_RESPONSE if status == 400 else "application/json"
    assert response.headers["content-type"].startswith(media)
    answer = response.json()
    assert answer["errors"][0]["extensions"]["code"] == code
    assert answer.get("data") is None
    assert ("data" in answer) is (status == 200)


@pytest.mark.parametrize(("accept", "status"), MEDIA_STATUS)
async def test_a_miss_is_200_as_json_and_400_as_graphql_response_json(
    http: httpx.AsyncClient, accept: str, status: int,
) -> None:
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(PUBLIC_QUERY)}}}
    by_post = await http.post("/graphql", json=body, headers={"accept": accept})
    _refused(by_post, status, "PERSISTED_QUERY_NOT_FOUND")
    by_get = await apq_get(http, PUBLIC_QUERY, headers={"accept": accept})
    _refused(by_get, status, "PERSISTED_QUERY_NOT_FOUND")
    assert by_get.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize(("accept", "status"), MEDIA_STATUS)
async def test_an_untrusted_operation_is_200_as_json_and_400_as_graphql_response_json(
    settings: Settings, clock: Any, accept: str, status: int,
) -> None:
    locked = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        trusted_documents=TrustedDocuments.ALLOW_LIST, exempt=frozenset()))
    async with started_app(locked, clock) as (http, _):
        response = await http.post("/graphql", json={"query": PUBLIC_QUERY},
                                   headers={"accept": accept})
        _refused(response, status, "PERSISTED_QUERY_NOT_TRUSTED")


async def test_registrations_stored_with_a_raw_address_are_forgotten_once(
    http: httpx.AsyncClient, state: AppState,
) -> None:
    await apq_post(http, PUBLIC_QUERY, with_text=True)  # the new form: kept
    operations = state.services.store.collection(OPERATIONS)
    await operations.insert_one({
        "_id": sha256("old"), "sha256": sha256("old"), "body": "old", "name": None,
        "trusted": False, "source": "apq", "client": TEST_CLIENT_ADDRESS,
        "created_at": state.services.clock(), "expires_at": state.services.clock()})
    await operations.insert_one({"_id": "relay-1", "sha256": sha256("x"), "body": "x",
                                 "trusted": True, "source": "manifest"})
    await state.services.store.collection("migrations").delete_one(
        {"_id": "persisted_operations_client_hash_v1"})
    await migrate(state.services.store)
    assert sorted(d["_id"] for d in await _stored(state)) == sorted(
        [sha256(PUBLIC_QUERY), "relay-1"])
