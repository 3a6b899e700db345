"""GraphQL over HTTP as the bench sends it: prepared requests and how a response is judged."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

GRAPHQL_PATH = "/graphql"
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class BenchError(RuntimeError):
    """A setup step (registering members, signing in, starting a server) failed."""


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """One operation, encoded once up front so the load loops spend no time on JSON."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> "GraphQLRequest":
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = dict(variables)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return cls(body=json.dumps(payload).encode(), headers=headers)

    @classmethod
    def persisted(
        cls,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
        with_text: bool = False,
    ) -> "GraphQLRequest":
        """The same operation as an automatic persisted query (Apollo's APQ): its SHA-256
        in `extensions.persistedQuery`, and the text only `with_text` (to register it)."""
        payload: dict[str, Any] = {"extensions": {"persistedQuery": {
            "version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}}
        if with_text:
            payload["query"] = query
        if variables:
            payload["variables"] = dict(variables)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return cls(body=json.dumps(payload).encode(), headers=headers)


def failure_of(response: httpx.Response) -> str | None:
    """Why `response` counts as an error (non-200, not JSON, top-level `errors`, or a
    mutation payload whose `errors` list is not empty), or None."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return "response is not JSON"
    if not isinstance(body, dict):
        return "response is not a JSON object"
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) else errors
        message = first.get("message") if isinstance(first, dict) else first
        return f"GraphQL error: {message}"
    return payload_failure(body.get("data"))


def payload_failure(data: object) -> str | None:
    """The first user error of a mutation payload in `data` (our mutations answer
    `{ field: { …, errors: [{code, message}] } }`), or None: a refused write is not a
    successful one, even though the response is a 200 without top-level errors."""
    if not isinstance(data, dict):
        return None
    for field_name, payload in data.items():
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if errors:
            first = errors[0] if isinstance(errors, list) else errors
            what = (
                f"{first.get('code')}: {first.get('message')}"
                if isinstance(first, dict)
                else str(first)
            )
            return f"{field_name} refused: {what}"
    return None


async def send(client: httpx.AsyncClient, request: GraphQLRequest) -> str | None:
    """Post `request`; None when it succeeded, else a short description of the failure."""
    try:
        response = await client.post(GRAPHQL_PATH, content=request.body, headers=request.headers)
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return failure_of(response)


async def execute(client: httpx.AsyncClient, request: GraphQLRequest) -> dict[str, Any]:
    """The `data` of a successful response; raises BenchError on any failure (setup calls)."""
    try:
        response = await client.post(GRAPHQL_PATH, content=request.body, headers=request.headers)
    except httpx.HTTPError as error:
        raise BenchError(f"request failed: {type(error).__name__}: {error}") from error
    problem = failure_of(response)
    if problem is not None:
        raise BenchError(f"{problem}: {response.text[:500]}")
    data: dict[str, Any] = response.json()["data"]
    return data
