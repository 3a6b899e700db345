"""A query-cost limit: every field costs 1, and a list field multiplies what it selects
by its `first` argument (so `first: 100` of a nested list is 100 times as dear)."""

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

DEFAULT_PAGE = 20


class QueryCostLimiter(SchemaExtension):
    """Rejects an operation whose cost exceeds `max_cost` before anything executes."""

    def __init__(self, *, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            cost = operation_cost(document.definitions, context.operation_name,
                                  context.variables or {})
            if cost > self.max_cost:
                context.result = GraphQLExecutionResult(
                    data=None,
                    errors=[GraphQLError(
                        f"Query cost {cost} exceeds the limit of {self.max_cost}; "
                        "ask for fewer items (`first`) or fewer nested lists.",
                        extensions={"code": "QUERY_TOO_COSTLY"},
                    )],
                )
        yield


def operation_cost(
    definitions: Any, operation_name: str | None, variables: Mapping[str, Any]
) -> int:
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        op for op in operations
        if operation_name is None or (op.name is not None and op.name.value == operation_name)
    ]
    return max(
        (_selection_cost(op.selection_set, fragments, variables, set()) for op in chosen),
        default=0,
    )


def _selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    visiting: set[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = _selection_cost(selection.selection_set, fragments, variables, visiting)
            total += 1 + _multiplier(selection, variables) * inner
        elif isinstance(selection, InlineFragmentNode):
            total += _selection_cost(selection.selection_set, fragments, variables, visiting)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in visiting:
                total += _selection_cost(
                    fragment.selection_set, fragments, variables, visiting | {name}
                )
    return total


def _multiplier(field: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return max(1, int(value.value))
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return max(1, given) if isinstance(given, int) else DEFAULT_PAGE
    return 1
