"""The app's server-rendered pages: queries, a new query, one query, combos, schedules, usage.

Jinja2 templates (autoescaped), one stylesheet and one small script under
`static/`; the pages work without JavaScript, the script only refreshes their
live parts. Nothing here touches the database directly: the routes go through
the same services as the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import combos, schedules
from .routes import render, router

__all__ = ["STATIC_DIR", "install"]

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the pages, their static files, and HTML error pages for browsers."""
    app.include_router(router)
    app.include_router(combos.router)
    app.include_router(schedules.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def html_errors(request: Request, exc: StarletteHTTPException) -> Response:
        # API clients (and anything not asking for HTML) keep FastAPI's JSON errors.
        wants_html = "text/html" in request.headers.get("accept", "")
        if request.url.path.startswith("/api/") or not wants_html:
            return await http_exception_handler(request, exc)
        titles = {403: "Forbidden", 404: "Not found", 405: "Not allowed"}
        context = {
            "title": titles.get(exc.status_code, "Error"),
            "message": "There is no page here." if exc.status_code == 404 else str(exc.detail),
        }
        return render(request, "error.html", context, exc.status_code)
