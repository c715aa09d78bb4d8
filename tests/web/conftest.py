"""The app built by `create_app`, driven in-process over ASGI (no executor running).

Queries are put in the store directly, so pages can be checked in every state
without waiting for a run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pagerunner.api.services import Services
from pagerunner.app import create_app
from pagerunner.queries.migrate import migrate
from pagerunner.queries.store import QueryStore
from pagerunner.settings import Settings
from pagerunner.sources.base import Checkpoint, Page, Record
from tests.conftest import free_port

BASE = "http://testserver"


def app_settings(db: str, **overrides: Any) -> Settings:
    # A port nobody listens on: scheduling fails fast instead of reaching a stray executor.
    values: dict[str, Any] = {
        "db": db,
        "executor_port": free_port(),
        "demo_port": free_port(),
        "log_level": "warning",
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[Any]:
    """Build apps on one migrated SQLite file; all are closed at the end."""
    db = str(tmp_path / "web.db")
    await migrate(db)
    apps: list[FastAPI] = []

    def build(**overrides: Any) -> FastAPI:
        app = create_app(app_settings(db, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        services: Services = app.state.services
        await services.store.close()
        await services.sources.aclose()


@pytest.fixture
def web_app(make_app: Any) -> FastAPI:
    app: FastAPI = make_app()
    return app


@pytest.fixture
async def client(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as value:
        yield value


def store_of(app: FastAPI) -> QueryStore:
    services: Services = app.state.services
    return services.store


async def stored_query(
    store: QueryStore,
    records: Sequence[Mapping[str, Any]] = (),
    *,
    params: Mapping[str, Any] | None = None,
    finish: str = "complete",
) -> str:
    """A query that ran one page holding `records`, then completed, failed or paused."""
    query = await store.create("demo", params or {"q": "coffee", "location": ""})
    await store.start(query.id, "run-1")
    page = Page(
        records=[Record(key=f"k{i}", data=dict(r)) for i, r in enumerate(records)],
        next_checkpoint=None if finish == "complete" else Checkpoint(page=2),
    )
    await store.save_page(query.id, 1, page, cursor_in=None, duration_ms=12)
    if finish == "complete":
        await store.complete(query.id)
    elif finish == "fail":
        await store.fail(query.id, "invalid_credentials", "Invalid API key. <b>Check it</b>.")
    elif finish == "pause":
        await store.pause(query.id, "rate limited: slow down", "retry after 600 s")
    return query.id


async def csrf(client: httpx.AsyncClient, path: str = "/queries/new") -> str:
    """Load a page so the browser-like client holds a CSRF cookie; return the token."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    token = client.cookies.get("pagerunner_csrf")
    assert token
    return token
