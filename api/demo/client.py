"""The demo's GraphQL client: operations posted to the app in-process, as a client would."""

from typing import Any

import httpx


class DemoFailure(Exception):
    """An operation of the demo failed in a way the demo did not plan for."""


class DemoClient:
    """Posts GraphQL to the app through an ASGI transport (no socket) and unwraps payloads."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self.operations = 0

    async def data(self, query: str, variables: dict[str, Any] | None = None, *,
                   token: str | None) -> dict[str, Any]:
        """`data` of an answer without top-level errors; raises DemoFailure otherwise."""
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self._http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        self.operations += 1
        body = response.json() if response.headers.get("content-type", "").startswith(
            "application/") else None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("errors"):
            raise DemoFailure(f"{query.split('(')[0].strip()} answered "
                              f"{response.status_code}: {response.text[:500]}")
        data: dict[str, Any] = body["data"]
        return data

    async def payload(self, field: str, query: str, input: dict[str, Any], *,
                      token: str | None, expected: frozenset[str] = frozenset()) -> (
        dict[str, Any] | None
    ):
        """The payload of mutation `field` run with `input`; None when it refused with one
        of the `expected` error codes (e.g. INSUFFICIENT_POINTS); DemoFailure for any other
        error."""
        payload: dict[str, Any] = (await self.data(query, {"input": input}, token=token))[field]
        errors = payload.get("errors") or []
        if not errors:
            return payload
        if all(error["code"] in expected for error in errors):
            return None
        raise DemoFailure(f"{field} refused: {errors}")
