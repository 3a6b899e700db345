"""Helpers for the persisted-operation tests: Apollo's APQ requests over POST and GET."""

import hashlib
import json
from typing import Any

import httpx

PUBLIC_QUERY = "query Landing { programRules { name howToEarn } }"
ME_QUERY = "query Me { me { name } }"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq_extensions(query: str, digest: str | None = None) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest or sha256(query)}}


async def apq_post(http: httpx.AsyncClient, query: str, *, with_text: bool,
                   token: str | None = None, digest: str | None = None,
                   variables: dict[str, Any] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"extensions": apq_extensions(query, digest)}
    if with_text:
        body["query"] = query
    if variables is not None:
        body["variables"] = variables
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await http.post("/graphql", json=body, headers=headers)


async def apq_get(http: httpx.AsyncClient, query: str, *, token: str | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
    """A hash-only GET as Apollo's link sends it with `useGETForHashedQueries`."""
    sent = {"accept": "application/json", **(headers or {})}
    if token:
        sent["authorization"] = f"Bearer {token}"
    return await http.get("/graphql", params={
        "operationName": "Landing", "variables": "{}",
        "extensions": json.dumps(apq_extensions(query)),
    }, headers=sent)


def error_code(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    code: str = errors[0]["extensions"]["code"]
    return code
