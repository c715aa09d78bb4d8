"""The combos form, a combo's page and the usage page over HTTP."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from pagerunner.api.services import Services
from pagerunner.queries.batches import BatchStore
from pagerunner.queries.credentials import CredentialLimiter
from tests.e2e.conftest import fast_settings, running_app

from .conftest import csrf, store_of

XSS = "<script>window.__xss=1</script>"
ESCAPED = "&lt;script&gt;window.__xss=1&lt;/script&gt;"
COMBO_URL = re.compile(r"/combos/([0-9A-Z]{26})\?done=(created|unscheduled)")
DEMO_KEY = "env:PAGERUNNER_DEMO_API_KEY"


def batches_of(app: FastAPI) -> BatchStore:
    services: Services = app.state.services
    return BatchStore(services.store.database)


def combo_form(token: str, action: str = "create", **lines: str) -> dict[str, str]:
    form = {"csrf_token": token, "source": "demo", "action": action, "max_pages": ""}
    return form | {f"lines.{name}": value for name, value in lines.items()}


async def test_the_combos_form_has_a_box_per_parameter_and_is_linked(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/combos/new", params={"source": "demo"})
    assert page.status_code == 200
    assert '<option value="demo" selected>demo</option>' in page.text
    for name in ("q", "location"):
        assert f'<label for="lines-{name}">{name}</label>' in page.text
        assert f'<textarea id="lines-{name}" name="lines.{name}"' in page.text
    assert "what to search for" in page.text and 'name="max_pages"' in page.text
    assert 'name="csrf_token"' in page.text and 'data-combos data-cap="1000"' in page.text
    assert 'id="combo-count"' in page.text and "Preview counts the queries" in page.text
    assert 'value="preview"' in page.text and 'value="create"' in page.text
    assert "No combos yet" in page.text
    assert '<a href="/combos/new" aria-current="page">Combos</a>' in page.text
    assert '<a href="/usage">Usage</a>' in page.text
    assert 'href="/combos/new">New combo</a>' in (await client.get("/")).text
    assert (await client.get("/combos")).headers["location"] == "/combos/new"


async def test_preview_shows_the_exact_count_and_creates_nothing(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await csrf(client, "/combos/new")
    form = combo_form(
        token, "preview", q="coffee\ntea\n  coffee  \n\n", location="Austin, TX\nDallas, TX\n"
    )
    page = await client.post("/combos/new", data=form)
    assert page.status_code == 200
    assert 'data-exact="1" data-count="4"' in page.text
    assert "4 queries will be created: the exact count" in page.text
    # What was typed comes back in the boxes, so Create sends the same values.
    assert "coffee\ntea\n  coffee  \n\n</textarea>" in page.text
    one = await client.post("/combos/new", data=combo_form(token, "preview", q="tea"))
    assert "1 query will be created" in one.text
    assert (await store_of(web_app).list())[1] == 0
    assert await batches_of(web_app).recent() == []


async def test_bad_values_and_the_cap_show_the_form_again_with_a_422(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await csrf(client, "/combos/new")
    for action in ("create", "preview"):
        empty = await client.post("/combos/new", data=combo_form(token, action, location=XSS))
        assert empty.status_code == 422
        assert "a non-empty search text is required" in empty.text
        assert 'aria-invalid="true"' in empty.text and 'id="lines-q-error"' in empty.text
        assert ESCAPED in empty.text and XSS not in empty.text
    many = combo_form(
        token,
        q="\n".join(f"q{i}" for i in range(40)),
        location="\n".join(f"city {i}" for i in range(30)),
    )
    capped = await client.post("/combos/new", data=many)
    assert capped.status_code == 422
    assert "1200 combinations exceed the cap of 1000" in capped.text
    assert 'id="combo-form-error"' in capped.text
    bad_pages = await client.post(
        "/combos/new", data={**combo_form(token, q="a"), "max_pages": "0"}
    )
    assert bad_pages.status_code == 422 and "a whole number from 1 to 10000" in bad_pages.text
    unknown = await client.post("/combos/new", data={**combo_form(token, q="a"), "source": "nope"})
    assert unknown.status_code == 422 and "choose one of: " in unknown.text
    assert re.search(r"choose one of: [^<]*\bdemo\b", unknown.text)
    no_csrf = {k: v for k, v in combo_form(token, q="a").items() if k != "csrf_token"}
    refused = await client.post("/combos/new", data=no_csrf, headers={"accept": "text/html"})
    assert refused.status_code == 403
    assert (await store_of(web_app).list())[1] == 0
    assert await batches_of(web_app).recent() == []


async def test_create_makes_the_batch_and_redirects_to_its_page(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await csrf(client, "/combos/new")
    form = combo_form(token, q="coffee\ntea\ncoffee", location="Austin, TX\nDallas, TX")
    created = await client.post("/combos/new", data={**form, "max_pages": "3"})
    assert created.status_code == 303
    found = COMBO_URL.fullmatch(created.headers["location"])
    assert found, created.headers["location"]
    combo_id = found.group(1)
    # No engine answers in these tests: the queries are saved, pending, for the next start.
    assert found.group(2) == "unscheduled"
    summary = await batches_of(web_app).summary(combo_id)
    assert summary["query_count"] == 4 and summary["max_pages"] == 3
    assert summary["params"] == {
        "location": ["Austin, TX", "Dallas, TX"],
        "q": ["coffee", "tea"],
    }
    page = await client.get(created.headers["location"])
    assert page.status_code == 200
    assert "engine did not accept them all" in page.text
    assert f'data-live="/combos/{combo_id}?fragment=1"' in page.text
    assert '<span class="badge badge-running">running</span>' in page.text
    assert (
        '<span class="badge badge-pending">pending</span> <span class="status-count">4</span>'
        in page.text
    )
    assert "0 of 4 queries completed · 0 pages · 0 records (0 new) · 0 distinct" in page.text
    for query in summary["queries"]:
        assert f'<a id="query-{query["id"]}" href="/queries/{query["id"]}">' in page.text
    assert "q: coffee · location: Austin, TX" in page.text
    fragment = await client.get(f"/combos/{combo_id}", params={"fragment": 1})
    assert "<html" not in fragment.text and "engine did not accept" not in fragment.text
    assert 'data-summary="Combo running: 0 of 4 queries completed' in fragment.text
    # Each member query links back to its combo; the new combo is listed under the form.
    member = summary["queries"][0]["id"]
    detail = (await client.get(f"/queries/{member}")).text
    assert f'<a id="query-combo" href="/combos/{combo_id}">' in detail
    assert (
        f'<a id="combo-{combo_id}" href="/combos/{combo_id}">'
        in (await client.get("/combos/new")).text
    )


async def test_an_unknown_combo_is_a_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/combos/<img src=x onerror=alert(1)>")
    assert response.status_code == 404
    assert "Combo not found" in response.text and "<html" in response.text
    assert "<img" not in response.text and "&lt;img src=x onerror=alert(1)&gt;" in response.text
    fragment = await client.get("/combos/NOPE", params={"fragment": 1})
    assert fragment.status_code == 404


async def test_values_are_escaped_on_the_combo_pages(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await csrf(client, "/combos/new")
    form = combo_form(token, q=f"{XSS}\ntea", location='"><b>')
    created = await client.post("/combos/new", data=form)
    assert created.status_code == 303
    combo_id = COMBO_URL.fullmatch(created.headers["location"]).group(1)  # type: ignore[union-attr]
    for path in (f"/combos/{combo_id}", f"/combos/{combo_id}?fragment=1", "/combos/new"):
        text = (await client.get(path)).text
        assert "<script>window" not in text and '"><b>' not in text, path
        assert ESCAPED in text, path


async def test_the_usage_page_shows_requests_budgets_and_back_off(tmp_path: Path) -> None:
    settings = fast_settings(
        str(tmp_path / "u.db"), demo_daily_budget=50, demo_monthly_budget=1000, demo_rate_per_s=50
    )
    async with running_app(settings) as app:
        empty = await app.api.get("/usage")
        assert empty.status_code == 200
        assert '<a href="/usage" aria-current="page">Usage</a>' in empty.text
        assert "0 of 50 (0%)" in empty.text

        query_id = await app.run("coffee total:30")  # 20 records a page: 2 requests
        assert (await app.until(query_id))["status"] == "completed"
        limiter = CredentialLimiter(app.runtime.services.store.database)
        await limiter.block(DEMO_KEY, time.time() + 600, f"rate limited: {XSS}")
        page = await app.api.get("/usage")
        row = re.search(rf'<tr data-credential="{DEMO_KEY}">(.*?)</tr>', page.text, re.S)
        assert row, page.text
        cells = row.group(1)
        assert (
            f"<code>{DEMO_KEY}</code>" in cells
            and '<li><a class="source-link" href="/?source=demo">demo</a></li>' in cells
        )
        assert '<td class="num requests-today">2</td>' in cells
        assert '<td class="num requests-month">2</td>' in cells
        assert '<meter min="0" max="50" value="2"' in cells and "2 of 50 (4%)" in cells
        assert '<meter min="0" max="1000" value="2"' in cells and "2 of 1000 (0%)" in cells
        assert '<td class="rates">50 per second</td>' in cells
        assert "blocked until <time" in cells and f"rate limited: {ESCAPED}" in cells
        assert XSS not in page.text
        items = (await app.api.get("/api/usage")).json()["items"]
        api = next(i for i in items if i["credential"] == DEMO_KEY)
        assert api["requests_today"] == 2 and api["block_reason"] == f"rate limited: {XSS}"
        fragment = await app.api.get("/usage", params={"fragment": 1})
        assert "<html" not in fragment.text
        assert re.search(
            r'data-summary="2 requests today over \d+ credentials?; 1 backing off"', fragment.text
        )
