"""One logging pipeline for the process: structlog renders every record, ours and the
standard library's (our modules, uvicorn, PyMongo), as a JSON line in production or a
readable line in development, with the request id of the request that logged it.

The request id travels in a context variable (structlog's contextvars, bound by
api.telemetry for the length of a request or a WebSocket connection), so a line logged
anywhere below the middleware carries it without being handed it.
"""

import logging
import sys
from collections.abc import Mapping, MutableMapping
from enum import StrEnum
from typing import Any, TextIO

import structlog
from structlog.typing import Processor


class LogFormat(StrEnum):
    AUTO = "auto"
    """JSON in production, console otherwise."""
    JSON = "json"
    CONSOLE = "console"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def number(self) -> int:
        return logging.getLevelNamesMapping()[self.value.upper()]


# Fields every line gets, whoever logged it. Only the request id comes from the context:
# nothing else is ever bound there (no tokens, no addresses).
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
# Uvicorn's own access log holds the client address and the query string; ours replaces it.
_SILENCED = ("uvicorn.access",)
# Libraries whose debug lines are a flood (PyMongo logs every command at DEBUG).
_CHATTY = ("pymongo",)


def structured_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger taking fields (`log.info("request", status=200)`), rendered by the
    pipeline like every other line; plain stdlib records if the pipeline is not set up
    (as in tests, where `caplog` sees the fields in `record.msg`)."""
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    return logger


def resolved_format(log_format: LogFormat, *, production: bool) -> LogFormat:
    if log_format is LogFormat.AUTO:
        return LogFormat.JSON if production else LogFormat.CONSOLE
    return log_format


def log_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing `stream` (stderr) in `log_format` (JSON or CONSOLE)."""
    out = stream if stream is not None else sys.stderr
    renderer: Processor
    if log_format is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
        finish: list[Processor] = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            _leading_fields,
        ]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback,
        )
        finish = []
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish,
                    renderer],
    ))
    return handler


_LEADING = ("timestamp", "level", "logger", "message", "request_id")


def _leading_fields(
    logger: object, method: str, event: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    """The same fields first on every JSON line, for people reading them raw."""
    first = {key: event.pop(key) for key in _LEADING if key in event}
    return {**first, **event}


def configure_logging(level: LogLevel, log_format: LogFormat, *, production: bool) -> None:
    """Route every logger of the process through one handler on the root logger: called
    by `kizuna serve` and by api.asgi (a server started as `uvicorn api.asgi:app`)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(log_handler(resolved_format(log_format, production=production)))
    root.setLevel(level.number)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    for name in _SILENCED:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.disabled = True
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(level.number, logging.INFO))
    # No line shows them, and each record would pay for them (a getpid system call per
    # record, twice: the formatter copies the record): the access log is on every request.
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logThreads = False
    logging.captureWarnings(True)
