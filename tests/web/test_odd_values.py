"""No stored value breaks a page: whatever is already in the database renders.

The edge refuses such text today (see tests/e2e/test_input_bounds.py), but old
rows and providers' records may hold it: lone surrogates, NUL, NaN.
"""

from __future__ import annotations

import json
import math

import httpx
from fastapi import FastAPI

from .conftest import store_of, stored_query

ODD = "caf\ud800e \x00 \x1b[31m"
HTML = {"accept": "text/html"}


async def test_every_list_page_export_and_answer_renders_odd_stored_text(
    web_app: FastAPI, client: httpx.AsyncClient
) -> None:
    store = store_of(web_app)
    record = {"id": "r1", "name": ODD, "score": math.nan, "nested": {"k": ODD}}
    query_id = await stored_query(store, [record], params={"q": ODD, "location": ODD})
    failed = (await store.create("demo", {"q": "x", "location": ""})).id
    await store.start(failed, "run-2")
    await store.fail(failed, "provider_error", f"the provider said {ODD}")

    for path in (
        "/api/queries",
        "/api/queries?status=completed",
        f"/api/queries/{query_id}",
        f"/api/queries/{failed}",
        f"/api/queries/{query_id}/results",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        text = response.content.decode("utf-8")  # valid UTF-8, whatever was stored
        assert "caf\ufffde" in text, path
        json.loads(text)
    results = (await client.get(f"/api/queries/{query_id}/results")).json()
    assert results["items"][0]["data"]["score"] is None  # NaN is not JSON: shown as null

    for path in ("/", "/?status=completed", f"/queries/{query_id}", f"/queries/{failed}"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert "caf\ufffde" in page.content.decode("utf-8"), path

    for fmt in ("csv", "ndjson"):
        export = await client.get(f"/api/queries/{query_id}/results", params={"format": fmt})
        assert export.status_code == 200
        text = export.content.decode("utf-8")
        assert "caf\ufffde" in text, fmt
    ndjson = (await client.get(f"/api/queries/{query_id}/results?format=ndjson")).text
    assert json.loads(ndjson.splitlines()[0])["data"]["score"] is None
