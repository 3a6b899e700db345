"""What a GraphQL document may ask for, measured in one pass before anything else looks at it.

A fragment spread repeats its fragment's whole selection, so a few hundred bytes of
fragments that spread each other twice describe billions of fields. Every measure here is
taken once per fragment and reused wherever it is spread, so measuring takes time linear in
the document's size whatever its expansion. Only a document within every limit reaches
graphql-core's validation rules and execution, so no rule ever sees more than `max_cost`
fields, however naively it expands fragments.

The measures:
- depth: fields nested inside fields (introspection fields are not counted, as before);
- aliases: aliased fields, counted as often as they would run;
- cost: every field costs 1 and a list field multiplies what it selects by its `first`
  (so `first: 100` of a nested list is 100 times as dear); every operation and fragment is
  measured, not only the one that runs, because validation reads them all;
- repeats: how often one response name occurs in one selection set, fragments included
  (merging repeated fields is quadratic in validation);
- nesting: selection sets inside selection sets, through fragments too (graphql-core's
  rules recurse that deep);
- directives: how many directives the document carries.
"""

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    visit,
)

DEFAULT_PAGE = 20


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_cost: int = 1000
    max_repeats: int = 30
    max_directives: int = 50
    max_nesting: int = 64


@dataclass(slots=True)
class _Measure:
    """What one selection set amounts to once its fragments are expanded."""

    depth: int = 0
    nesting: int = 0
    aliases: int = 0
    cost: int = 0
    names: Counter[str] = field(default_factory=Counter)


_NOTHING = _Measure()


class _Refusal(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


def document_errors(
    document: DocumentNode,
    limits: DocumentLimits,
    *,
    operation_name: str | None,
    variables: Mapping[str, Any],
) -> list[GraphQLError]:
    """The limits `document` exceeds, as errors; empty when it may go on to validation."""
    directives = _count_directives(document)
    if directives > limits.max_directives:
        return [_error(
            f"{directives} directives found. Allowed: {limits.max_directives}",
            "TOO_MANY_DIRECTIVES",
        )]
    try:
        return _Measurer(document, limits, variables).errors(operation_name)
    except _Refusal as refusal:
        return [refusal.error]


class _Measurer:
    """Measures selection sets bottom-up with an explicit stack (no recursion, so no
    nesting overflows it) and remembers each one, so a fragment is measured once."""

    def __init__(
        self, document: DocumentNode, limits: DocumentLimits, variables: Mapping[str, Any]
    ) -> None:
        self._limits = limits
        self._variables = variables
        self._fragments = {
            d.name.value: d for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self._operations = [
            d for d in document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        self._measured: dict[int, _Measure] = {}

    def errors(self, operation_name: str | None) -> list[GraphQLError]:
        errors: list[GraphQLError] = []
        for operation in self._operations:
            name = operation.name.value if operation.name else "anonymous"
            measure = self._measure(operation.selection_set)
            if measure.depth > self._limits.max_depth:
                errors.append(_error(
                    f"'{name}' exceeds maximum operation depth of {self._limits.max_depth}",
                    "QUERY_TOO_DEEP",
                ))
            if measure.aliases > self._limits.max_aliases:
                errors.append(_error(
                    f"{measure.aliases} aliases found. Allowed: {self._limits.max_aliases}",
                    "TOO_MANY_ALIASES",
                ))
            if measure.cost > self._limits.max_cost:
                subject = (f"Query cost {measure.cost}" if _runs(operation, operation_name)
                           else f"Operation '{name}' costs {measure.cost}, which")
                errors.append(self._too_costly(subject))
        if not errors:
            # Validation reads every fragment, spread or not.
            for name, fragment in self._fragments.items():
                cost = self._measure(fragment.selection_set).cost
                if cost > self._limits.max_cost:
                    errors.append(self._too_costly(f"Fragment '{name}' costs {cost}, which"))
        return errors

    def _too_costly(self, subject: str) -> GraphQLError:
        return _error(
            f"{subject} exceeds the limit of {self._limits.max_cost}; "
            "ask for fewer items (`first`) or fewer nested lists.",
            "QUERY_TOO_COSTLY",
        )

    def _measure(self, root: SelectionSetNode) -> _Measure:
        # Depth-first, children before parents. A selection set met again while it is still
        # open is a fragment cycle: validation refuses those, here it adds nothing.
        stack: list[tuple[SelectionSetNode, bool]] = [(root, False)]
        open_sets: set[int] = set()
        while stack:
            selection_set, children_done = stack.pop()
            key = id(selection_set)
            if key in self._measured:
                continue
            if children_done:
                open_sets.discard(key)
                self._measured[key] = self._combine(selection_set)
            elif key not in open_sets:
                open_sets.add(key)
                stack.append((selection_set, True))
                stack.extend((child, False) for child in self._children(selection_set))
        return self._measured.get(id(root), _NOTHING)

    def _children(self, selection_set: SelectionSetNode) -> Iterator[SelectionSetNode]:
        for selection in selection_set.selections:
            child = self._inner(selection)
            if child is not None:
                yield child

    def _inner(self, selection: SelectionNode) -> SelectionSetNode | None:
        if isinstance(selection, FieldNode | InlineFragmentNode):
            return selection.selection_set
        if isinstance(selection, FragmentSpreadNode):
            fragment = self._fragments.get(selection.name.value)
            return fragment.selection_set if fragment is not None else None
        return None

    def _combine(self, selection_set: SelectionSetNode) -> _Measure:
        total = _Measure()
        for selection in selection_set.selections:
            child = self._inner(selection)
            inner = self._measured.get(id(child), _NOTHING) if child is not None else _NOTHING
            total.nesting = max(total.nesting, 1 + inner.nesting)
            if isinstance(selection, FieldNode):
                multiplier = _multiplier(selection, self._variables)
                counted = child is not None and not selection.name.value.startswith("__")
                total.depth = max(total.depth, 1 + inner.depth if counted else 0)
                total.aliases += (1 if selection.alias else 0) + multiplier * inner.aliases
                total.cost += 1 + multiplier * inner.cost
                total.names[(selection.alias or selection.name).value] += 1
            else:
                # A fragment's fields are this selection set's own.
                total.depth = max(total.depth, inner.depth)
                total.aliases += inner.aliases
                total.cost += inner.cost
                total.names.update(inner.names)
        self._check(total)
        return total

    def _check(self, measure: _Measure) -> None:
        if measure.nesting > self._limits.max_nesting:
            raise _Refusal(_error(
                f"Selections are nested more than {self._limits.max_nesting} levels deep "
                "(fields, fragments and inline fragments).",
                "QUERY_TOO_DEEP",
            ))
        if not measure.names:
            return
        name, count = measure.names.most_common(1)[0]
        if count > self._limits.max_repeats:
            raise _Refusal(_error(
                f"The field '{name}' is selected {count} times in one selection set. "
                f"Allowed: {self._limits.max_repeats}",
                "TOO_MANY_REPEATED_FIELDS",
            ))


def _runs(operation: OperationDefinitionNode, operation_name: str | None) -> bool:
    return operation_name is None or (
        operation.name is not None and operation.name.value == operation_name
    )


def _multiplier(node: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in node.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return max(1, int(value.value))
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return max(1, given) if isinstance(given, int) else DEFAULT_PAGE
    return 1


class _DirectiveCounter(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def enter_directive(self, node: DirectiveNode, *_: object) -> None:
        self.count += 1


def _count_directives(document: DocumentNode) -> int:
    counter = _DirectiveCounter()
    visit(document, counter)
    return counter.count


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})
