"""Request ids, structured logs, the access log and the Prometheus metrics, through the
real app and database."""

import asyncio
import dataclasses
import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

import schema.accounts
from api.app import create_app
from api.logs import LogFormat, LogLevel, log_handler, resolved_format
from api.metrics import MAX_OPERATION_NAMES
from api.settings import (
    Environment,
    PersistedOperationSettings,
    Settings,
    SettingsError,
    TrustedDocuments,
)
from store import connect
from tests.persisted_apps import started_app
from tests.support import DEFAULT_PASSWORD, TEST_CLIENT_ADDRESS, GraphQLClient, ManualClock

LogLines = Callable[[], list[dict[str, Any]]]
HEX_ID = 32


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Every line logged while the test runs (ours down to debug), as the JSON pipeline
    renders it on the root logger."""
    stream = io.StringIO()
    handler = log_handler(LogFormat.JSON, stream)
    ours = logging.getLogger("kizuna")
    level = ours.level
    ours.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        ours.setLevel(level)


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "kizuna.access"]


async def scrape(http: httpx.AsyncClient, **headers: str) -> dict[str, float]:
    """/metrics as {'name{label="value",…}': value}, parsed by prometheus_client."""
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def moved(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


# Request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "kept"), [
    ("req-7f3a:edge.1_X", True), ("x" * 128, True), ("x" * 129, False), ("<script>", False),
    ("bad id", False), (None, False),
])
async def test_a_sane_request_id_is_echoed_and_any_other_replaced(
    gql: GraphQLClient, header: str | None, kept: bool
) -> None:
    headers = {"x-request-id": header} if header is not None else {}
    response = await gql.http.post("/graphql", json={"query": "{ __typename }"},
                                   headers=headers)
    assert response.status_code == 200
    answered = response.headers["x-request-id"]
    if kept:
        assert answered == header
    else:
        assert answered != header
        assert len(answered) == HEX_ID and int(answered, 16) >= 0


async def test_every_answer_carries_a_request_id_refusals_included(
    gql: GraphQLClient, settings: Settings
) -> None:
    answers = {
        "invalid token": await gql.http.post(
            "/graphql", json={"query": "{ __typename }"},
            headers={"authorization": "Bearer nonsense"}),
        "too large": await gql.http.post(
            "/graphql", content=b"x" * (settings.graphql.max_body_bytes + 1),
            headers={"content-type": "application/json"}),
        "unknown path": await gql.http.get("/no/such/page"),
        "health": await gql.http.get("/healthz"),
        "metrics": await gql.http.get("/metrics"),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "invalid token": 401, "too large": 413, "unknown path": 404, "health": 200,
        "metrics": 200}
    ids = {answer.headers.get("x-request-id") for answer in answers.values()}
    assert None not in ids
    assert len(ids) == len(answers), "each request has an id of its own"


async def test_graphql_errors_carry_the_request_id_in_their_extensions(
    gql: GraphQLClient,
) -> None:
    member = await gql.member()
    refused = await gql.http.post(
        "/graphql", json={"query": "{ auditLog(first: 1) { edges { cursor } } }"},
        headers={"authorization": f"Bearer {member.access_token}", "x-request-id": "trace-1"})
    invalid = await gql.http.post("/graphql", json={"query": "{ nope }"})

    [denial] = refused.json()["errors"]
    assert denial["extensions"] == {"code": "FORBIDDEN", "requestId": "trace-1"}
    [error] = invalid.json()["errors"]
    assert error["extensions"]["requestId"] == invalid.headers["x-request-id"]


async def test_a_masked_fault_tells_the_client_the_id_its_traceback_is_logged_under(
    gql: GraphQLClient, log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(schema.accounts, "register", broken)
    response = await gql.http.post("/graphql", headers={"x-request-id": "fault-1"}, json={
        "query": f"""mutation Join {{ accountRegister(input: {{email: "a@example.com",
        password: "{DEFAULT_PASSWORD}", name: "A"}}) {{ errors {{ code }} }} }}"""})

    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"requestId": "fault-1"}
    [fault] = [line for line in log_lines() if line["level"] == "error"]
    assert fault["request_id"] == "fault-1" and "the disk caught fire" in fault["exception"]
    [access] = access_lines(log_lines())
    assert access["operation"] == "Join" and access["errors"] == 1


async def test_an_unexpected_exception_outside_graphql_is_a_json_500_with_the_id(
    gql: GraphQLClient, log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> object:
        raise RuntimeError("keys gone")

    keyring = gql.state.keyring
    assert keyring is not None
    monkeypatch.setattr(keyring, "jwks", broken)
    response = await gql.http.get("/.well-known/jwks.json", headers={"x-request-id": "oops-1"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "oops-1"
    assert response.json() == {"errors": [{"message": "Internal server error.", "extensions": {
        "code": "INTERNAL_SERVER_ERROR", "requestId": "oops-1"}}]}
    [fault] = [line for line in log_lines() if line["level"] == "error"]
    assert fault["request_id"] == "oops-1" and "keys gone" in fault["exception"]
    [access] = access_lines(log_lines())
    assert access["status"] == 500 and access["path"] == "/.well-known/jwks.json"


def test_the_log_and_telemetry_settings_are_read_and_checked() -> None:
    read = Settings.from_env({"KIZUNA_LOG_LEVEL": "DEBUG", "KIZUNA_LOG_FORMAT": "json",
                              "KIZUNA_REQUEST_TELEMETRY": "off"})
    assert (read.log_level, read.log_format, read.request_telemetry) == (
        LogLevel.DEBUG, LogFormat.JSON, False)
    assert resolved_format(Settings().log_format, production=False) is LogFormat.CONSOLE
    assert resolved_format(Settings().log_format, production=True) is LogFormat.JSON
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"KIZUNA_LOG_LEVEL": "loud", "KIZUNA_LOG_FORMAT": "xml"})
    assert [problem.split("=")[0] for problem in raised.value.problems] == [
        "KIZUNA_LOG_LEVEL", "KIZUNA_LOG_FORMAT"]


# Logs ----------------------------------------------------------------------------------


async def test_every_line_logged_for_a_request_carries_its_id(
    gql: GraphQLClient, log_lines: LogLines
) -> None:
    await gql.http.post("/graphql", json={"query": "query Broken { nope }"},
                        headers={"x-request-id": "trace-42"})
    await gql.http.post("/graphql", json={"query": "{ __typename }"},
                        headers={"x-request-id": "trace-43"})

    lines = log_lines()
    refused = [line for line in lines if line["logger"] == "kizuna.graphql"]
    assert refused and refused[0]["message"].startswith("request refused")
    assert {line["request_id"] for line in refused} == {"trace-42"}
    assert [(line["request_id"], line["status"]) for line in access_lines(lines)] == [
        ("trace-42", 200), ("trace-43", 200)]


async def test_the_access_line_says_what_was_done_never_by_whom(
    gql: GraphQLClient, log_lines: LogLines
) -> None:
    member = await gql.member(email="ann.secret@example.com", name="Annabel Secret")
    response = await gql.http.get(
        "/graphql", params={"query": "query Home { me { name } }", "apiToken": "qs-secret"},
        headers={"authorization": f"Bearer {member.access_token}"})
    assert response.json()["data"]["me"]["name"] == "Annabel Secret"

    line = access_lines(log_lines())[-1]
    assert line["method"] == "GET" and line["path"] == "/graphql" and line["status"] == 200
    assert line["operation"] == "Home" and line["operation_type"] == "query"
    assert line["principal"] == "member" and line["errors"] == 0
    assert line["bytes"] == len(response.content) and line["duration_ms"] > 0
    assert line["level"] == "info" and line["timestamp"].endswith("Z")
    written = json.dumps(line)
    for secret in ("qs-secret", "apiToken", member.access_token, "ann.secret", "Annabel",
                   DEFAULT_PASSWORD, TEST_CLIENT_ADDRESS):
        assert secret not in written


async def test_a_route_with_a_secret_in_its_path_logs_its_template(
    gql: GraphQLClient, log_lines: LogLines
) -> None:
    await gql.http.get("/data-export/not-a-real-link-token")
    await gql.http.get("/ann@example.com")

    first, second = access_lines(log_lines())
    assert first["path"] == "/data-export/{token}"
    assert second["path"] is None and second["status"] == 404
    assert "not-a-real-link-token" not in json.dumps(first)
    assert "ann@example.com" not in json.dumps(second)


async def test_production_logs_are_json_lines(production: GraphQLClient) -> None:
    stream = io.StringIO()
    handler = log_handler(resolved_format(LogFormat.AUTO, production=True), stream)
    logger = logging.getLogger("kizuna.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        await production.http.post("/graphql", json={"query": "query Ping { __typename }"},
                                   headers={"x-request-id": "prod-1"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "request" and line["request_id"] == "prod-1"
    assert line["operation"] == "Ping" and line["principal"] == "anonymous"


def test_uvicorn_pymongo_and_our_records_go_through_one_pipeline() -> None:
    """configure_logging in a process of its own (it takes over the root logger)."""
    script = """
import logging
from structlog.contextvars import bound_contextvars
from api.logs import LogFormat, LogLevel, configure_logging, structured_logger
configure_logging(LogLevel.INFO, LogFormat.AUTO, production=True)
logging.getLogger("uvicorn.error").info("Started server process")
logging.getLogger("uvicorn.access").info("GET /graphql?token=t HTTP/1.1 200")
logging.getLogger("pymongo.connection").warning("pool cleared")
logging.getLogger("pymongo.command").debug("a command")
with bound_contextvars(request_id="r-9"):
    logging.getLogger("kizuna.graphql").warning("DATABASE_UNAVAILABLE: x")
    structured_logger("kizuna.access").info("request", status=200)
"""
    done = subprocess.run(  # noqa: S603 - this interpreter, our script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(text) for text in done.stderr.splitlines()]
    assert [(line["logger"], line["level"], line["message"]) for line in lines] == [
        ("uvicorn.error", "info", "Started server process"),
        ("pymongo.connection", "warning", "pool cleared"),
        ("kizuna.graphql", "warning", "DATABASE_UNAVAILABLE: x"),
        ("kizuna.access", "info", "request"),
    ]
    assert [line.get("request_id") for line in lines] == [None, None, "r-9", "r-9"]
    assert lines[-1]["status"] == 200


# Metrics -------------------------------------------------------------------------------

OPS = 'kizuna_graphql_operations_total{{operation="{name}",outcome="{outcome}",type="{type}"}}'


async def test_operations_are_counted_by_name_and_outcome(gql: GraphQLClient) -> None:
    before = await scrape(gql.http)
    for _ in range(3):
        await gql.data("query Menu { __typename }")
    await gql.execute("query Menu { nope }")
    await gql.execute("{ __typename }")
    await gql.register(email="bob@example.com", password="short")  # a typed payload error
    after = await scrape(gql.http)

    assert moved(before, after, OPS.format(name="Menu", outcome="ok", type="query")) == 3
    assert moved(before, after, OPS.format(name="Menu", outcome="refused", type="query")) == 1
    assert moved(before, after, OPS.format(name="anonymous", outcome="ok", type="query")) == 1
    assert moved(before, after, 'kizuna_graphql_operation_duration_seconds_count'
                 '{operation="Menu",type="query"}') == 4
    assert moved(before, after,
                 'kizuna_graphql_errors_total{code="GRAPHQL_ERROR",kind="top_level"}') == 1
    assert moved(before, after,
                 'kizuna_graphql_errors_total{code="WEAK_PASSWORD",kind="payload"}') == 1
    assert moved(before, after, 'kizuna_http_requests_total'
                 '{method="POST",route="/graphql",status="2xx"}') == 6
    assert moved(before, after, 'kizuna_http_request_duration_seconds_count'
                 '{route="/graphql"}') == 6
    commands = moved(before, after, "kizuna_db_commands_total{}")
    timed = sum(moved(before, after, key) for key in after
                if key.startswith("kizuna_db_command_duration_seconds_count"))
    assert commands > 0 and timed == commands, "every command sent is timed, once"


async def test_permission_denials_and_routes_are_labelled_by_template(
    gql: GraphQLClient,
) -> None:
    member = await gql.member()
    before = await scrape(gql.http)
    await gql.execute("query Audit { auditLog(first: 1) { edges { cursor } } }",
                      token=member.access_token)
    await gql.http.get("/data-export/abc")
    await gql.http.get("/data-export/def")
    await gql.http.get("/nowhere")
    after = await scrape(gql.http)

    assert moved(before, after, OPS.format(name="Audit", outcome="refused", type="query")) == 1
    assert moved(before, after,
                 'kizuna_graphql_errors_total{code="FORBIDDEN",kind="top_level"}') == 1
    routes = {key: value for key, value in after.items()
              if key.startswith("kizuna_http_requests_total")}
    assert not [key for key in routes if "abc" in key or "nowhere" in key]
    assert sum(moved(before, after, key) for key in routes
               if 'route="/data-export/{token}"' in key) == 2
    assert moved(before, after, 'kizuna_http_requests_total'
                 '{method="GET",route="unmatched",status="4xx"}') == 1


async def test_operation_names_are_capped_so_clients_cannot_grow_the_series(
    gql: GraphQLClient,
) -> None:
    extra = 5
    for number in range(MAX_OPERATION_NAMES + extra):
        await gql.http.post("/graphql", json={"query": f"query N{number} {{ __typename }}"})
    await gql.http.post("/graphql", json={"query": "query A { __typename }",
                                          "operationName": "bad\nname"})
    after = await scrape(gql.http)

    names = {key.split('operation="')[1].split('"')[0] for key in after
             if key.startswith("kizuna_graphql_operations_total")}
    assert len(names - {"other", "anonymous", "invalid"}) == MAX_OPERATION_NAMES
    assert "bad\nname" not in names
    assert sum(value for key, value in after.items()
               if key.startswith('kizuna_graphql_operations_total{operation="other"')) >= extra


async def test_names_a_client_makes_up_take_no_label_slots(gql: GraphQLClient) -> None:
    """Only a document that validated gives its operation a label: an anonymous client
    cannot use up the slots with names of operations that do not exist or do not run."""
    made_up = MAX_OPERATION_NAMES + 50
    for number in range(made_up):
        await gql.http.post("/graphql", json={"query": "query Real { __typename }",
                                              "operationName": f"a{number}"})
    for number in range(made_up):
        await gql.http.post("/graphql", json={"query": f"query b{number} {{ nope }}"})
    before = await scrape(gql.http)
    await gql.data("query Real { __typename }")
    await gql.execute("query Real { nope }")
    after = await scrape(gql.http)

    names = {key.split('operation="')[1].split('"')[0] for key in after
             if key.startswith("kizuna_graphql_operations_total")}
    assert names == {"invalid", "Real"}
    assert sum(value for key, value in after.items()
               if key.startswith('kizuna_graphql_operations_total{operation="invalid"')
               ) == 2 * made_up
    assert moved(before, after, OPS.format(name="Real", outcome="ok", type="query")) == 1
    # Once the name has a label, the same operation refused is counted under it.
    assert moved(before, after, OPS.format(name="Real", outcome="refused", type="query")) == 1


async def test_what_strawberry_refuses_is_the_clients_error_not_ours(
    gql: GraphQLClient,
) -> None:
    before = await scrape(gql.http)
    over_get = await gql.http.get("/graphql", params={"query": "mutation M { __typename }"})
    unknown = await gql.http.post("/graphql", json={"query": "query A { __typename }",
                                                    "operationName": "B"})
    no_query = await gql.http.post("/graphql", json={"query": ""})
    after = await scrape(gql.http)

    assert [over_get.status_code, unknown.status_code, no_query.status_code] == [405, 200, 400]
    outcomes = {outcome: sum(moved(before, after, key) for key in after
                             if key.startswith("kizuna_graphql_operations_total")
                             and f'outcome="{outcome}"' in key)
                for outcome in ("ok", "refused", "error")}
    assert outcomes == {"ok": 0, "refused": 3, "error": 0}
    assert moved(before, after, OPS.format(name="invalid", outcome="refused",
                                           type="mutation")) == 1
    assert moved(before, after, 'kizuna_graphql_errors_total'
                 '{code="METHOD_NOT_ALLOWED",kind="top_level"}') == 1
    assert moved(before, after, 'kizuna_graphql_errors_total'
                 '{code="INTERNAL_SERVER_ERROR",kind="top_level"}') == 0


async def test_the_access_log_holds_no_operation_name_as_a_client_typed_it(
    gql: GraphQLClient, log_lines: LogLines
) -> None:
    typed = "Real\nstatus=500 principal=admin"
    long_name = "L" * 10_000
    await gql.http.post("/graphql", json={"query": "query Real { __typename }",
                                          "operationName": typed})
    await gql.http.post("/graphql", json={"query": f"query {long_name} {{ __typename }}"})
    await gql.http.post("/graphql", json={"query": "query Real { __typename }",
                                          "operationName": "Real"})

    unknown, long, real = access_lines(log_lines())
    assert unknown["operation"] is None and unknown["errors"] == 1
    assert long["operation"] == "other" and long["status"] == 200
    assert real["operation"] == "Real"
    written = json.dumps([unknown, long])
    assert "status=500" not in written and "L" * 101 not in written


async def test_metrics_are_open_in_development(gql: GraphQLClient) -> None:
    assert (await gql.http.get("/metrics")).status_code == 200


@pytest.fixture
async def production_app(settings: Settings) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """A production app, not started: /metrics answers without the database."""
    def client(**changes: Any) -> httpx.AsyncClient:
        app: Starlette = create_app(dataclasses.replace(
            settings, env=Environment.PRODUCTION, **changes))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test")
    yield client


async def test_metrics_are_hidden_in_production_without_a_token(
    production_app: Callable[..., httpx.AsyncClient],
) -> None:
    async with production_app() as http:
        assert (await http.get("/metrics")).status_code == 404
    async with production_app(metrics_token="s3cret") as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"authorization": "Bearer nope"})
                ).status_code == 401
        allowed = await http.get("/metrics", headers={"authorization": "Bearer s3cret"})
        assert allowed.status_code == 200
        assert allowed.headers["content-type"].startswith("text/plain")
        assert list(text_string_to_metric_families(allowed.text))


async def test_two_apps_in_one_process_count_apart(
    gql: GraphQLClient, production_app: Callable[..., httpx.AsyncClient],
) -> None:
    await gql.data("query Solo { __typename }")
    async with production_app(metrics_token="t") as other:
        text = (await other.get("/metrics", headers={"authorization": "Bearer t"})).text
    assert "Solo" not in text
    assert 'operation="Solo"' in (await gql.http.get("/metrics")).text


async def test_telemetry_can_be_switched_off_to_measure_it(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, request_telemetry=False))
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            answer = await http.post("/graphql", json={"query": "query Off { __typename }"})
            assert answer.status_code == 200 and "x-request-id" not in answer.headers
            text = (await http.get("/metrics")).text
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        try:
            await database.client.drop_database(settings.database)
        finally:
            await database.close()
    assert "kizuna_db_commands_total" in text
    assert 'operation="Off"' not in text


async def test_background_job_runs_are_counted(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, expiry_interval_seconds=3600,
                                         webhook_poll_ms=50))
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            async with asyncio.timeout(10):
                while True:
                    runs = {key: value for key, value in (await scrape(http)).items()
                            if key.startswith("kizuna_job_runs_total")}
                    if len(runs) == 11 and all(value >= 2 for key, value in runs.items()
                                              if "webhook" in key):
                        break
                    await asyncio.sleep(0.05)
    finally:
        database = connect(settings.mongodb_uri or "", settings.database)
        try:
            await database.client.drop_database(settings.database)
        finally:
            await database.close()
    jobs = {key.split('job="')[1].split('"')[0] for key in runs}
    assert jobs == {"points_expiry", "tier_review", "gifts", "staged_events", "expired_codes",
                    "audit_retention", "erasures", "webhook_dispatch", "webhook_send", "draws",
                    "leaderboards"}
    assert all('outcome="ok"' in key for key in runs)
    assert runs['kizuna_job_runs_total{job="points_expiry",outcome="ok"}'] == 1, "hourly"


# Answers made before GraphQL runs -------------------------------------------------------


def _request_ids(response: httpx.Response) -> list[object]:
    return [error.get("extensions", {}).get("requestId") for error in response.json()["errors"]]


async def test_refusals_before_graphql_carry_the_request_id_in_their_errors(
    gql: GraphQLClient, settings: Settings
) -> None:
    answers = {
        "invalid token": await gql.http.post(
            "/graphql", json={"query": "{ __typename }"},
            headers={"authorization": "Bearer nonsense"}),
        "too large": await gql.http.post(
            "/graphql", content=b"x" * (settings.graphql.max_body_bytes + 1),
            headers={"content-type": "application/json"}),
        "not acceptable": await gql.http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"accept": "text/csv"}),
        "bad method": await gql.http.put("/graphql", json={"query": "{ __typename }"}),
        "mutation over GET": await gql.http.get(
            "/graphql", params={"query": "mutation M { __typename }"}),
        "no such operation": await gql.http.post(
            "/graphql", json={"query": "query A { __typename }", "operationName": "B"},
            headers={"accept": "application/graphql-response+json"}),
        "persisted, unknown": await gql.http.post("/graphql", json={"extensions": {
            "persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "invalid token": 401, "too large": 413, "not acceptable": 406, "bad method": 405,
        "mutation over GET": 405, "no such operation": 400, "persisted, unknown": 200}
    for name, answer in answers.items():
        assert _request_ids(answer) == [answer.headers["x-request-id"]], name


async def test_persisted_operation_refusals_are_counted_as_refused(
    settings: Settings, clock: ManualClock, log_lines: LogLines
) -> None:
    locked = dataclasses.replace(settings, persisted=PersistedOperationSettings(
        trusted_documents=TrustedDocuments.ALLOW_LIST))
    async with started_app(locked, clock) as (http, _):
        before = await scrape(http)
        untrusted = await http.post("/graphql", json={
            "query": "query Unlisted { programRules { name } }"})
        unknown = await http.post("/graphql", json={"extensions": {
            "persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}})
        after = await scrape(http)

    assert untrusted.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_TRUSTED"
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    for code in ("PERSISTED_QUERY_NOT_TRUSTED", "PERSISTED_QUERY_NOT_FOUND"):
        assert moved(before, after, f'kizuna_graphql_errors_total{{code="{code}",'
                     'kind="top_level"}') == 1, code
    assert moved(before, after, OPS.format(name="invalid", outcome="refused",
                                           type="unknown")) == 2
    refused = [line for line in access_lines(log_lines()) if line["method"] == "POST"]
    assert [(line["errors"], line["principal"]) for line in refused] == [
        (1, "anonymous"), (1, "anonymous")]


async def test_a_request_refused_before_graphql_runs_still_logs_the_kind_of_caller(
    gql: GraphQLClient, log_lines: LogLines
) -> None:
    member = await gql.member()
    refused = await gql.http.post("/graphql", content=b"{ __typename }", headers={
        "authorization": f"Bearer {member.access_token}", "content-type": "text/plain"})
    assert refused.status_code == 415

    line = access_lines(log_lines())[-1]
    assert (line["status"], line["principal"], line["operation"]) == (415, "member", None)


async def test_answers_made_before_routing_are_labelled_with_the_route(
    settings: Settings, clock: ManualClock, log_lines: LogLines
) -> None:
    """A CORS preflight or refusal and a 413 are answered by middleware, before the router
    has chosen a route: they are still counted and logged under the route's template."""
    origin = "https://app.example.com"
    cors = dataclasses.replace(settings, cors_origins=(origin,))
    preflight = {"access-control-request-method": "POST",
                 "access-control-request-headers": "content-type"}
    async with started_app(cors, clock) as (http, _):
        before = await scrape(http)
        allowed = await http.options("/graphql", headers={"origin": origin, **preflight})
        refused = await http.options("/graphql", headers={
            "origin": "https://evil.example.net", **preflight})
        too_large = await http.post(
            "/graphql", content=b"x" * (settings.graphql.max_body_bytes + 1),
            headers={"content-type": "application/json"})
        unknown = await http.options("/nowhere", headers={"origin": origin, **preflight})
        after = await scrape(http)

    assert [allowed.status_code, refused.status_code, too_large.status_code] == [204, 403, 413]
    assert unknown.status_code == 204  # a preflight is answered whatever the path
    for key, count in (('{method="OPTIONS",route="/graphql",status="2xx"}', 1),
                       ('{method="OPTIONS",route="/graphql",status="4xx"}', 1),
                       ('{method="POST",route="/graphql",status="4xx"}', 1),
                       ('{method="OPTIONS",route="unmatched",status="2xx"}', 1)):
        assert moved(before, after, f"kizuna_http_requests_total{key}") == count, key
    paths = [line["path"] for line in access_lines(log_lines())
             if line["path"] != "/metrics"]
    assert paths == ["/graphql", "/graphql", "/graphql", None]
