"""Rendering of the dashboard's HTML: the Jinja2 environment, its filters, live regions.

Autoescaping is on for every template: event payloads, step outputs and error
messages come from apps and providers and must show as text. Nothing outside
this module builds HTML by hand except `Markup` of already-rendered templates.

A *live region* is a part of a page that refreshes itself with htmx: it polls
its own URL with `region=<id>&v=<fingerprint>`, and the server answers 204 (no
swap) when the region's HTML has not changed, so open `<details>`, focus and
screen readers are left alone until something actually happens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ...guard import csrf_token
from ...safetext import scrub_rendered

__all__ = ["POLL_EVERY", "Pages", "format_after", "format_epoch", "format_ms", "format_when"]

POLL_EVERY = "2s"

# Defence in depth: even if something escaped the escaping, no inline script runs,
# and no other site can frame the Cancel / Rerun buttons.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def format_ms(value: float | None) -> str:
    """A duration in milliseconds for people: 162 ms, 1.24 s, 2 m 05 s, 1 h 02 m."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{round(value)} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def format_when(iso: str | None, *, clock: bool = False) -> str:
    """An ISO timestamp as `2026-01-31 12:00:03` (UTC), or `12:00:03.123` with clock."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if clock:
        return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_after(iso: str | None, reference: str | None) -> str:
    """Like `format_when`, but only the time of day when it is the same day as `reference`."""
    if iso and reference and iso[:10] == reference[:10]:
        return format_when(iso)[11:]
    return format_when(iso)


def format_epoch(value: Any) -> str:
    """Epoch seconds (as in a Sleep's `until`) as `12:00:03.123`."""
    if not isinstance(value, int | float):
        return str(value)
    moment = datetime.fromtimestamp(value, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _fingerprint(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


class Pages:
    """Renders the dashboard's templates into responses."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("pagerunner.executor.dashboard", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=scrub_rendered,  # a payload's lone surrogate must not break the page
        )
        self.env.filters.update(
            ms=format_ms,
            when=format_when,
            clock=lambda iso: format_when(iso, clock=True),
            after=format_after,
            epoch=format_epoch,
            pretty=_pretty,
        )

    def render(self, template: str, request: Request, **context: Any) -> Markup:
        values = {"error": None, "notice": None, "nav": None, **context}
        return Markup(
            self.env.get_template(template).render(
                request=request, csrf_token=csrf_token(request), **values
            )
        )

    def page(
        self, request: Request, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        body = self.render(template, request, **context)
        return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)

    def live_page(
        self,
        request: Request,
        template: str,
        regions: Mapping[str, str],
        *,
        poll: bool,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        """The full page, or (for an htmx poll) one region of it, or 204 when unchanged."""
        wanted = request.query_params.get("region") if is_htmx(request) else None
        if wanted is not None:
            if wanted not in regions:
                return Response(status_code=204)
            body = self.render(regions[wanted], request, **context)
            if request.query_params.get("v") == _fingerprint(body):
                return Response(status_code=204)
            region = self._wrap(request, wanted, body, poll=poll, outer=False)
            return HTMLResponse(region, status_code=status_code, headers=SECURITY_HEADERS)
        # In the full page each region sits in a stable aria-live container; polls
        # replace only the inner element, so the live region itself never goes away.
        rendered = {
            name: self._wrap(
                request, name, self.render(t, request, **context), poll=poll, outer=True
            )
            for name, t in regions.items()
        }
        return self.page(request, template, status_code=status_code, regions=rendered, **context)

    def _wrap(
        self, request: Request, name: str, body: Markup, *, poll: bool, outer: bool
    ) -> Markup:
        url = None
        if poll:
            kept: Sequence[tuple[str, str]] = [
                (k, v) for k, v in request.query_params.multi_items() if k not in ("region", "v")
            ]
            query = urlencode([*kept, ("region", name), ("v", _fingerprint(body))])
            url = f"{request.url.path}?{query}"
        return self.render(
            "_live.html",
            request,
            region_id=name,
            body=body,
            poll_url=url,
            every=POLL_EVERY,
            outer=outer,
        )
