"""The app's HTML pages: the queries, a new query, one query (and their live parts).

Routes are as thin as the API's and call the same services: the store's
transitions, the source's `validate_params`, `schedule` and `stop_run`. A page
that updates itself also answers `?fragment=1` with only its live part, rendered
by the same template, so what the browser's polling inserts is escaped exactly
like the first render. Domain errors become messages on the page, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi import status as http
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import URL

from ..api.deps import Offset, ServicesDep
from ..api.services import SchedulingError, Services
from ..destinations.delivery import LoadConflict
from ..functions import FUNCTION_ID, page_cap
from ..guard import SESSION_COOKIE, CsrfChecked, csrf_token
from ..queries.batches import BatchStore
from ..queries.deliveries import DeliveryStore
from ..queries.model import InvalidTransition, QueryError, QueryNotFound, QueryStatus, utcnow
from ..safetext import scrub_rendered
from ..sources.base import BadRequestError, Source
from .views import NOTICES, Pager, QueryView, ResultsTable, RunChain

__all__ = ["SECURITY_HEADERS", "not_found", "render", "router"]

QUERIES_PER_PAGE = 25
RESULTS_PER_PAGE = 25
PAGE_LOG_ROWS = 20
ACTIONS = ("resume", "pause", "cancel", "deliver")

#: Scripts only from this origin: even if some markup slipped through unescaped, the
#: browser would not run it.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=scrub_rendered,  # a stored lone surrogate must not break the page
    )
)

router = APIRouter(include_in_schema=False)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page (or fragment) with the CSRF token, the navigation links and safe headers."""
    services: Services = request.app.state.services
    common = {
        "csrf_token": csrf_token(request),
        "dashboard": _dashboard_links(services, None),
        "path": request.url.path,
        "signed_in": SESSION_COOKIE in request.cookies,
    }
    response: HTMLResponse = templates.TemplateResponse(
        request,
        template,
        {**common, **context},
        status_code=status_code,
        headers=SECURITY_HEADERS,
    )
    return response


def _relative(url: URL) -> str:
    """Path and query only: links never depend on the Host header."""
    return f"{url.path}?{url.query}" if url.query else url.path


def _dashboard_links(services: Services, run_id: str | None) -> dict[str, str] | None:
    """Where this engine's runs are shown, if pagerunner knows its dashboard."""
    settings = services.settings
    if settings.engine == "embedded":
        origin = settings.executor_origin
    elif settings.engine == "inngest-dev" and settings.inngest_dev:
        origin = settings.inngest_dev.rstrip("/")
    else:
        return None
    links = {
        "home": origin,
        "runs": f"{origin}/runs?function_id={settings.app_id}-{FUNCTION_ID}",
        "run_page": f"{origin}/runs/{{run_id}}",  # any run's page: fill in `run_id`
    }
    if run_id:
        links["run"] = f"{origin}/runs/{run_id}"
    return links


# -- the queries -------------------------------------------------------------------------


@router.get("/")
async def queries_page(
    request: Request,
    services: ServicesDep,
    status: str = "",
    source: str = "",
    offset: Offset = 0,
    fragment: bool = False,
) -> HTMLResponse:
    """Every query, newest first, filtered by status and source; refreshes itself."""
    status_filter = status if status in set(QueryStatus) else None
    source_filter = source or None
    queries, total = await services.store.list(
        status=status_filter, source=source_filter, limit=QUERIES_PER_PAGE, offset=offset
    )
    now = utcnow()
    url = request.url.remove_query_params("fragment")
    pager = Pager(offset=offset, limit=QUERIES_PER_PAGE, total=total)
    context = {
        "queries": [QueryView(q, now) for q in queries],
        "pager": pager,
        "previous_url": _page_url(url, "offset", pager.previous),
        "next_url": _page_url(url, "offset", pager.next),
        "live_url": _relative(url.include_query_params(fragment=1)),
        "statuses": [str(s) for s in QueryStatus],
        "sources": services.sources.names(),
        "status_filter": status_filter or "",
        "source_filter": source_filter or "",
        "summary": _list_summary(queries, total),
    }
    return render(request, "_queries_table.html" if fragment else "queries.html", context)


@router.get("/queries")
async def queries_redirect() -> RedirectResponse:
    return RedirectResponse("/", status_code=http.HTTP_308_PERMANENT_REDIRECT)


def _page_url(url: URL, param: str, offset: int | None) -> str | None:
    return None if offset is None else _relative(url.include_query_params(**{param: offset}))


def _list_summary(queries: list[Any], total: int) -> str:
    counts: dict[str, int] = {}
    for query in queries:
        counts[str(query.status)] = counts.get(str(query.status), 0) + 1
    shown = ", ".join(f"{n} {s}" for s, n in counts.items())
    return f"{total} {'query' if total == 1 else 'queries'}" + (
        f"; on this page {shown}" if shown else ""
    )


# -- a new query -------------------------------------------------------------------------


@router.get("/queries/new")
async def new_query_page(request: Request, services: ServicesDep, source: str = "") -> Response:
    """The form: pick a source, fill its parameters, optionally cap the pages."""
    return render(request, "new.html", _form_context(services, source, {}, {}))


@router.post("/queries/new")
async def create_query(request: Request, services: ServicesDep, _csrf: CsrfChecked) -> Response:
    """Validate like the API does, create, schedule, and show the new query."""
    form = await request.form()
    values = {k[len("params.") :]: str(v) for k, v in form.items() if k.startswith("params.")}
    texts = shared_texts(form)
    context = _form_context(services, str(form.get("source") or ""), values, {}, **texts)
    source: Source | None = context["source"]
    errors: dict[str, str] = context["errors"]
    if source is None:
        unknown_source(services, errors)
        return render(request, "new.html", context, http.HTTP_422_UNPROCESSABLE_CONTENT)
    fields = parse_shared(services, texts, errors)
    params: dict[str, Any] = {}
    try:
        params = source.validate_params(
            {k: v for k, v in values.items() if k in source.params_help and v.strip()}
        )
    except BadRequestError as exc:
        param_error(exc, source, errors)
    if errors:
        return render(request, "new.html", context, http.HTTP_422_UNPROCESSABLE_CONTENT)
    try:
        query = await services.store.create(
            source.name,
            params,
            max_pages=page_cap(source, services.settings, fields.max_pages),
            webhook=fields.webhook,
            deliver=fields.deliver,
        )
    except QueryError as exc:
        errors["form"] = str(exc)
        return render(request, "new.html", context, http.HTTP_503_SERVICE_UNAVAILABLE)
    done = "created"
    try:
        await services.schedule(query)
    except SchedulingError:
        done = "unscheduled"
    return RedirectResponse(f"/queries/{query.id}?done={done}", http.HTTP_303_SEE_OTHER)


def _form_context(
    services: Services,
    source_name: str,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    max_pages: str = "",
    webhook: str = "",
    deliver: str = "",
) -> dict[str, Any]:
    names = services.sources.names()
    source = None
    if source_name in names or (not source_name and names):
        source = services.sources.get(source_name or names[0])
    return {
        "sources": [services.sources.get(n) for n in names],
        "source": source,
        "values": values,
        "errors": errors,
        "max_pages": max_pages,
        **page_cap_context(services, source),
        **webhook_context(services, webhook),
        **deliver_context(services, deliver),
    }


#: The fields the query and the combo forms share: the page cap, the webhook, the destination.
SHARED_FIELDS = ("max_pages", "webhook", "deliver")


def shared_texts(form: Mapping[str, Any]) -> dict[str, str]:
    """The shared fields as typed, stripped (what the form shows again on an error)."""
    return {name: str(form.get(name) or "").strip() for name in SHARED_FIELDS}


@dataclass(frozen=True)
class SharedFields:
    """The shared fields, checked as the API checks them (None: empty or wrong)."""

    max_pages: int | None
    webhook: str | None
    deliver: str | None


def parse_shared(
    services: Services, texts: Mapping[str, str], errors: dict[str, str]
) -> SharedFields:
    """Check the shared fields; each problem goes to `errors` under its field."""
    return SharedFields(
        max_pages=_parse_max_pages(texts["max_pages"], errors, services.settings.max_pages_ceiling),
        webhook=parse_webhook(services, texts["webhook"], errors),
        deliver=parse_deliver(services, texts["deliver"], errors),
    )


def unknown_source(services: Services, errors: dict[str, str]) -> None:
    """The error of a form whose source is not one of the configured ones."""
    errors["source"] = f"choose one of: {', '.join(services.sources.names()) or 'none'}"


def param_error(exc: Exception, source: Source, errors: dict[str, str]) -> None:
    """A source's `params.<name>: message` goes to that parameter's field, anything else
    to the form as a whole."""
    field, _, message = str(exc).partition(": ")
    name = field.removeprefix("params.")
    errors[name if message and name in source.params_help else "form"] = message or str(exc)


def webhook_context(services: Services, webhook: str) -> dict[str, Any]:
    """What the webhook field of a form shows: the value, and whether calls are signed."""
    signed = services.settings.webhook_signing_secret is not None
    return {"webhook": webhook, "webhook_signed": signed}


def parse_webhook(services: Services, text: str, errors: dict[str, str]) -> str | None:
    """The form's webhook URL, checked as the API checks it; a problem goes to `errors`."""
    try:
        return services.check_webhook(text)
    except BadRequestError as exc:
        errors["webhook"] = str(exc).removeprefix("webhook: ")
        return None


def deliver_context(services: Services, deliver: str) -> dict[str, Any]:
    """What the destination field of a form shows: the value, and whether files may be written."""
    return {"deliver": deliver, "delivery_files": services.settings.delivery_dir is not None}


def parse_deliver(services: Services, text: str, errors: dict[str, str]) -> str | None:
    """The form's destination, checked as the API checks it; a problem goes to `errors`."""
    try:
        return services.check_deliver(text)
    except BadRequestError as exc:
        errors["deliver"] = str(exc).removeprefix("deliver.destination: ")
        return None


def page_cap_context(services: Services, source: Source | None) -> dict[str, int | None]:
    """What the page cap field of a form shows: the highest value, and the cap when empty."""
    return {
        "max_pages_limit": services.settings.max_pages_ceiling,
        "default_cap": page_cap(source, services.settings) if source is not None else None,
    }


def _parse_max_pages(text: str, errors: dict[str, str], ceiling: int) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= ceiling:
        errors["max_pages"] = (
            f"a whole number from 1 to {ceiling}, or empty for the source's page cap"
        )
        return None
    return value


# -- one query ---------------------------------------------------------------------------


@router.get("/queries/{query_id}")
async def query_page(
    request: Request,
    query_id: str,
    services: ServicesDep,
    results_offset: Offset = 0,
    fragment: bool = False,
    done: str = "",
) -> Response:
    """Status, error or pause reason, progress, actions, page log and results."""
    try:
        context = await _query_context(request, services, query_id, results_offset)
    except QueryNotFound:
        return _not_found(request, query_id)
    if fragment:
        return render(request, "_query_live.html", context)
    context["notice"] = NOTICES.get(done)
    return render(request, "query.html", context)


@router.post("/queries/{query_id}/{action}")
async def query_action(
    request: Request, query_id: str, action: str, services: ServicesDep, _csrf: CsrfChecked
) -> Response:
    """Resume, pause, cancel or load again, as the API does."""
    if action not in ACTIONS:
        return not_found(request, "No such action.")
    try:
        if action == "resume":
            await services.resume(query_id)
        elif action == "pause":
            await services.store.request_pause(query_id)
        elif action == "deliver":
            await services.deliver(query_id)
        else:
            await services.stop_run(await services.store.cancel(query_id))
    except QueryNotFound:
        return _not_found(request, query_id)
    except (InvalidTransition, BadRequestError, LoadConflict) as exc:  # illegal now
        return await _query_with_error(request, services, query_id, str(exc), 409)
    except (SchedulingError, QueryError) as exc:
        return await _query_with_error(request, services, query_id, str(exc), 503)
    return RedirectResponse(f"/queries/{query_id}?done={action}", http.HTTP_303_SEE_OTHER)


async def _query_with_error(
    request: Request, services: Services, query_id: str, message: str, status_code: int
) -> Response:
    try:
        context = await _query_context(request, services, query_id, 0)
    except QueryError:
        return render(request, "error.html", {"title": "Error", "message": message}, status_code)
    context["action_error"] = message
    return render(request, "query.html", context, status_code)


async def _query_context(
    request: Request, services: Services, query_id: str, results_offset: int
) -> dict[str, Any]:
    query = await services.store.get(query_id)
    pages = await services.store.pages(query_id)
    items, total = await services.store.results(
        query_id, limit=RESULTS_PER_PAGE, offset=results_offset
    )
    url = request.url.remove_query_params(["fragment", "done"])
    pager = Pager(offset=results_offset, limit=RESULTS_PER_PAGE, total=total)
    previous_url = _page_url(url, "results_offset", pager.previous)
    next_url = _page_url(url, "results_offset", pager.next)
    links = _dashboard_links(services, query.run_id)
    deliveries = await DeliveryStore(services.store.database).for_query(query_id)
    return {
        "q": QueryView(query, utcnow()),
        "deliveries": deliveries,
        "webhook_signed": services.settings.webhook_signing_secret is not None,
        "loads": await services.delivery.loads.for_query(query_id),
        "chain": RunChain.of(pages, links["run_page"] if links else None),
        "batch_id": await BatchStore(services.store.database).batch_of(query_id),
        "page_log": list(reversed(pages[-PAGE_LOG_ROWS:])),
        "pages_total": len(pages),
        "results": ResultsTable.of(items),
        "pager": pager,
        "previous_url": previous_url and f"{previous_url}#results",
        "next_url": next_url and f"{next_url}#results",
        "live_url": _relative(url.include_query_params(fragment=1)),
        "links": links,
        "action_error": None,
        "notice": None,
    }


def not_found(request: Request, message: str, title: str = "Not found") -> HTMLResponse:
    """The error page, answered with 404."""
    context = {"title": title, "message": message}
    return render(request, "error.html", context, http.HTTP_404_NOT_FOUND)


def _not_found(request: Request, query_id: str) -> HTMLResponse:
    return not_found(request, f"No query has the id {query_id}.", "Query not found")
