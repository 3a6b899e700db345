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

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

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
    """The operation's name as the client sent it (any text: bound it before use)."""
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

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        started = time.perf_counter()
        failed = True
        try:
            yield
            failed = False
        finally:
            self._finish(context, failed=failed, seconds=time.perf_counter() - started)

    def _finish(self, context: object, *, failed: bool, seconds: float) -> None:
        execution = self.execution_context
        result = execution.result
        errors = list(getattr(result, "errors", None) or ())
        request_id = getattr(context, "request_id", None)
        if request_id is not None:
            for error in errors:
                error.extensions = {**(error.extensions or {}), "requestId": request_id}
        observe: OperationObserver | None = getattr(context, "report_operation", None)
        if observe is None:
            return
        raised = execution.pre_execution_errors or errors
        try:
            operation_type: str | None = execution.operation_type.value
        except Exception:  # no document, or no operation of that name in it
            operation_type = None
        observe(OperationReport(
            name=_name(execution),
            type=operation_type,
            outcome=Outcome.ERROR if failed else _outcome(raised),
            error_codes=tuple(_code(error) for error in raised),
            payload_error_codes=_payload_codes(getattr(result, "data", None)),
            seconds=seconds,
        ))


def _name(execution: object) -> str | None:
    try:
        name = getattr(execution, "operation_name", None)
    except Exception:  # an unparsable document has no operations to name
        return None
    return name if isinstance(name, str) else None


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
