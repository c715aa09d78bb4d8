"""Nothing runs forever: every query stops at a page cap, and says so.

The provider here never says "last page" in practice: `total:1000000000` gives
the simulated provider a billion results, 50 million pages of 20.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import App, fast_settings, running_app

ENDLESS = "endless total:1000000000"
DEFAULT, CEILING, FILE_CAP = 2, 5, 3


def _note(cap: int) -> str:
    return f"stopped at the page cap of {cap}; the source had more pages"


def _source_file(folder: Path, name: str, port: int, max_pages: int) -> None:
    """The simulated provider as a source file whose pagination caps its queries."""
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(
        f"""
[params.q]
required = true

[request]
url = "http://127.0.0.1:{port}/v1/search"
query = {{ q = "{{q}}" }}

[auth]
type = "api_key"
name = "X-API-Key"
env = "ENDLESS_API_KEY"

[pagination]
type = "page_number"
has_more_path = "has_more"
max_pages = {max_pages}

[records]
path = "results"
key = "id"
"""
    )


@pytest.fixture
async def capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[App]:
    """Default cap 2, ceiling 5; `endless` caps at 3 in its file, `greedy` asks for 50."""
    monkeypatch.setenv("ENDLESS_API_KEY", "demo-key")
    settings = fast_settings(
        str(tmp_path / "p.db"),
        default_max_pages=DEFAULT,
        max_pages_ceiling=CEILING,
        sources_dir=tmp_path / "sources",
    )
    _source_file(tmp_path / "sources", "endless", settings.demo_port, FILE_CAP)
    _source_file(tmp_path / "sources", "greedy", settings.demo_port, 50)
    async with running_app(settings) as app:
        yield app


async def _run(app: App, source: str, **extra: object) -> dict[str, object]:
    body = {"source": source, "params": {"q": ENDLESS}, **extra}
    response = await app.api.post("/api/queries/run", json=body)
    assert response.status_code == 202, response.text
    return await app.until(response.json()["id"])


async def test_a_provider_that_never_ends_stops_at_the_default_cap(capped: App) -> None:
    query = await _run(capped, "demo")
    assert query["status"] == "completed", query
    assert query["pages_fetched"] == DEFAULT and query["max_pages"] == DEFAULT
    assert query["note"] == _note(DEFAULT)
    assert query["records_fetched"] == 20 * DEFAULT
    assert capped.sim.stats.total_requests == DEFAULT  # no page past the cap was asked for
    page = await capped.api.get(f"/queries/{query['id']}")
    assert _note(DEFAULT) in page.text


async def test_a_query_that_ends_on_its_own_at_the_cap_has_no_note(capped: App) -> None:
    query_id = await capped.run(f"short total:{20 * DEFAULT}")
    query = await capped.until(query_id)
    assert query["status"] == "completed" and query["pages_fetched"] == DEFAULT
    assert query["note"] is None


async def test_the_source_file_sets_the_cap_and_a_query_overrides_it(capped: App) -> None:
    from_file = await _run(capped, "endless")
    assert (from_file["status"], from_file["pages_fetched"]) == ("completed", FILE_CAP)
    assert from_file["note"] == _note(FILE_CAP)
    asked = await _run(capped, "endless", max_pages=CEILING)
    assert (asked["status"], asked["pages_fetched"]) == ("completed", CEILING)
    assert asked["note"] == _note(CEILING)


async def test_no_cap_goes_above_the_ceiling(capped: App) -> None:
    greedy = await _run(capped, "greedy")  # its file asks for 50
    assert (greedy["pages_fetched"], greedy["max_pages"]) == (CEILING, CEILING)
    assert greedy["note"] == _note(CEILING)
    for path, params in (("/api/queries/run", {"q": ENDLESS}), ("/api/combos", {"q": ["a"]})):
        body = {"source": "demo", "params": params, "max_pages": CEILING + 1}
        refused = await capped.api.post(path, json=body)
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["detail"]
        assert error["loc"] == ["body", "max_pages"] and f"at most {CEILING}" in error["msg"]
    assert (await capped.api.get("/api/queries")).json()["total"] == 1  # only greedy


async def test_a_query_saved_without_a_cap_gets_one_when_it_starts(capped: App) -> None:
    services = capped.runtime.services
    legacy = await services.store.create("demo", {"q": ENDLESS, "location": ""})
    assert legacy.max_pages is None
    await services.schedule(legacy)
    query = await capped.until(legacy.id)
    assert (query["status"], query["pages_fetched"]) == ("completed", DEFAULT)
    assert query["max_pages"] == DEFAULT and query["note"] == _note(DEFAULT)
