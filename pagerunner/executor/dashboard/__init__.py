"""The executor's dashboard: server-rendered pages of runs, events, functions and apps.

Like the Inngest dev server's UI, served by the executor's own app at `/`.
Jinja2 templates (autoescaped) and one vendored file of htmx 2 for polling;
every page is readable without JavaScript. Reads go through `executor.views`,
actions through the `Executor`; nothing here touches the store directly.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .routes import router

__all__ = ["STATIC_DIR", "install_dashboard"]

STATIC_DIR = Path(__file__).parent / "static"


def install_dashboard(app: FastAPI) -> None:
    """Add the pages and their static files to the executor's app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
