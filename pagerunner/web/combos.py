"""The app's combos and usage pages: a combos form, one combo, usage per credential.

Thin like the other pages: the form goes through the same `expand` and the
source's `validate_params` as `POST /api/combos`, the batch is created by the
same `BatchStore`, and the usage table comes from the same report as
`GET /api/usage`. A combo's page and the usage page refresh their live part from
`?fragment=1`, rendered by the same template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi import status as http
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api.deps import ServicesDep
from ..api.routes.usage import usage_report
from ..api.services import SchedulingError, Services
from ..functions import PRIORITY_COMBO_S, page_cap
from ..guard import CsrfChecked
from ..queries.batches import BatchNotFound, BatchStore
from ..queries.combos import DEFAULT_CAP, TooManyCombos, expand
from ..queries.deliveries import DeliveryStore
from ..queries.model import Query, QueryError, utcnow
from ..sources.base import BadRequestError, Source
from .routes import (
    _relative,
    deliver_context,
    not_found,
    page_cap_context,
    param_error,
    parse_shared,
    render,
    shared_texts,
    unknown_source,
    webhook_context,
)
from .views import COMBO_NOTICES, ComboView, UsageRow, combo_params_text, format_time, unique_lines

__all__ = ["router"]

RECENT_COMBOS = 10

router = APIRouter(include_in_schema=False)


# -- the combos form ---------------------------------------------------------------------


@router.get("/combos")
async def combos_redirect() -> RedirectResponse:
    return RedirectResponse("/combos/new", status_code=http.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/combos/new")
async def new_combo_page(request: Request, services: ServicesDep, source: str = "") -> Response:
    """The form: pick a source, give each parameter one value per line."""
    return render(request, "combo_new.html", await _form_context(services, source, {}))


@router.post("/combos/new")
async def create_combo(request: Request, services: ServicesDep, _csrf: CsrfChecked) -> Response:
    """Preview the exact count, or validate like the API, create the batch and schedule it."""
    form = await request.form()
    texts = {k[len("lines.") :]: str(v) for k, v in form.items() if k.startswith("lines.")}
    shared = shared_texts(form)
    context = await _form_context(services, str(form.get("source") or ""), texts, **shared)
    source: Source | None = context["source"]
    errors: dict[str, str] = context["errors"]
    if source is None:
        unknown_source(services, errors)
        return render(request, "combo_new.html", context, http.HTTP_422_UNPROCESSABLE_CONTENT)
    fields = parse_shared(services, shared, errors)
    params = {name: unique_lines(texts.get(name, "")) for name in source.params_help}
    params = {name: values for name, values in params.items() if values}
    combos = _expand(source, params, errors)
    if errors:
        return render(request, "combo_new.html", context, http.HTTP_422_UNPROCESSABLE_CONTENT)
    if form.get("action") == "preview":
        context["preview"] = len(combos)
        return render(request, "combo_new.html", context)
    try:
        batch, created = await BatchStore(services.store.database).create(
            source.name,
            params,
            combos,
            max_pages=page_cap(source, services.settings, fields.max_pages),
            webhook=fields.webhook,
            deliver=fields.deliver,
        )
    except QueryError as exc:
        errors["form"] = str(exc)
        return render(request, "combo_new.html", context, http.HTTP_503_SERVICE_UNAVAILABLE)
    done = await _schedule_all(services, created)
    return RedirectResponse(f"/combos/{batch.id}?done={done}", http.HTTP_303_SEE_OTHER)


def _expand(
    source: Source, params: Mapping[str, list[str]], errors: dict[str, str]
) -> list[dict[str, Any]]:
    """The combinations, as `POST /api/combos` makes them; a problem goes to `errors`."""
    try:
        return expand(params, source.validate_params, cap=DEFAULT_CAP)
    except (TooManyCombos, BadRequestError) as exc:
        param_error(exc, source, errors)
        return []


async def _schedule_all(services: Services, created: Sequence[Query]) -> str:
    """Hand the queries to the engine; when it refuses some, they wait for the next start."""
    try:
        await services.schedule(*created, priority=PRIORITY_COMBO_S)
    except SchedulingError:
        return "unscheduled"
    return "created"


async def _form_context(
    services: Services,
    source_name: str,
    values: dict[str, str],
    *,
    max_pages: str = "",
    webhook: str = "",
    deliver: str = "",
) -> dict[str, Any]:
    names = services.sources.names()
    source = None
    if source_name in names or (not source_name and names):
        source = services.sources.get(source_name or names[0])
    now = utcnow()
    recent = [
        {
            "id": b.id,
            "source": b.source,
            "params": combo_params_text(b.params),
            "queries": b.query_count,
            "max_pages": b.max_pages,
            "created": format_time(b.created_at, now),
            "created_at": b.created_at,
        }
        for b in await BatchStore(services.store.database).recent(RECENT_COMBOS)
    ]
    return {
        "sources": [services.sources.get(n) for n in names],
        "source": source,
        "values": values,
        "errors": {},
        "max_pages": max_pages,
        **page_cap_context(services, source),
        **webhook_context(services, webhook),
        **deliver_context(services, deliver),
        "cap": DEFAULT_CAP,
        "preview": None,
        "recent": recent,
    }


# -- one combo ---------------------------------------------------------------------------


@router.get("/combos/{batch_id}")
async def combo_page(
    request: Request,
    batch_id: str,
    services: ServicesDep,
    fragment: bool = False,
    done: str = "",
) -> Response:
    """The combo's status, counts by status, summed progress and its queries; refreshes itself."""
    try:
        summary = await BatchStore(services.store.database).summary(batch_id)
    except BatchNotFound:
        return not_found(request, f"No combo has the id {batch_id}.", "Combo not found")
    url = request.url.remove_query_params(["fragment", "done"])
    context: dict[str, Any] = {
        "combo": ComboView(summary, utcnow()),
        "deliveries": await DeliveryStore(services.store.database).for_batch(batch_id),
        "webhook_signed": services.settings.webhook_signing_secret is not None,
        "live_url": _relative(url.include_query_params(fragment=1)),
        "notice": None if fragment else COMBO_NOTICES.get(done),
    }
    return render(request, "_combo_live.html" if fragment else "combo.html", context)


# -- usage -------------------------------------------------------------------------------


@router.get("/usage")
async def usage_page(
    request: Request, services: ServicesDep, fragment: bool = False
) -> HTMLResponse:
    """Requests per credential today and this month, budgets, rate limits and back-off."""
    now = utcnow()
    rows = [UsageRow(item, now) for item in await usage_report(services)]
    today = sum(r.today for r in rows)
    blocked = sum(1 for r in rows if r.blocked_until)
    summary = f"{today} {'request' if today == 1 else 'requests'} today over {len(rows)} " + (
        f"{'credential' if len(rows) == 1 else 'credentials'}"
        + (f"; {blocked} backing off" if blocked else "")
    )
    context = {"rows": rows, "summary": summary, "live_url": "/usage?fragment=1"}
    return render(request, "_usage_table.html" if fragment else "usage.html", context)
