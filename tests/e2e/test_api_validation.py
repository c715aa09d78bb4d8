"""Bad input gets a 422 naming the field, unknown ids a 404, illegal moves a 409; never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import App


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"params": {"q": "x"}}, ["body", "source"]),
        ({"source": "nope", "params": {"q": "x"}}, ["body", "source"]),
        ({"source": "demo", "params": {}}, ["body", "params", "q"]),
        ({"source": "demo", "params": {"q": "   "}}, ["body", "params", "q"]),
        ({"source": "demo", "params": {"q": "x", "color": "red"}}, ["body", "params", "color"]),
        ({"source": "demo", "params": {"q": "x", "location": 5}}, ["body", "params", "location"]),
        ({"source": "demo", "params": {"q": "x"}, "max_pages": 0}, ["body", "max_pages"]),
        ({"source": "demo", "params": {"q": "x"}, "extra": 1}, ["body", "extra"]),
        ({"source": "demo", "params": "q=x"}, ["body", "params"]),
    ],
)
async def test_run_rejects_bad_bodies_naming_the_field(
    app: App, body: dict[str, Any], loc: list[str]
) -> None:
    response = await app.api.post("/api/queries/run", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc
    listed = (await app.api.get("/api/queries")).json()
    assert listed["total"] == 0  # nothing was created


async def test_run_rejects_a_body_that_is_not_json(app: App) -> None:
    response = await app.api.post(
        "/api/queries/run", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_unknown_query_ids_are_404(app: App) -> None:
    for method, path in [
        ("GET", "/api/queries/NOPE"),
        ("GET", "/api/queries/NOPE/results"),
        ("GET", "/api/queries/NOPE/pages"),
        ("POST", "/api/queries/NOPE/resume"),
        ("POST", "/api/queries/NOPE/pause"),
        ("POST", "/api/queries/NOPE/cancel"),
    ]:
        response = await app.api.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert "NOPE" in response.json()["detail"]


async def test_illegal_moves_are_409_with_a_reason(app: App) -> None:
    query_id = await app.run("cafes total:20")
    await app.until(query_id)
    for action in ("resume", "pause", "cancel"):
        response = await app.api.post(f"/api/queries/{query_id}/{action}")
        assert response.status_code == 409
        assert "completed" in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_list_filters_are_validated(app: App, params: dict[str, Any], field: str) -> None:
    response = await app.api.get("/api/queries", params=params)
    assert response.status_code == 422
    assert field in response.json()["detail"][0]["loc"]


async def test_list_filters_and_pages(app: App) -> None:
    ids = [await app.run(f"shop{i} total:20") for i in range(3)]
    for query_id in ids:
        await app.until(query_id)
    done = (await app.api.get("/api/queries", params={"status": "completed"})).json()
    assert done["total"] == 3
    first = (await app.api.get("/api/queries", params={"limit": 2})).json()
    rest = (await app.api.get("/api/queries", params={"limit": 2, "offset": 2})).json()
    assert [q["id"] for q in first["items"] + rest["items"]] == list(reversed(ids))
    assert (await app.api.get("/api/queries", params={"source": "other"})).json()["total"] == 0


async def test_results_paging_and_format_are_validated(app: App) -> None:
    query_id = await app.run("parks total:30")
    await app.until(query_id)
    bad_format = await app.api.get(f"/api/queries/{query_id}/results", params={"format": "xml"})
    bad_limit = await app.api.get(f"/api/queries/{query_id}/results", params={"limit": 0})
    assert bad_format.status_code == bad_limit.status_code == 422
    page = (
        await app.api.get(f"/api/queries/{query_id}/results", params={"limit": 10, "offset": 25})
    ).json()
    assert page["total"] == 30 and len(page["items"]) == 5


async def test_healthz_reports_engine_and_sources(app: App) -> None:
    health = (await app.api.get("/healthz")).json()
    assert health["ok"] is True and health["engine"] == "embedded"
    assert "demo" in health["sources"]  # and the presets and file-defined sources
