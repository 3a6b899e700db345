"""Prometheus metrics of one app (`prometheus_client`), and the /metrics endpoint.

Each app has a registry of its own rather than the process-wide default: the tests start
many apps in one process, and two apps must never add to each other's counters. With
`kizuna serve --workers N` each worker process has its own figures; see
docs/operations.md#metrics.

Every label has a bounded set of values: routes are templates, statuses classes, and the
operation names are capped (MAX_OPERATION_NAMES of the documents that validated, then
"other"; a document that did not is "invalid").
"""

import re
import secrets
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.settings import Settings
from api.state import AppState
from schema.operation_report import OperationReport

MAX_OPERATION_NAMES = 100
"""Distinct operation names counted per process; the rest are counted as "other"."""
ANONYMOUS = "anonymous"
OTHER = "other"
INVALID = "invalid"
"""The label of a document that did not parse or validate (or was refused before it ran),
unless its operation's name has a label already."""
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# Seconds: a home screen takes a few milliseconds, an argon2 sign-in a few hundred.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)
_DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
               0.5, 1.0, 5.0)


class Metrics:
    """The app's metrics; `live` reads what other objects count already (the database
    commands, the event feed, open connections) when /metrics is scraped."""

    def __init__(self, live: Collector | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.http_requests = Counter(
            "kizuna_http_requests", "HTTP requests answered, by route template, method and "
            "status class.", ["route", "method", "status"], registry=registry)
        self.http_duration = Histogram(
            "kizuna_http_request_duration_seconds", "Time from a request's arrival to the "
            "end of its answer, by route template.", ["route"], buckets=_LATENCY_BUCKETS,
            registry=registry)
        self.operations = Counter(
            "kizuna_graphql_operations", "GraphQL operations run, by operation name, type "
            "and outcome (ok, refused: the client's error, error: a fault or an outage).",
            ["operation", "type", "outcome"], registry=registry)
        self.operation_duration = Histogram(
            "kizuna_graphql_operation_duration_seconds", "Time to run a GraphQL operation "
            "(parse, validate, execute), by operation name and type.",
            ["operation", "type"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.errors = Counter(
            "kizuna_graphql_errors", "GraphQL errors by code: kind=top_level for the "
            "response's `errors`, kind=payload for the typed errors of mutation payloads.",
            ["code", "kind"], registry=registry)
        self.db_duration = Histogram(
            "kizuna_db_command_duration_seconds", "Database command round-trip time for "
            "requests, by command name and outcome.", ["command", "outcome"],
            buckets=_DB_BUCKETS, registry=registry)
        self.job_runs = Counter(
            "kizuna_job_runs", "Background job runs, by job and outcome (ok, failed).",
            ["job", "outcome"], registry=registry)
        self.webhook_attempts = Counter(
            "kizuna_webhook_attempts", "Webhook delivery attempts by outcome: succeeded, "
            "retrying (will be tried again), failed (given up; the endpoint is disabled).",
            ["outcome"], registry=registry)
        if live is not None:
            registry.register(live)
        self._names: set[str] = set()

    def operation_label(self, name: str | None, *, validated: bool) -> str:
        """The label for an operation's name: bounded in length, charset and count. Only a
        document that validated takes one of the MAX_OPERATION_NAMES slots: anyone can
        send a made-up name in a document that does not run, and must not use them up."""
        if not validated:
            return name if name is not None and name in self._names else INVALID
        if name is None:
            return ANONYMOUS
        if name in self._names:
            return name
        if _NAME.fullmatch(name) is None:
            return OTHER
        if len(self._names) >= MAX_OPERATION_NAMES:
            return OTHER
        self._names.add(name)
        return name

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "OTHER"
        self.http_requests.labels(route, method, f"{status // 100}xx").inc()
        self.http_duration.labels(route).observe(seconds)

    def operation(self, report: OperationReport) -> None:
        name = self.operation_label(report.name, validated=report.validated)
        kind = report.type or "unknown"
        self.operations.labels(name, kind, report.outcome.value).inc()
        self.operation_duration.labels(name, kind).observe(report.seconds)
        for code in report.error_codes:
            self.errors.labels(_code_label(code), "top_level").inc()
        for code in report.payload_error_codes:
            self.errors.labels(_code_label(code), "payload").inc()

    def db_command(self, command: str, seconds: float, ok: bool) -> None:
        self.db_duration.labels(command, "ok" if ok else "failed").observe(seconds)

    def job_ran(self, job: str, ok: bool) -> None:
        self.job_runs.labels(job, "ok" if ok else "failed").inc()

    def webhook_attempt(self, outcome: str) -> None:
        self.webhook_attempts.labels(outcome).inc()


def bounded_name(name: str | None) -> str | None:
    """An operation's name as the access log may hold it: with the labels' charset and
    length (a longer or stranger one is "other"), so no line carries what a client made up."""
    if name is None or _NAME.fullmatch(name) is not None:
        return name
    return OTHER


def _code_label(code: str) -> str:
    # Our codes are SCREAMING_SNAKE names; anything else would be a bug, not a label.
    return code if _NAME.fullmatch(code) and len(code) <= 64 else OTHER


class LiveFigures(Collector):
    """Figures the app keeps anyway, read at scrape time (nothing on the hot path)."""

    def __init__(self, state: AppState, connections: Callable[[], int]) -> None:
        self._state = state
        self._connections = connections

    def collect(self) -> Iterator[Metric]:
        try:
            services = self._state.services
        except RuntimeError:  # not started, or stopped: nothing is counting
            return
        commands = services.store.commands
        yield _counter("kizuna_db_commands", "Database commands sent (round trips).",
                       commands.total)
        yield _counter("kizuna_db_command_failures", "Database commands that failed.",
                       commands.failures)
        by_name = CounterMetricFamily("kizuna_db_commands_by_name",
                                      "Database commands sent, by command name.",
                                      labels=["command"])
        for name, count in sorted(commands.by_name.items()):
            by_name.add_metric([name], count)
        yield by_name
        feed = services.feed
        yield _counter("kizuna_events_read", "Events this process's feed read from the "
                       "outbox and handed to its subscriptions.", feed.read)
        yield _counter("kizuna_events_delivered", "Events queued for a subscription "
                       "(one per subscription that wanted it).", feed.delivered)
        yield GaugeMetricFamily("kizuna_subscriptions_open", "GraphQL subscriptions "
                                "following the event feed now.", value=feed.subscribers)
        yield GaugeMetricFamily("kizuna_websocket_connections_open", "Signed-in "
                                "graphql-transport-ws connections now.",
                                value=self._connections())

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def metrics_endpoint(
    settings: Settings, metrics: Metrics
) -> Callable[[Request], Awaitable[Response]]:
    """/metrics: open in development, 404 in production unless KIZUNA_METRICS_TOKEN is
    set, and then only with `Authorization: Bearer <token>`."""

    async def endpoint(request: Request) -> Response:
        token = settings.metrics_token
        if token is None and settings.production:
            return PlainTextResponse("Not Found", status_code=404)
        given = request.headers.get("authorization", "").encode()
        if token is not None and not secrets.compare_digest(given, f"Bearer {token}".encode()):
            return PlainTextResponse("Unauthorized", status_code=401)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return endpoint
