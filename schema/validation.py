"""The validation step: the document's limits first, then graphql-core's rules, cached.

It replaces strawberry's ValidationCache, whose validation would run even on a document the
limits refuse: a refused document never reaches a validation rule.
"""

from collections.abc import Callable, Iterator
from functools import lru_cache

from graphql import DocumentNode, GraphQLError, GraphQLSchema, validate
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
            errors = document_errors(
                document,
                self.limits,
                operation_name=context.operation_name,
                variables=context.variables or {},
            )
            context.pre_execution_errors = errors or self.validator(
                context.schema._schema, document, context.validation_rules
            )
        yield
