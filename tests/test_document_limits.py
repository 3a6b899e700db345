"""A document's limits are measured in time linear in its size, before any validation rule
reads it: fragment bombs, repeated fields and piles of directives are refused at once."""

import asyncio
import time
from typing import Any

import pytest
from graphql import parse
from graphql import validate as graphql_validate

import schema.validation
from schema.document_limits import DocumentLimits, document_errors
from tests.support import GraphQLClient


def _doubling_bomb(levels: int) -> str:
    """823 bytes at 20 levels: F20 spreads F19 twice, which spreads F18 twice, …"""
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return f"query {{ ...F{levels} }} " + " ".join(fragments)


def _branching_bomb(levels: int) -> str:
    """Each level selects the one below under two different fields: no name repeats, the
    cost doubles with every level (the fields need not exist to be measured)."""
    fragments = ["fragment F0 on Query { leaf }"] + [
        f"fragment F{i} on Query {{ a {{ ...F{i - 1} }} b {{ ...F{i - 1} }} }}"
        for i in range(1, levels + 1)
    ]
    return f"query {{ ...F{levels} }} " + " ".join(fragments)


def _errors(query: str, limits: DocumentLimits | None = None) -> list[tuple[str, str]]:
    errors = document_errors(
        parse(query), limits or DocumentLimits(), operation_name=None, variables={}
    )
    return [(error.extensions["code"], error.message) for error in errors]


async def test_fragment_bomb_is_refused_at_once_while_other_requests_are_served(
    gql: GraphQLClient,
) -> None:
    async def timed(query: str) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        body = await gql.execute(query)
        return body, time.perf_counter() - started

    await gql.execute("{ __typename }")  # warm the parser and validation caches
    (bomb, bomb_seconds), (plain, plain_seconds) = await asyncio.gather(
        timed(_doubling_bomb(30)), timed("{ __typename }")
    )
    assert bomb["data"] is None
    assert [e["extensions"]["code"] for e in bomb["errors"]] == ["TOO_MANY_REPEATED_FIELDS"]
    assert plain == {"data": {"__typename": "Query"}}
    assert bomb_seconds < 0.1
    assert plain_seconds < 0.05


async def test_a_refused_document_reaches_no_validation_rule(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[object] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        validated.append(args[1])
        return graphql_validate(*args, **kwargs)

    monkeypatch.setattr(schema.validation, "validate", spy)
    for query in (_doubling_bomb(20), _branching_bomb(20)):
        body = await gql.execute(query)
        assert body["data"] is None
    assert validated == []
    # A document of its own: validation results are cached for the process's schema.
    await gql.data("query RefusedDocumentsProbe { __typename }")
    assert len(validated) == 1


def test_cost_of_a_bomb_is_counted_exactly_without_expanding_it() -> None:
    # 3 × 2^60 fields could never be expanded; measured once per fragment, this is instant.
    # (F0 costs 1, and each level costs 2 + twice the level below: 3 × 2^n - 2.)
    relaxed = DocumentLimits(max_depth=1_000, max_nesting=1_000)
    [(code, message)] = _errors(_branching_bomb(60), relaxed)
    assert code == "QUERY_TOO_COSTLY"
    assert f"Query cost {3 * 2**60 - 2} exceeds the limit of 1000" in message


def test_aliases_are_counted_as_often_as_they_would_run() -> None:
    query = ("{ ...F ...F } fragment F on Query { ...G ...G } "
             "fragment G on Query { a: __typename b: __typename c: __typename x: me }")
    assert ("TOO_MANY_ALIASES", "16 aliases found. Allowed: 15") in _errors(query)


def test_a_long_chain_of_fragments_is_refused_without_recursion() -> None:
    fragments = ["fragment F0 on Query { __typename }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} }}" for i in range(1, 5000)
    ]
    [(code, message)] = _errors("{ ...F4999 } " + " ".join(fragments))
    assert code == "QUERY_TOO_DEEP"
    assert "nested more than 64 levels" in message


def test_a_field_repeated_more_than_thirty_times_is_refused() -> None:
    assert _errors("{" + " __typename" * 30 + " }") == []
    assert _errors("{" + " __typename" * 31 + " }") == [(
        "TOO_MANY_REPEATED_FIELDS",
        "The field '__typename' is selected 31 times in one selection set. Allowed: 30",
    )]
    # Fragments spread into a selection set count as part of it.
    spread = "{ __typename ...F ...F } fragment F on Query {" + " __typename" * 15 + " }"
    assert [code for code, _ in _errors(spread)] == ["TOO_MANY_REPEATED_FIELDS"]


def test_more_than_fifty_directives_are_refused() -> None:
    assert _errors("{ __typename" + " @include(if: true)" * 50 + " }") == []
    assert _errors("{ __typename" + " @aa" * 51 + " }") == [
        ("TOO_MANY_DIRECTIVES", "51 directives found. Allowed: 50")
    ]


def test_every_operation_and_fragment_is_measured_not_only_the_one_that_runs() -> None:
    page = "stores(first: 100) { edges { node { id code name timezone createdAt } } }"
    costly_operation = f"query Cheap {{ __typename }} query Dear {{ a: {page} b: {page} }}"
    errors = document_errors(
        parse(costly_operation), DocumentLimits(), operation_name="Cheap", variables={}
    )
    assert [(e.extensions["code"], e.message) for e in errors] == [(
        "QUERY_TOO_COSTLY",
        "Operation 'Dear' costs 1402, which exceeds the limit of 1000; "
        "ask for fewer items (`first`) or fewer nested lists.",
    )]
    unused_fragment = f"{{ __typename }} fragment Dear on Query {{ a: {page} b: {page} }}"
    [(code, message)] = _errors(unused_fragment)
    assert code == "QUERY_TOO_COSTLY"
    assert "Fragment 'Dear' costs 1402" in message


async def test_duplicated_fields_and_directive_piles_are_refused_over_http(
    gql: GraphQLClient,
) -> None:
    duplicated = await gql.execute("{" + " __typename" * 1900 + " }")
    assert [e["extensions"]["code"] for e in duplicated["errors"]] == [
        "TOO_MANY_REPEATED_FIELDS"
    ]
    directives = await gql.execute("{ __typename" + " @aa" * 900 + " }")
    assert [e["extensions"]["code"] for e in directives["errors"]] == ["TOO_MANY_DIRECTIVES"]
