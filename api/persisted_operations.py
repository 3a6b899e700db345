"""Persisted operations on /graphql: Apollo's automatic persisted queries (APQ) and trusted
documents (an allow-list of the apps' own operations), docs/persisted-operations.md.

A request names a stored operation by `extensions.persistedQuery {version: 1, sha256Hash}`
(APQ, and Apollo's persisted query lists) or by Relay's `documentId` / `doc_id`; `resolve`
turns it into the request strawberry runs, or into the error an Apollo client expects:

- a hash alone, unknown: `PersistedQueryNotFound` (`PERSISTED_QUERY_NOT_FOUND`), a request
  error (400 in application/graphql-response+json, 200 in application/json:
  api/graphql_http.py) — Apollo's link then sends the hash with the text;
- a hash with the text: the text must hash to it (`PERSISTED_QUERY_HASH_MISMATCH`); it runs
  and, if it parsed and validated, is registered (bounded: docs/persisted-operations.md);
- with `KIZUNA_TRUSTED_DOCUMENTS=allow-list`: only trusted operations run (by id, or by a
  text whose SHA-256 is trusted), nothing is registered, anything else is
  `PERSISTED_QUERY_NOT_TRUSTED` — unless the caller is exempt (an administrator, GraphiQL
  while it is served).
"""

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from graphql import GraphQLError
from starlette.requests import Request
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from api.builtin_operations import builtin_hashes
from api.operation_store import OperationStore, RegistrationLimits, sha256_hex
from api.settings import PersistedOperationSettings, TrustedDocuments, TrustedExemption
from api.state import AppState
from auth.roles import Principal, Role

PUBLIC_CANDIDATE = "kizuna.persisted_public"
"""Set in the request's scope state when the request ran a persisted operation by hash over
GET without credentials: its answer may be cached publicly (api/public_caching.py)."""
VERSION = 1
_HASH = re.compile(r"[0-9a-f]{64}")
_MAX_DOCUMENT_ID = 200

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
NOT_TRUSTED = "PERSISTED_QUERY_NOT_TRUSTED"
BAD_REQUEST = "PERSISTED_QUERY_BAD_REQUEST"


def refusal(message: str, code: str) -> ExecutionResult:
    """A request error in the shape Apollo clients read: `errors[0].message` and
    `errors[0].extensions.code`, no data."""
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


@dataclass(frozen=True, slots=True)
class Resolved:
    """The request to run, and what to do once it ran."""

    data: GraphQLRequestData
    register: str | None = None
    """The SHA-256 under which to register the text if it ran without request errors."""


@dataclass(frozen=True, slots=True)
class _Named:
    """The stored operation a request names: `hash` (APQ, a SHA-256) or a Relay id."""

    id: str
    is_hash: bool


class PersistedOperations:
    """Resolves each HTTP GraphQL request against the stored operations."""

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._settings: PersistedOperationSettings = state.settings.persisted
        self._graphiql_served = not state.settings.production
        self._store: OperationStore | None = None
        self._secret: bytes | None = None
        builtin_hashes()  # now: a page source it cannot read stops start-up, not a request

    @property
    def operations(self) -> OperationStore:
        """The operation store of the running app (made once its database is open)."""
        services = self._state.services
        if self._store is None or self._store.database is not services.store:
            self._store = OperationStore(
                services.store, clock=services.clock,
                retention=timedelta(days=self._settings.apq_retention_days))
        return self._store

    def client_key(self, address: str) -> str:
        """What the store keeps of a client: a keyed hash of its network (one IPv6 /64 is
        one client, as a host usually gets a whole /64), never the address (personal
        data). The key derives from the server's signing key, so every process of a
        deployment computes the same one and the hash cannot be reversed by trying the
        2³² IPv4 addresses without it."""
        return hmac.new(self._client_secret(), _network(address).encode(),
                        hashlib.sha256).hexdigest()[:32]

    def _client_secret(self) -> bytes:
        if self._secret is None:
            keyring = self._state.keyring
            if keyring is None:  # not started: never the case while requests are served
                self._secret = secrets.token_bytes(32)
            else:
                raw = keyring.signing.private_key.private_bytes_raw()
                self._secret = hashlib.sha256(b"kizuna-apq-client\0" + raw).digest()
        return self._secret

    async def resolve(self, data: GraphQLRequestData, request: Request,
                      principal: Principal | None) -> Resolved | ExecutionResult:
        """What to run for this request, or the refusal to answer instead."""
        allow_list = self._settings.trusted_documents is TrustedDocuments.ALLOW_LIST
        enforce = allow_list and not self._exempt(request, principal)
        named = await self._named(data, request)
        if isinstance(named, ExecutionResult):
            return named
        if named is None:
            if enforce and data.query is not None:
                if not await self._trusted_text(sha256_hex(data.query)):
                    return refusal("This operation is not in the allow-list of trusted "
                                   "documents; send the id of a trusted operation.", NOT_TRUSTED)
            return Resolved(data)
        if data.query is not None:
            return await self._with_text(data, named, enforce=enforce, allow_list=allow_list)
        stored = await self.operations.by_id(named.id)
        if stored is None and named.is_hash and allow_list:
            # A trusted operation of a Relay manifest, asked for by the hash of its text.
            stored = await self.operations.trusted_by_sha256(named.id)
        if stored is None:
            if named.is_hash:
                return refusal("PersistedQueryNotFound", NOT_FOUND)
            return refusal(f"No trusted document has the id {named.id!r}.", NOT_FOUND)
        if enforce and not stored.trusted:
            return refusal("This operation is not in the allow-list of trusted documents.",
                           NOT_TRUSTED)
        if request.method == "GET" and principal is None:
            request.scope["state"][PUBLIC_CANDIDATE] = True
        return Resolved(replace(data, query=stored.body))

    async def _with_text(self, data: GraphQLRequestData, named: _Named, *, enforce: bool,
                         allow_list: bool) -> Resolved | ExecutionResult:
        """A hash sent with its text: verified, then run (and registered, with APQ)."""
        query = data.query or ""
        if sha256_hex(query) != named.id:
            return refusal("provided sha does not match query: the persisted query's "
                           "sha256Hash must be the SHA-256 (hex) of the query text.",
                           HASH_MISMATCH)
        if enforce:
            if not await self._trusted_text(named.id):
                return refusal("This operation is not in the allow-list of trusted "
                               "documents; it cannot be registered here.", NOT_TRUSTED)
            return Resolved(data)
        if allow_list or not self._settings.apq:
            return Resolved(data)  # exempt, or registration off: runs, is not stored
        if await self.operations.by_id(named.id) is not None:
            return Resolved(data)
        return Resolved(data, register=named.id)

    async def _trusted_text(self, digest: str) -> bool:
        """Whether a text with this SHA-256 may run under the allow-list: an operation of
        the server's own pages (api/builtin_operations.py), or a trusted one."""
        if digest in builtin_hashes():
            return True
        return await self.operations.trusted_by_sha256(digest) is not None

    async def registered(self, resolved: Resolved, result: ExecutionResult,
                         client: str) -> None:
        """Register the text of `resolved` once it ran, if it parsed and validated (a
        request error has no `path`; a field's error, such as a permission denial, has
        one): nothing that fails to parse or validate is ever stored."""
        if resolved.register is None or resolved.data.query is None:
            return
        if any(error.path is None for error in result.errors or ()):
            return
        settings = self._settings
        await self.operations.register(
            body=resolved.data.query, digest=resolved.register,
            name=resolved.data.operation_name, client=self.client_key(client),
            limits=RegistrationLimits(
                max_operations=settings.apq_max_operations,
                max_per_client=settings.apq_max_per_client,
            ))

    async def _named(self, data: GraphQLRequestData,
                     request: Request) -> _Named | ExecutionResult | None:
        """The stored operation the request names, None if none, or why the name is
        unusable."""
        extensions = data.extensions or {}
        persisted = extensions.get("persistedQuery")
        if persisted is not None:
            if not isinstance(persisted, dict):
                return refusal("`extensions.persistedQuery` must be an object "
                               "{version: 1, sha256Hash}.", BAD_REQUEST)
            if persisted.get("version") != VERSION:
                return refusal("Unsupported persisted query version: only version 1 "
                               "(sha256Hash) is supported.", BAD_REQUEST)
            digest = persisted.get("sha256Hash")
            if not isinstance(digest, str) or not _HASH.fullmatch(digest):
                return refusal("`extensions.persistedQuery.sha256Hash` must be 64 "
                               "lowercase hexadecimal digits.", BAD_REQUEST)
            return _Named(digest, is_hash=True)
        if data.query is not None:
            return None
        document_id = await _relay_document_id(request)
        if document_id is None:
            return None
        if not isinstance(document_id, str) or not 0 < len(document_id) <= _MAX_DOCUMENT_ID:
            return refusal(f"`documentId` must be a string of 1 to {_MAX_DOCUMENT_ID} "
                           "characters.", BAD_REQUEST)
        return _Named(document_id, is_hash=False)

    async def socket_refusal(self, query: object,
                             principal: Principal | None) -> GraphQLError | None:
        """Why an operation sent over the WebSocket may not run, or None: in allow-list
        mode its text must be trusted (administrators exempt as configured; the GraphiQL
        exemption needs the page's Referer, which a WebSocket does not carry)."""
        if self._settings.trusted_documents is not TrustedDocuments.ALLOW_LIST or (
            self._admin_exempt(principal) or not isinstance(query, str)
        ):
            return None
        if await self.operations.trusted_by_sha256(sha256_hex(query)) is not None:
            return None
        return GraphQLError("This operation is not in the allow-list of trusted documents.",
                            extensions={"code": NOT_TRUSTED})

    def is_persisted_get(self, params: Mapping[str, object]) -> bool:
        """Whether a GET names a persisted operation (so it is no request for GraphiQL's
        page, whatever its Accept header says)."""
        return any(name in params for name in ("extensions", "documentId", "doc_id"))

    def _exempt(self, request: Request, principal: Principal | None) -> bool:
        if self._admin_exempt(principal):
            return True
        return (TrustedExemption.GRAPHIQL in self._settings.exempt and self._graphiql_served
                and _from_graphiql(request))

    def _admin_exempt(self, principal: Principal | None) -> bool:
        return TrustedExemption.ADMIN in self._settings.exempt and principal is not None and (
            principal.role is Role.ADMIN)


def _network(address: str) -> str:
    """The unit the per-client cap counts: an IPv4 address, or an IPv6 address's /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown", a Unix socket's path
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


async def _relay_document_id(request: Request) -> object:
    """Relay's `documentId` (or the older `doc_id`), which strawberry does not read: from
    the query string of a GET, or from the JSON body (already read, so no I/O)."""
    if request.method == "GET":
        params = request.query_params
        return params.get("documentId", params.get("doc_id"))
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    return body.get("documentId", body.get("doc_id"))


def _from_graphiql(request: Request) -> bool:
    """A request GraphiQL sends: its page is this server's /graphql. A client can claim so
    (the Referer header), which is why the exemption applies only outside production, where
    GraphiQL is served: a convenience for developers, not a security boundary."""
    referer = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    return bool(host) and referer.split("?", 1)[0].rstrip("/") in (
        f"http://{host}/graphql", f"https://{host}/graphql")

