"""The validation step: the document's limits first, then graphql-core's rules, cached.

It replaces strawberry's ValidationCache, whose validation would run even on a document the
limits refuse: a refused document never reaches a validation rule.
"""

from collections.abc import Callable, Iterator
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, validate
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from schema.document_limits import DocumentLimits, document_errors

type Validator = Callable[
    [GraphQLSchema, DocumentNode, tuple[type[ASTValidationRule], ...]], list[GraphQLError]
]


def cached_validator(*, hide_suggestions: bool, maxsize: int = 256) -> Validator:
    """graphql-core's validation with strawberry's own rules, remembering the last `maxsize`
    documents (the parser cache hands back the same document for the same text)."""

    @lru_cache(maxsize=maxsize)
    def validate_document(
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        return validate(
            schema,
            document,
            (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
            hide_suggestions=hide_suggestions,
        )

    return validate_document


class GuardedValidation(SchemaExtension):
    """Refuses a document over its limits before any validation rule reads it."""

    def __init__(self, *, limits: DocumentLimits, validator: Validator) -> None:
        self.limits = limits
        self.validator = validator

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            # strawberry's `operation_name` falls back to the first operation's name; the
            # name the client sent (or not) is kept aside (strawberry is pinned: pyproject).
            provided: str | None = context._provided_operation_name  # noqa: SLF001
            errors = _unnamed_choice(document, provided) or document_errors(
                document,
                self.limits,
                operation_name=context.operation_name,
                variables=context.variables or {},
            )
            context.pre_execution_errors = errors or self.validator(
                context.schema._schema, document, context.validation_rules
            )
        yield


def _unnamed_choice(document: DocumentNode, operation_name: str | None) -> list[GraphQLError]:
    """A document of several operations needs `operationName` (GraphQL spec, GetOperation):
    strawberry would otherwise run the first one, which the client may not have meant."""
    if operation_name is not None:
        return []
    operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    if operations < 2:  # noqa: PLR2004 - one operation needs no name
        return []
    return [GraphQLError(
        f"The document holds {operations} operations: name the one to run in "
        "`operationName`.", extensions={"code": "OPERATION_NAME_REQUIRED"},
    )]
