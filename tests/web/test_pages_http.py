"""The HTML pages over HTTP: forms, validation, actions, 404s and escaping."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.e2e.conftest import fast_settings, running_app

from .conftest import csrf, store_of, stored_query

XSS = "<script>window.__xss=1</script>"


async def test_the_queries_page_lists_filters_and_pages(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    store = store_of(web_app)
    done = await stored_query(store, [{"name": "a"}])
    paused = await stored_query(store, finish="pause", params={"q": "tea"})
    page = await client.get("/")
    assert page.status_code == 200
    assert done in page.text and paused in page.text
    assert 'aria-live="polite"' in page.text
    assert 'data-live="/?fragment=1"' in page.text
    only_paused = await client.get("/", params={"status": "paused", "source": "demo"})
    assert paused in only_paused.text and done not in only_paused.text
    fragment = await client.get("/", params={"status": "paused", "fragment": 1})
    assert paused in fragment.text and "<html" not in fragment.text
    assert 'data-summary="1 query; on this page 1 paused"' in fragment.text
    # An unknown status filters nothing rather than failing.
    assert done in (await client.get("/", params={"status": "nonsense"})).text


async def test_the_queries_page_has_paging(web_app: FastAPI, client: httpx.AsyncClient) -> None:
    store = store_of(web_app)
    ids = [(await store.create("demo", {"q": f"q{i}"})).id for i in range(30)]
    first = (await client.get("/")).text
    assert ids[-1] in first and ids[0] not in first
    assert "1\N{EN DASH}25 of 30" in first
    older = re.search(r'href="(/\?offset=25)"', first)
    assert older, first
    second = (await client.get(older.group(1))).text
    assert ids[0] in second and ids[-1] not in second


async def test_the_form_shows_the_source_parameters_with_help(client: httpx.AsyncClient) -> None:
    page = await client.get("/queries/new")
    assert page.status_code == 200
    assert 'name="params.q"' in page.text and "what to search for" in page.text
    assert 'name="params.location"' in page.text and 'name="max_pages"' in page.text
    assert "at most 10000; empty: 1000, the page cap of demo" in page.text
    assert 'name="csrf_token"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_an_invalid_form_is_shown_again_with_the_message_and_nothing_is_created(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = await csrf(client)
    form = {"csrf_token": token, "source": "demo", "params.q": "  ", "params.location": XSS}
    response = await client.post("/queries/new", data=form)
    assert response.status_code == 422
    assert "a non-empty search text is required" in response.text
    assert 'aria-invalid="true"' in response.text
    # What was typed comes back, escaped.
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in response.text
    assert XSS not in response.text
    bad_pages = {**form, "params.q": "coffee", "max_pages": "0"}
    response = await client.post("/queries/new", data=bad_pages)
    assert response.status_code == 422
    assert "a whole number from 1 to 10000" in response.text
    above_ceiling = await client.post("/queries/new", data={**bad_pages, "max_pages": "10001"})
    assert above_ceiling.status_code == 422
    assert "a whole number from 1 to 10000" in above_ceiling.text
    unknown = await client.post("/queries/new", data={**form, "source": "nope"})
    assert unknown.status_code == 422 and "choose one of: demo" in unknown.text
    assert (await store_of(web_app).list())[1] == 0


async def test_a_form_post_without_the_csrf_token_is_refused(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    await csrf(client)
    form = {"source": "demo", "params.q": "coffee"}
    response = await client.post("/queries/new", data=form, headers={"accept": "text/html"})
    assert response.status_code == 403
    assert "CSRF check failed" in response.text and "<html" in response.text
    assert (await store_of(web_app).list())[1] == 0


async def test_an_unknown_query_is_a_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/queries/<img src=x onerror=alert(1)>")
    assert response.status_code == 404
    assert "Query not found" in response.text
    assert "<img" not in response.text and "&lt;img src=x onerror=alert(1)&gt;" in response.text
    other = await client.get("/no/such/page", headers={"accept": "text/html"})
    assert other.status_code == 404 and "<html" in other.text
    api = await client.get("/api/queries/nope")
    assert api.status_code == 404 and api.json() == {"detail": "query nope does not exist"}


async def test_provider_data_is_escaped_everywhere(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    store = store_of(web_app)
    records = [{"name": XSS, "nested": {"html": "<img src=x onerror=alert(1)>"}, "n": 1}]
    query_id = await stored_query(store, records, params={"q": XSS, "location": '"><b>'})
    for path in ("/", f"/queries/{query_id}", f"/queries/{query_id}?fragment=1"):
        text = (await client.get(path)).text
        assert "<script>window" not in text and "<img" not in text and '"><b>' not in text
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in text
    detail = (await client.get(f"/queries/{query_id}")).text
    # The results table: columns from the records' fields, nested values as JSON text.
    assert '<th scope="col">nested</th>' in detail
    assert "{&#34;html&#34;:&#34;&lt;img src=x onerror=alert(1)&gt;&#34;}" in detail


async def test_the_detail_page_shows_the_error_pause_and_legal_actions(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    store = store_of(web_app)
    failed = await stored_query(store, finish="fail")
    text = (await client.get(f"/queries/{failed}")).text
    assert "invalid_credentials" in text
    assert "Invalid API key. &lt;b&gt;Check it&lt;/b&gt;." in text
    assert 'id="action-resume"' in text
    assert 'id="action-pause"' not in text and 'id="action-cancel"' not in text
    paused = await stored_query(store, finish="pause")
    text = (await client.get(f"/queries/{paused}")).text
    assert "rate limited: slow down" in text and "retry after 600 s" in text
    assert 'id="action-resume"' in text and 'id="action-cancel"' in text
    assert 'id="action-pause"' not in text
    completed = await stored_query(store)
    text = (await client.get(f"/queries/{completed}")).text
    assert "action-" not in text
    assert f"/api/queries/{completed}/results?format=csv" in text
    assert f"/api/queries/{completed}/results?format=ndjson" in text
    assert "/runs?function_id=pagerunner-execute-query" in text
    assert "/runs/run-1" in text


async def test_an_illegal_action_is_a_message_not_an_error(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    completed = await stored_query(store_of(web_app))
    token = await csrf(client, f"/queries/{completed}")
    response = await client.post(f"/queries/{completed}/resume", data={"csrf_token": token})
    assert response.status_code == 409
    assert "cannot resume a completed query" in response.text and "<html" in response.text
    missing = await client.post("/queries/NOPE/cancel", data={"csrf_token": token})
    assert missing.status_code == 404
    unknown = await client.post(f"/queries/{completed}/explode", data={"csrf_token": token})
    assert unknown.status_code == 404


async def test_create_schedule_and_act_through_the_pages(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), page_delay_s=0.2)
    async with running_app(settings) as app:
        browser = app.api
        token = await csrf(browser)
        form = {
            "csrf_token": token,
            "source": "demo",
            "params.q": "coffee total:30",
            "params.location": "",
            "max_pages": "",
        }
        created = await browser.post("/queries/new", data=form)
        assert created.status_code == 303
        location = created.headers["location"]
        assert re.fullmatch(r"/queries/[0-9A-Z]{26}\?done=created", location)
        query_id = location.split("/")[2].split("?")[0]
        query = await app.until(query_id)
        assert query["status"] == "completed" and query["params"] == {
            "q": "coffee total:30",
            "location": "",
        }
        assert query["max_pages"] == 1000  # an empty field is the source's cap
        page = await browser.get(location)
        assert "Query created and scheduled" in page.text
        assert "2 of 2 pages · 30 records (30 new)" in page.text

        second = await app.run("tea total:200")
        cancel = await browser.post(f"/queries/{second}/cancel", data={"csrf_token": token})
        assert cancel.status_code == 303
        assert (await app.until(second))["status"] == "cancelled"
        resume = await browser.post(f"/queries/{second}/resume", data={"csrf_token": token})
        assert resume.status_code == 303 and resume.headers["location"].endswith("?done=resume")
        assert (await app.until(second, {"completed"}))["records_fetched"] == 200
