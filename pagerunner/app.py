"""The pagerunner app: the API, the web pages and the Inngest serve endpoint, from `Settings`.

When `Settings.api_token` is set, everything but `/healthz`, `/readyz`, `/login`,
the static files and `/api/inngest` requires it (see `guard`), `/metrics` included;
`/api/inngest` then takes only calls signed with the key derived from the token
(`settings.signed_mode_keys`).
"""

from __future__ import annotations

import functools
from typing import Any

import inngest.fast_api
from fastapi import FastAPI
from fastapi.routing import APIRoute

from . import web
from .api.engine_calls import engine_call_check
from .api.errors import install_error_handlers
from .api.routes import combos, health, metrics, queries, schedules, usage
from .api.services import Services
from .edge import EDGE_RESPONSES, InputLimits, SafeJSONResponse, install_edge
from .functions import QueryRunner, create_client, create_functions
from .guard import Guard
from .metrics import QueryMetrics
from .queries.schedule_store import ScheduleStore
from .queries.store import QueryStore
from .scheduling import ScheduleRunner, create_schedule_function
from .settings import Settings
from .sources.registry import SourceRegistry

__all__ = ["create_app"]

INNGEST_PATH = "/api/inngest"
#: Calls from the engine carry the run's whole state (Inngest allows 32 MB), which the SDK
#: parses and checks itself: only their size, their shape and JSON that parses (NaN and
#: nesting beyond Python's parser refused) are checked here; walking every value cost ~7x
#: the parse on a run at its step bound.
INNGEST_CALL_LIMITS = InputLimits(
    max_body_bytes=64 * 1024 * 1024, max_text_chars=None, control_chars=True, check_values=False
)


def create_app(settings: Settings) -> FastAPI:
    """Build the app; nothing is opened until the first request (or the runtime) needs it."""
    store = QueryStore(settings.db)
    sources = SourceRegistry.from_settings(settings)
    client = create_client(settings)
    app = FastAPI(
        title="pagerunner",
        summary="Durable fetching of paginated search APIs.",
        version="0.1.0",
        default_response_class=SafeJSONResponse,
        responses=EDGE_RESPONSES,
    )
    query_metrics = QueryMetrics()
    runner = QueryRunner(store, sources, settings, query_metrics)
    schedule_store = ScheduleStore(store.database)
    functions = [
        *create_functions(client, runner),
        create_schedule_function(client, ScheduleRunner(schedule_store, sources)),
    ]
    install_edge(
        app,
        InputLimits(max_body_bytes=settings.max_body_bytes, max_text_chars=settings.max_text_chars),
        overrides={INNGEST_PATH: INNGEST_CALL_LIMITS},
        validators={INNGEST_PATH: engine_call_check({fn.get_id() for fn in functions})},
    )
    services = Services(
        settings=settings, store=store, sources=sources, client=client, metrics=query_metrics
    )
    app.state.services = services
    app.state.schedules = schedule_store
    query_metrics.read_at_scrape(
        functools.partial(metrics.store_figures, services), up="pagerunner_database_up"
    )
    # The Inngest serve endpoint is public to the guard: it checks its own request signatures.
    Guard(
        settings.token,
        public_paths=(INNGEST_PATH,),
        session_ttl_s=settings.session_ttl_s,
        secure_cookies=settings.secure_cookies,
    ).install(app)
    install_error_handlers(app)
    app.include_router(queries.router)
    app.include_router(usage.router)
    app.include_router(combos.router)
    app.include_router(schedules.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    web.install(app)
    # Signed mode: the SDK refuses unsigned calls and never syncs on an unsigned PUT.
    signed = settings.signed_keys is not None
    inngest.fast_api.serve(app, client, functions, enable_unauthed_sync=not signed)
    for route in app.routes:  # the engine's protocol, not part of pagerunner's API
        if isinstance(route, APIRoute) and route.path == INNGEST_PATH:
            route.include_in_schema = False
    app.state.engine_app = _engine_app(client, functions, signed)
    return app


def _engine_app(
    client: inngest.Inngest, functions: list[inngest.Function[Any]], signed: bool
) -> FastAPI:
    """The serve endpoint alone, for the embedded executor's calls in this process.

    It is never bound to a socket, so it needs neither the guard nor the input
    checks of the edge (the executor built the body; the SDK parses it and, signed,
    verifies it), and a call does not walk the API's routes to reach it: that
    walk and those layers cost as much CPU as the SDK's own handling of a call.
    """
    engine_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    inngest.fast_api.serve(engine_app, client, functions, enable_unauthed_sync=not signed)
    return engine_app
