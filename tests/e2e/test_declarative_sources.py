"""A source defined in a file runs through the whole durable loop like the built-in demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import fast_settings, running_app


async def test_the_example_preset_fetches_every_page_of_the_simulated_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERUNNER_DEMO_API_KEY", "demo-key")
    settings = fast_settings(str(tmp_path / "pagerunner.db"))
    settings = settings.model_copy(
        update={"source_origins": {"demo-declarative": settings.demo_origin}}
    )
    async with running_app(settings) as app:
        body = {"source": "demo-declarative", "params": {"q": "coffee total:45"}}
        response = await app.api.post("/api/queries/run", json=body)
        assert response.status_code == 202, response.text
        query = await app.until(response.json()["id"])
        assert query["status"] == "completed", query
        assert query["pages_fetched"] == 3 and query["records_inserted"] == 45
        assert sorted(await app.record_ids(query["id"])) == sorted(
            app.expected_ids("coffee total:45")
        )


async def test_a_file_source_with_a_bad_key_fails_with_the_providers_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERUNNER_DEMO_API_KEY", "wrong-key")  # what the file source sends
    settings = fast_settings(str(tmp_path / "pagerunner.db"), demo_api_key="demo-key")
    settings = settings.model_copy(
        update={"source_origins": {"demo-declarative": settings.demo_origin}}
    )
    async with running_app(settings) as app:
        body = {"source": "demo-declarative", "params": {"q": "coffee"}}
        response = await app.api.post("/api/queries/run", json=body)
        query = await app.until(response.json()["id"])
        assert query["status"] == "failed"
        assert query["error_code"] == "invalid_credentials"
        assert query["error_message"].startswith("Invalid API key.")
        assert "wrong-key" not in str(query)
