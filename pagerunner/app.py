"""The pagerunner app: the API and the Inngest serve endpoint, built from `Settings`."""

from __future__ import annotations

import inngest.fast_api
from fastapi import FastAPI

from .api.errors import install_error_handlers
from .api.routes import health, queries, usage
from .api.services import Services
from .functions import QueryRunner, create_client, create_functions
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
    install_error_handlers(app)
    app.include_router(queries.router)
    app.include_router(usage.router)
    app.include_router(health.router)
    runner = QueryRunner(store, sources, settings)
    inngest.fast_api.serve(app, client, create_functions(client, runner))
    return app
