"""What one GraphQL operation was and how it ended, for the access log and the metrics
(`api` records them), and the request id on every top-level error the client is told.

The report is made once per operation by a schema extension that wraps the others: it
sees the errors as they were raised (to tell a refusal from a fault) and the errors as
the client gets them (masked), and it costs nothing per field.
"""

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from graphql import GraphQLError, get_operation_ast
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from schema.error_reporting import is_fault, outage_of


class Outcome(StrEnum):
    OK = "ok"
    """No top-level error (typed payload errors are answers, not failures)."""
    REFUSED = "refused"
    """The client's doing: a syntax or validation error, a limit, a permission denial."""
    ERROR = "error"
    """Ours: a fault (masked for the client) or an outage of the database."""


FAULT_CODE = "INTERNAL_SERVER_ERROR"
UNCODED = "GRAPHQL_ERROR"


@dataclass(frozen=True, slots=True)
class OperationReport:
    name: str | None
    """The name of the operation the document selected (a GraphQL name, of any length:
    bound it before use); None for an anonymous one, or when none was selected (the
    document did not parse, or `operationName` named no operation of it). Never the
    client's `operationName` as typed."""
    validated: bool
    """Whether the document parsed and validated: only then is `name` an operation the
    schema can run, rather than whatever a client made up (metrics give it a label)."""
    type: str | None
    """query, mutation or subscription; None when the document did not parse."""
    outcome: Outcome
    error_codes: tuple[str, ...]
    """The top-level errors' codes (a fault's is FAULT_CODE)."""
    payload_error_codes: tuple[str, ...]
    """The codes of the typed errors in mutation payloads the client selected."""
    seconds: float
    """From the start of parsing to the result (a subscription: to its first answer)."""


OperationObserver = Callable[[OperationReport], None]


class OperationReporting(SchemaExtension):
    """Reports each operation to the context's `report_operation`, and puts the context's
    request id in every top-level error's `extensions.requestId`. List it first: it must
    run after MaskErrors has replaced the faults."""

    _validated = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        started = time.perf_counter()
        failed = True
        refused: tuple[str, ...] | None = None
        try:
            yield
            failed = False
        except (CannotGetOperationTypeError, InvalidOperationTypeError,
                MissingQueryError) as error:
            # strawberry raises these for the view to refuse the request (400 or 405):
            # the client's mistake, not a fault of ours.
            refused = (_refusal_code(error),)
            raise
        finally:
            self._finish(context, failed=failed, refused=refused,
                         seconds=time.perf_counter() - started)

    def on_validate(self) -> Iterator[None]:
        yield
        self._validated = not self.execution_context.pre_execution_errors

    def _finish(self, context: object, *, failed: bool, refused: tuple[str, ...] | None,
                seconds: float) -> None:
        execution = self.execution_context
        result = execution.result
        errors = list(getattr(result, "errors", None) or ())
        _stamp(context, errors)
        observe: OperationObserver | None = getattr(context, "report_operation", None)
        if observe is None:
            return
        raised = execution.pre_execution_errors or errors
        try:
            operation_type: str | None = execution.operation_type.value
        except Exception:  # no document, or no operation of that name in it
            operation_type = None
        if refused is not None:
            outcome, codes = Outcome.REFUSED, refused
        else:
            outcome = Outcome.ERROR if failed else _outcome(raised)
            codes = tuple(_code(error) for error in raised)
        observe(OperationReport(
            name=_selected_name(execution),
            validated=self._validated and refused is None,
            type=operation_type,
            outcome=outcome,
            error_codes=codes,
            payload_error_codes=_payload_codes(getattr(result, "data", None)),
            seconds=seconds,
        ))


def report_refusal(context: object, result: ExecutionResult, seconds: float) -> None:
    """For a request refused before the schema ran (a persisted operation unknown or not
    trusted): the request id in its errors, and a report like a refused operation's."""
    errors = list(result.errors or ())
    _stamp(context, errors)
    observe: OperationObserver | None = getattr(context, "report_operation", None)
    if observe is not None:
        observe(OperationReport(
            name=None, validated=False, type=None, outcome=Outcome.REFUSED,
            error_codes=tuple(_code(error) for error in errors), payload_error_codes=(),
            seconds=seconds))


def _stamp(context: object, errors: list[GraphQLError]) -> None:
    request_id = getattr(context, "request_id", None)
    if request_id is not None:
        for error in errors:
            error.extensions = {**(error.extensions or {}), "requestId": request_id}


def _selected_name(execution: ExecutionContext) -> str | None:
    """The name of the operation the document selects, read from the document: a client's
    `operationName` that names none of its operations is not a name of anything."""
    document = execution.graphql_document
    if document is None:
        return None
    # What the client sent, not strawberry's fallback to the first operation's name (a
    # document of several needs one; strawberry is pinned: pyproject).
    wanted = execution._provided_operation_name  # noqa: SLF001
    operation = get_operation_ast(document, wanted if isinstance(wanted, str) else None)
    if operation is None or operation.name is None:
        return None
    return operation.name.value


def _refusal_code(
    error: CannotGetOperationTypeError | InvalidOperationTypeError | MissingQueryError,
) -> str:
    """The code the view's refusal gives the client (api/graphql_http.py `refusal`)."""
    if isinstance(error, InvalidOperationTypeError) and (
        error.operation_type is not OperationType.SUBSCRIPTION
    ):
        return "METHOD_NOT_ALLOWED"
    if isinstance(error, CannotGetOperationTypeError):
        return UNCODED  # a GraphQL request error, which has no code
    return "BAD_REQUEST"


def _outcome(errors: list[GraphQLError]) -> Outcome:
    if not errors:
        return Outcome.OK
    if any(is_fault(error) or outage_of(error.original_error) for error in errors):
        return Outcome.ERROR
    return Outcome.REFUSED


def _code(error: GraphQLError) -> str:
    if is_fault(error):
        return FAULT_CODE
    outage = outage_of(error.original_error)
    if outage is not None:
        return outage.code
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else UNCODED


def _payload_codes(data: object) -> tuple[str, ...]:
    """`errors { code }` of each root field's payload (mutations return them there)."""
    if not isinstance(data, Mapping):
        return ()
    codes: list[str] = []
    for payload in data.values():
        listed = payload.get("errors") if isinstance(payload, Mapping) else None
        if isinstance(listed, list):
            codes += [item["code"] for item in listed
                      if isinstance(item, Mapping) and isinstance(item.get("code"), str)]
    return tuple(codes)
