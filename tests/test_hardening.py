"""GraphQL hardening: size, depth, alias, token and cost limits, transport rules, error
masking, production lock-down, and a schema that documents itself and is exported."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    specified_scalar_types,
)
from graphql import validate as graphql_validate
from strawberry.relay import to_base64

import schema.accounts
import schema.context
import schema.validation
from schema.build import SchemaLimits, build_schema, export_sdl
from tests.support import DEFAULT_PASSWORD, GraphQLClient

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "http://kizuna.test"
MASKED = "Internal server error."
STORES_PAGE = "stores(first: 100) { edges { node { id code name timezone createdAt } } }"
REGISTER = f"""mutation {{ accountRegister(input: {{email: "eve@example.com",
  password: "{DEFAULT_PASSWORD}", name: "Eve"}}) {{ member {{ id }} errors {{ code }} }} }}"""


def _messages(body: dict[str, Any]) -> list[str]:
    return [error["message"] for error in body.get("errors", [])]


def _nested(levels: int) -> str:
    """`{ x { x { ... { id } } } }` with `levels` fields that have a selection set."""
    selection = "id"
    for _ in range(levels):
        selection = f"x {{ {selection} }}"
    return f"{{ {selection} }}"


async def _accounts(gql: GraphQLClient) -> int:
    return await gql.state.services.store.collection("accounts").count_documents({})


# --- validation limits -------------------------------------------------------------------


async def test_query_deeper_than_ten_levels_is_rejected(gql: GraphQLClient) -> None:
    shallow = await gql.execute(_nested(10))
    assert not any("depth" in message for message in _messages(shallow))

    deep = await gql.execute(_nested(11))
    assert deep["data"] is None
    assert "'anonymous' exceeds maximum operation depth of 10" in _messages(deep)


async def test_more_than_fifteen_aliases_are_rejected(gql: GraphQLClient) -> None:
    fifteen = "{ " + " ".join(f"a{i}: __typename" for i in range(15)) + " }"
    assert (await gql.data(fifteen))["a14"] == "Query"

    sixteen = "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
    body = await gql.execute(sixteen)
    assert body["data"] is None
    assert _messages(body) == ["16 aliases found. Allowed: 15"]


async def test_more_than_2000_tokens_are_rejected(gql: GraphQLClient) -> None:
    admin = await gql.admin()

    def preview(tier_ids: int) -> str:
        # 23 tokens around the list, one per id in it.
        ids = f' "{to_base64("Tier", "t")}"' * tier_ids
        return (f"{{ segmentPreview(input: {{conditions: {{tiers: [{ids} ]}}}}) "
                "{ errors { code } } }")

    within = await gql.data(preview(1977), token=admin.access_token)  # 2000 tokens
    assert within["segmentPreview"]["errors"] == [{"code": "UNKNOWN_TIER"}]

    body = await gql.execute(preview(1978), token=admin.access_token)  # 2001 tokens
    assert body["data"] is None
    [message] = _messages(body)
    assert "more than 2000 tokens" in message


async def test_costly_query_is_rejected_before_it_runs(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    # One page of 100 stores costs 1 + 100 × 7 = 701: within the limit of 1000.
    one_page = await gql.execute(f"{{ {STORES_PAGE} }}", token=admin.access_token)
    assert "errors" not in one_page

    body = await gql.execute(f"{{ a: {STORES_PAGE} b: {STORES_PAGE} }}", token=admin.access_token)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "1402" in error["message"]


async def test_cost_counts_variables_and_fragments(gql: GraphQLClient) -> None:
    admin = await gql.admin()
    query = """query($n: Int!) { ...Page a: stores(first: $n) { edges { node { id code name
      timezone createdAt } } } }
      fragment Page on Query { stores(first: $n) { edges { node { id code name timezone
      createdAt } } } }"""
    cheap = await gql.execute(query, {"n": 10}, token=admin.access_token)
    assert "errors" not in cheap
    costly = await gql.execute(query, {"n": 100}, token=admin.access_token)
    assert [e["extensions"]["code"] for e in costly["errors"]] == ["QUERY_TOO_COSTLY"]


async def test_cost_limit_applies_before_permissions(gql: GraphQLClient) -> None:
    """Nobody, signed in or not, gets a costly query past validation."""
    body = await gql.execute(f"{{ a: {STORES_PAGE} b: {STORES_PAGE} }}")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COSTLY"]


# --- transport rules ---------------------------------------------------------------------


async def test_batched_requests_are_refused_and_not_executed(gql: GraphQLClient) -> None:
    response = await gql.http.post(
        "/graphql", json=[{"query": REGISTER}, {"query": "{ __typename }"}]
    )
    assert 400 <= response.status_code < 500
    assert await _accounts(gql) == 0


async def test_mutations_over_get_are_refused_and_not_executed(gql: GraphQLClient) -> None:
    response = await gql.http.get("/graphql", params={"query": REGISTER})
    assert 400 <= response.status_code < 500
    assert await _accounts(gql) == 0
    # The same mutation over POST works.
    created = await gql.data(REGISTER)
    assert created["accountRegister"]["errors"] == []


async def test_queries_over_get_work(gql: GraphQLClient) -> None:
    member = await gql.member()
    response = await gql.http.get(
        "/graphql", params={"query": "{ me { email } }"},
        headers={"authorization": f"Bearer {member.access_token}"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"email": "ann@example.com"}}}


async def test_request_body_over_64_kib_is_refused(gql: GraphQLClient) -> None:
    padding = "#" + "a" * (60 * 1024)  # a comment: no tokens, just bytes
    fits = await gql.http.post("/graphql", json={"query": "{ __typename }\n" + padding})
    assert fits.status_code == 200

    too_large = "#" + "a" * (64 * 1024)
    response = await gql.http.post("/graphql", json={"query": REGISTER + "\n" + too_large})
    assert response.status_code == 413
    assert await _accounts(gql) == 0


async def test_streamed_body_over_64_kib_is_refused(gql: GraphQLClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }\\n#'
        for _ in range(70):
            yield b"a" * 1024
        yield b'"}'

    response = await gql.http.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


# --- error masking -----------------------------------------------------------------------


async def test_unexpected_error_in_a_mutation_is_masked(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("connection string mongodb://admin:hunter2@db")

    monkeypatch.setattr(schema.accounts, "register", broken)
    response = await gql.post(REGISTER)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert _messages(body) == [MASKED]
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


async def test_unexpected_error_in_a_query_is_masked(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await gql.member()

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(schema.context, "get_accounts", broken)
    response = await gql.post("{ me { email } }", token=member.access_token)
    body = response.json()
    assert body["data"] == {"me": None}
    assert _messages(body) == [MASKED]
    assert "secret internals" not in response.text


async def test_permission_denial_is_not_masked(gql: GraphQLClient) -> None:
    member = await gql.member()
    body = await gql.execute("{ stores { edges { node { id } } } }", token=member.access_token)
    [error] = body["errors"]
    assert error["message"] == "Only administrators can do this."
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_validation_errors_are_not_masked(gql: GraphQLClient) -> None:
    body = await gql.execute("{ nothingHere }")
    assert _messages(body) == ["Cannot query field 'nothingHere' on type 'Query'."]


# --- development and production ----------------------------------------------------------


async def test_development_offers_introspection_suggestions_and_graphiql(
    gql: GraphQLClient,
) -> None:
    types = (await gql.data("{ __schema { types { name } } }"))["__schema"]["types"]
    assert "Member" in {t["name"] for t in types}
    misspelled = await gql.execute("{ mee { id } }")
    assert "Did you mean 'me'?" in _messages(misspelled)[0]
    page = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "GraphiQL" in page.text


async def test_production_refuses_introspection(production: GraphQLClient) -> None:
    for query in ("{ __schema { types { name } } }", '{ __type(name: "Member") { name } }'):
        body = await production.execute(query)
        assert body.get("data") is None, query
        assert any("introspection has been disabled" in m for m in _messages(body)), body
    # `__typename` is not introspection of the schema and keeps working.
    assert await production.data("{ __typename }") == {"__typename": "Query"}


async def test_production_gives_no_field_suggestions(production: GraphQLClient) -> None:
    body = await production.execute("{ mee { id } }")
    [message] = _messages(body)
    assert "Cannot query field 'mee'" in message
    assert "Did you mean" not in message


async def test_production_does_not_serve_graphiql(production: GraphQLClient) -> None:
    page = await production.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code != 200 or not page.headers["content-type"].startswith("text/html")
    assert "GraphiQL" not in page.text


async def test_production_issues_tokens_signed_with_the_configured_key(
    production: GraphQLClient,
) -> None:
    member = await production.member()
    me = await production.data("{ me { email } }", token=member.access_token)
    assert me["me"]["email"] == "ann@example.com"


# --- the schema itself -------------------------------------------------------------------


def test_committed_schema_matches_the_code() -> None:
    committed = (REPO_ROOT / "schema.graphql").read_text()
    assert committed == export_sdl(), (
        "schema.graphql is stale; run `kizuna export-schema` and commit the result"
    )


def _undocumented() -> Iterator[str]:
    graphql_schema = build_schema(SchemaLimits(), production=False)._schema
    for name, graphql_type in graphql_schema.type_map.items():
        if name.startswith("__") or name in specified_scalar_types:
            continue
        if not graphql_type.description:
            yield name
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    yield f"{name}.{field_name}"
                for arg_name, arg in field.args.items():
                    if not arg.description:
                        yield f"{name}.{field_name}({arg_name})"
        elif isinstance(graphql_type, GraphQLInputObjectType):
            for field_name, input_field in graphql_type.fields.items():
                if not input_field.description:
                    yield f"{name}.{field_name}"
        elif isinstance(graphql_type, GraphQLEnumType):
            for value_name, value in graphql_type.values.items():
                if not value.description:
                    yield f"{name}.{value_name}"
        elif isinstance(graphql_type, GraphQLUnionType):
            pass  # a union has only its own description


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    missing = sorted(_undocumented())
    assert missing == [], f"undocumented schema elements: {missing}"


async def test_a_repeated_query_is_validated_once(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The validation cache keys on the rule classes: rules rebuilt per request would make
    # every request miss it and validate again.
    validations: list[object] = []

    def counting_validate(*args: Any, **kwargs: Any) -> Any:
        validations.append(args[1])
        return graphql_validate(*args, **kwargs)

    monkeypatch.setattr(schema.validation, "validate", counting_validate)
    for _ in range(3):
        await gql.data('{ __type(name: "Member") { name fields { name } } }')
    assert len(validations) == 1
