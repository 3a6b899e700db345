"""The composition root: `create_app(settings)` wires HTTP routes to the services."""

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.compression import Compression
from api.cors import Cors, CorsPolicy
from api.draw_proofs import draw_proof_endpoint
from api.graphiql_page import graphiql_routes
from api.graphql_view import KizunaGraphQL
from api.jobs import points_expiry, webhook_delivery
from api.metrics import LiveFigures, Metrics, metrics_endpoint
from api.middleware import BodySizeLimit, DatabaseOutage
from api.privacy import data_export_endpoint
from api.public_caching import PublicCaching
from api.qr_images import voucher_qr_endpoint
from api.scanner_page import scanner_routes
from api.services import background_store, running
from api.settings import Settings
from api.state import AppState
from api.telemetry import RequestTelemetry
from schema.build import SchemaLimits, build_schema
from schema.document_limits import DocumentLimits
from schema.error_reporting import DATABASE_UNAVAILABLE
from store.clock import Clock, system_clock


def create_app(settings: Settings, *, clock: Clock = system_clock) -> Starlette:
    """A Kizuna ASGI app; the database and keys are opened by its lifespan."""
    limits = settings.graphql
    schema = build_schema(
        SchemaLimits(max_tokens=limits.max_tokens, document=DocumentLimits(
            max_depth=limits.max_depth, max_aliases=limits.max_aliases, max_cost=limits.max_cost,
        )),
        production=settings.production,
    )
    state = AppState(settings=settings, schema=schema)
    graphql = KizunaGraphQL(state)
    metrics = Metrics(LiveFigures(state, lambda: graphql.connections_open))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running(settings, clock) as started, points_expiry(
            started.services.store, clock=clock,
            interval_seconds=settings.expiry_interval_seconds,
            due=started.services.jobs_due,
            audit_retention=timedelta(days=settings.audit_retention_days),
            personal_data=started.services.data_rights.personal_data, ran=metrics.job_ran,
        ), background_store(settings, started.database.uri) as webhook_store, webhook_delivery(
            webhook_store, clock=clock, poll_seconds=settings.webhook_poll_ms / 1000,
            timeout_seconds=settings.webhook_timeout_seconds,
            private_targets=settings.webhook_private_targets, ran=metrics.job_ran,
            outcomes=metrics.webhook_attempt,
        ):
            state.start(started.services, started.keyring)
            started.services.store.commands.timed = metrics.db_command
            # The embedded database this app started, supervised (tests kill it), or None.
            app.state.embedded_database = started.database.embedded
            try:
                yield
            finally:
                state.stop()

    async def healthz(request: Request) -> Response:
        try:
            await state.services.store.ping()
        except Exception:
            return JSONResponse(
                {"status": "unavailable", "database": "down"}, status_code=503,
                headers={"retry-after": str(DATABASE_UNAVAILABLE.retry_after_seconds)},
            )
        return JSONResponse({"status": "ok", "database": "up"})

    async def jwks(request: Request) -> Response:
        assert state.keyring is not None  # noqa: S101 - set by the lifespan
        return JSONResponse(
            state.keyring.jwks(), headers={"cache-control": "public, max-age=300"}
        )

    app = Starlette(
        routes=[
            # Any method: the view answers 405 in JSON.
            Route("/graphql", PublicCaching(
                graphql, max_age=settings.persisted.public_cache_seconds,
                compressed=settings.compression,
            )),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/.well-known/jwks.json", jwks),
            Route("/metrics", metrics_endpoint(settings, metrics)),
            Route("/vouchers/{voucher_id}/qr.{format}", voucher_qr_endpoint(state)),
            Route("/data-export/{token}", data_export_endpoint(state)),
            Route("/draws/{draw_id}/proof", draw_proof_endpoint(state)),
            *scanner_routes(),
            *graphiql_routes(production=settings.production),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(DatabaseOutage)
    if settings.compression:
        app.add_middleware(Compression, min_bytes=settings.compression_min_bytes)
    if settings.cors_origins:
        app.add_middleware(Cors, policy=CorsPolicy(
            frozenset(settings.cors_origins), settings.cors_max_age_seconds))
    if settings.request_telemetry:
        # Outermost: it sees every answer as sent (compressed), the 413s, 503s and CORS
        # refusals of the middleware above included.
        app.add_middleware(RequestTelemetry, metrics=metrics)
    app.state.kizuna = state
    return app
