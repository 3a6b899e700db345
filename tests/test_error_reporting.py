"""What a refused request is told and what it leaves in the log: JSON errors for requests
refused before GraphQL runs, no schema hints in production, one line at most for a client's
mistake and a traceback only for a fault."""

import logging
from typing import Any

import pytest

import schema.accounts
from tests.support import DEFAULT_PASSWORD, GraphQLClient

MISSPELLINGS = {
    "argument": "{ me { vouchers(frist: 1) { edges { node { id } } } } }",
    "enum value": "{ me { vouchers(status: ACTIV) { edges { node { id } } } } }",
    "input field": """mutation { accountRegister(input: {emial: "a@example.com",
        password: "x", name: "A"}) { errors { code } } }""",
    "type": "query($first: Strin) { __typename }",
    "field": "{ mee { id } }",
}


def _messages(body: dict[str, Any]) -> list[str]:
    return [error["message"] for error in body.get("errors", [])]


async def test_development_suggests_what_a_misspelled_name_may_mean(
    gql: GraphQLClient,
) -> None:
    for what, query in MISSPELLINGS.items():
        body = await gql.execute(query)
        assert any("Did you mean" in m for m in _messages(body)), (what, body)


async def test_production_names_nothing_the_client_did_not_name(
    production: GraphQLClient,
) -> None:
    for what, query in MISSPELLINGS.items():
        body = await production.execute(query)
        assert body["errors"], what
        assert not any("Did you mean" in m for m in _messages(body)), (what, body)
    # Values in variables are checked while the operation runs, not while it is validated.
    body = await production.execute(
        "query($s: VoucherStatus) { me { vouchers(status: $s) { edges { node { id } } } } }",
        {"s": "ACTIV"},
    )
    [message] = _messages(body)
    assert "ACTIV" in message
    assert "Did you mean" not in message
    assert "ACTIVE" not in message


async def test_deeply_nested_json_is_a_json_400(gql: GraphQLClient) -> None:
    nested = "[" * 10_000 + "]" * 10_000
    response = await gql.http.post(
        "/graphql",
        content=f'{{"query": "{{ __typename }}", "extensions": {{"x": {nested}}}}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{
        "message": "The JSON is nested too deeply.",
        "extensions": {"code": "BAD_REQUEST", "requestId": response.headers["x-request-id"]},
    }]}
    # The server goes on answering.
    assert await gql.data("{ __typename }") == {"__typename": "Query"}


async def test_requests_refused_before_graphql_runs_get_json_errors(gql: GraphQLClient) -> None:
    response = await gql.http.post(
        "/graphql", content="{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{
        "message": "Unable to parse request body as JSON",
        "extensions": {"code": "BAD_REQUEST", "requestId": response.headers["x-request-id"]},
    }]}


async def test_a_clients_mistakes_leave_no_traceback_in_the_log(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    member = await gql.member()
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    refusals = 0
    for _ in range(20):
        for query, variables, token in (
            ("{ stores { edges { node { id } } } }", None, member.access_token),
            ("{ stores { edges { node { id } } } }", None, None),
            ("{ nothingHere }", None, None),
            ("{ __typename", None, None),
            ("mutation($i: AccountRegisterInput!) { accountRegister(input: $i) { errors "
             "{ code } } }", {"i": {"email": 1}}, None),
        ):
            refusals += len((await gql.execute(query, variables, token=token))["errors"])
    records = [r for r in caplog.records if r.name.startswith(("kizuna", "strawberry"))
               and r.name != "kizuna.access"]
    # One debug line per error the client was given, and nothing more (besides the access
    # log's one line per request).
    assert len(records) == refusals
    assert len([r for r in caplog.records if r.name == "kizuna.access"]) == 20 * 5
    assert all(r.exc_info is None and r.levelno == logging.DEBUG for r in records)
    assert all("\n" not in r.getMessage() for r in records)


async def test_a_fault_is_logged_with_its_traceback(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(schema.accounts, "register", broken)
    caplog.clear()
    body = await gql.execute(f"""mutation {{ accountRegister(input: {{email: "a@example.com",
        password: "{DEFAULT_PASSWORD}", name: "A"}}) {{ errors {{ code }} }} }}""")
    assert _messages(body) == ["Internal server error."]
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None
    assert "the database fell over" in caplog.text
