"""`kizuna operations add|list|remove`: the trusted documents of the database
(docs/persisted-operations.md)."""

import sys
from pathlib import Path
from typing import TextIO

from api.operation_manifest import ManifestError, checked_operations, read_manifest
from api.operation_store import ManifestConflict, OperationStore, TrustedOperation
from api.settings import Settings
from schema.build import SchemaLimits, build_schema
from schema.document_limits import DocumentLimits
from store import Store
from store.clock import system_clock


def _operations(store: Store) -> OperationStore:
    return OperationStore(store, clock=system_clock)


def checked(settings: Settings, path: Path,
            err: TextIO = sys.stderr) -> list[TrustedOperation] | None:
    """The operations of the manifest at `path`, each checked against the schema and the
    document limits of `settings`; None, with every problem on `err`, when any is bad."""
    limits = settings.graphql
    document = DocumentLimits(max_depth=limits.max_depth, max_aliases=limits.max_aliases,
                              max_cost=limits.max_cost)
    schema = build_schema(SchemaLimits(max_tokens=limits.max_tokens, document=document),
                          production=settings.production)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"kizuna: cannot read {path}: {error}", file=err)
        return None
    try:
        return checked_operations(
            read_manifest(text), schema._schema,  # noqa: SLF001 - graphql-core's schema
            document)
    except ManifestError as error:
        print(f"kizuna: {path} refused, nothing was written:", file=err)
        for problem in error.problems:
            print(f"  {problem}", file=err)
        return None


async def add(store: Store, operations: list[TrustedOperation], source: Path,
              out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Store checked operations as trusted, all or nothing; 0 on success, 1 (with the
    conflicting ids on `err`) when an id is stored already with another body."""
    try:
        outcome = await _operations(store).add_trusted(operations)
    except ManifestConflict as conflict:
        print(f"kizuna: {source} refused, nothing was written: these ids are stored already "
              "with a different body (an id names one text for ever; give the changed "
              "operation a new id, or `kizuna operations remove` the old one):", file=err)
        for operation_id in conflict.ids:
            print(f"  {operation_id}", file=err)
        return 1
    print(f"{len(operations)} operation(s) in {source}: {outcome.added} added, "
          f"{outcome.upgraded} registered before and now trusted, {outcome.unchanged} "
          "unchanged", file=out)
    return 0


async def listed(store: Store, *, everything: bool, out: TextIO = sys.stdout) -> int:
    """One line per operation: id, name, trusted or registered."""
    for operation in await _operations(store).listed(trusted_only=not everything):
        kind = "trusted" if operation.trusted else "registered"
        print(f"{operation.id}\t{operation.name or '-'}\t{kind}", file=out)
    return 0


async def remove(store: Store, operation_id: str, out: TextIO = sys.stdout,
                 err: TextIO = sys.stderr) -> int:
    if await _operations(store).remove(operation_id):
        print(f"removed {operation_id} (running servers stop using it within a minute)",
              file=out)
        return 0
    print(f"kizuna: no stored operation has the id {operation_id!r}", file=err)
    return 1
