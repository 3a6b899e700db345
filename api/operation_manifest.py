"""Trusted documents from a manifest: `kizuna operations add manifest.json`.

Two formats, as the tooling generates them:

- Apollo's `generate-persisted-query-manifest`:
  `{"format": "apollo-persisted-query-manifest", "version": 1,
    "operations": [{"id", "name", "type", "body"}]}`, each id the SHA-256 (hex) of its body;
- Relay's persisted queries (`relay-compiler` with `persistConfig`): `{"<id>": "<text>"}`,
  the ids whatever the compiler chose (an MD5 by default), taken as given.

Every operation is checked against the schema (syntax, validation, the document limits of
the settings) before anything is written; one bad operation refuses the whole manifest,
with every problem listed.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    parse,
    validate,
)

from api.operation_store import TrustedOperation, sha256_hex
from schema.document_limits import DocumentLimits, document_errors

APOLLO_FORMAT = "apollo-persisted-query-manifest"
MAX_ID_LENGTH = 200


class ManifestError(Exception):
    """The manifest cannot be used; `problems` lists every reason, one per operation."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    body: str
    name: str | None
    declared_type: str | None
    label: str
    """How a problem names it: its position, id and name."""
    id_is_sha256: bool = False
    """Apollo's ids are the SHA-256 (hex) of the body; Relay's are the compiler's."""


def read_manifest(text: str) -> list[_Entry]:
    """The manifest's operations, in either format; raises ManifestError."""
    try:
        manifest: Any = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ManifestError([f"not JSON: {error}"]) from None
    if isinstance(manifest, dict) and manifest.get("format") == APOLLO_FORMAT:
        return _apollo(manifest)
    if isinstance(manifest, dict) and manifest and all(
        isinstance(key, str) and isinstance(value, str) for key, value in manifest.items()
    ):
        return [_Entry(id=key, body=value, name=None, declared_type=None,
                       label=f"operation {key!r}") for key, value in manifest.items()]
    raise ManifestError([
        "not a manifest: expected Apollo's persisted query manifest "
        f'({{"format": "{APOLLO_FORMAT}", "version": 1, "operations": [...]}}) or '
        'Relay\'s ({"<id>": "<query text>", ...})'])


def _apollo(manifest: dict[str, Any]) -> list[_Entry]:
    if manifest.get("version") != 1:
        raise ManifestError([f"{APOLLO_FORMAT}: version {manifest.get('version')!r} is not "
                             "supported (only 1)"])
    operations = manifest.get("operations")
    if not isinstance(operations, list):
        raise ManifestError([f"{APOLLO_FORMAT}: `operations` must be a list"])
    entries: list[_Entry] = []
    problems: list[str] = []
    for position, operation in enumerate(operations, start=1):
        if not isinstance(operation, dict) or not all(
            isinstance(operation.get(key), str) for key in ("id", "body")
        ):
            problems.append(f"operation #{position}: needs string `id` and `body`")
            continue
        name, kind = operation.get("name"), operation.get("type")
        entries.append(_Entry(
            id=operation["id"], body=operation["body"],
            name=name if isinstance(name, str) else None,
            declared_type=kind if isinstance(kind, str) else None,
            label=f"operation #{position} {operation['id'][:16]!r}"
                  + (f" ({name})" if isinstance(name, str) else ""),
            id_is_sha256=True))
    if problems:
        raise ManifestError(problems)
    return entries


def checked_operations(entries: Sequence[_Entry], schema: GraphQLSchema,
                       limits: DocumentLimits) -> list[TrustedOperation]:
    """The entries as trusted operations, if every one parses, validates against `schema`,
    stays within `limits` and has a usable id; raises ManifestError listing every problem
    otherwise."""
    problems: list[str] = []
    if not entries:
        problems.append("the manifest holds no operation")
    bodies: dict[str, str] = {}
    operations: list[TrustedOperation] = []
    for entry in entries:
        if not 0 < len(entry.id) <= MAX_ID_LENGTH:
            problems.append(f"{entry.label}: the id must be 1 to {MAX_ID_LENGTH} characters")
            continue
        if entry.id_is_sha256 and entry.id != sha256_hex(entry.body):
            problems.append(f"{entry.label}: its id is not the SHA-256 (hex) of its body")
            continue
        if bodies.setdefault(entry.id, entry.body) != entry.body:
            problems.append(f"{entry.label}: the id appears twice with different bodies")
            continue
        errors, document = _errors(entry.body, schema, limits)
        if errors:
            problems.extend(f"{entry.label}: {error.message}" for error in errors)
            continue
        assert document is not None  # noqa: S101 - no errors means it parsed
        defined = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = entry.name or next((d.name.value for d in defined if d.name), None)
        if entry.declared_type and entry.declared_type not in {
            d.operation.value for d in defined
        }:
            problems.append(f"{entry.label}: declared as a {entry.declared_type} but is not")
            continue
        operations.append(TrustedOperation(id=entry.id, body=entry.body, name=name))
    if problems:
        raise ManifestError(problems)
    unique: dict[str, TrustedOperation] = {op.id: op for op in operations}
    return list(unique.values())


def _errors(body: str, schema: GraphQLSchema,
            limits: DocumentLimits) -> tuple[list[GraphQLError], DocumentNode | None]:
    try:
        document = parse(body)
    except GraphQLSyntaxError as error:
        return [error], None
    if not any(isinstance(d, OperationDefinitionNode) for d in document.definitions):
        return [GraphQLError("it defines no operation (fragments alone)")], document
    limited = document_errors(document, limits, operation_name=None, variables={})
    if limited:
        return limited, document
    return list(validate(schema, document)), document
