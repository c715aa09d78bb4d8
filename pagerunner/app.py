"""The pagerunner app: the API, the web pages and the Inngest serve endpoint, from `Settings`.

When `Settings.api_token` is set, everything but `/healthz`, `/login`, the static
files and `/api/inngest` requires it (see `guard`); `/api/inngest` then takes
only calls signed with the key derived from the token (`settings.signed_mode_keys`).
"""

from __future__ import annotations

import inngest.fast_api
from fastapi import FastAPI

from . import web
from .api.errors import install_error_handlers
from .api.routes import combos, health, queries, usage
from .api.services import Services
from .functions import QueryRunner, create_client, create_functions
from .guard import Guard
from .queries.store import QueryStore
from .settings import Settings
from .sources.registry import SourceRegistry

__all__ = ["create_app"]


def create_app(settings: Settings) -> FastAPI:
    """Build the app; nothing is opened until the first request (or the runtime) needs it."""
    store = QueryStore(settings.db)
    sources = SourceRegistry.from_settings(settings)
    client = create_client(settings)
    app = FastAPI(
        title="pagerunner",
        summary="Durable fetching of paginated search APIs.",
        version="0.1.0",
    )
    app.state.services = Services(settings=settings, store=store, sources=sources, client=client)
    # The Inngest serve endpoint is public to the guard: it checks its own request signatures.
    Guard(
        settings.token,
        public_paths=("/api/inngest",),
        session_ttl_s=settings.session_ttl_s,
        secure_cookies=settings.secure_cookies,
    ).install(app)
    install_error_handlers(app)
    app.include_router(queries.router)
    app.include_router(usage.router)
    app.include_router(combos.router)
    app.include_router(health.router)
    web.install(app)
    runner = QueryRunner(store, sources, settings)
    # Signed mode: the SDK refuses unsigned calls and never syncs on an unsigned PUT.
    signed = settings.signed_keys is not None
    inngest.fast_api.serve(
        app, client, create_functions(client, runner), enable_unauthed_sync=not signed
    )
    return app
