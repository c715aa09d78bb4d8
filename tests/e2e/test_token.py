"""`PAGERUNNER_API_TOKEN`: the whole runtime behind a token, the CLI client, and `serve`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from pagerunner.remote import ApiClient, ApiError
from pagerunner.settings import Settings
from tests.conftest import free_port

from .conftest import fast_settings, process_env, running_app
from .test_cli import cli

TOKEN = "e2e-token"


async def test_with_a_token_queries_run_and_only_token_holders_see_them(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), api_token=TOKEN)
    async with running_app(settings) as app:
        body = {"source": "demo", "params": {"q": "coffee total:45"}}
        refused = await app.api.post("/api/queries/run", json=body)
        assert refused.status_code == 401
        async with ApiClient(settings.app_origin, token=TOKEN) as api:
            created = await api.request("POST", "/api/queries/run", json=body)
            for _ in range(400):
                query = await api.request("GET", f"/api/queries/{created['id']}")
                if query["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
            assert query["status"] == "completed" and query["records_inserted"] == 45
        async with ApiClient(settings.app_origin) as anonymous:
            with pytest.raises(ApiError, match="PAGERUNNER_API_TOKEN"):
                await anonymous.request("GET", "/api/queries")
        async with ApiClient(settings.app_origin, token="wrong") as wrong:
            with pytest.raises(ApiError, match="401"):
                await wrong.request("GET", "/api/queries")
        async with httpx.AsyncClient(base_url=settings.app_origin) as browser:
            page = await browser.get("/", headers={"accept": "text/html"})
            assert page.status_code == 303 and page.headers["location"] == "/login?next=/"


def test_the_cli_sends_the_token_from_the_environment(tmp_path: Path) -> None:
    env = process_env(tmp_path / "p.db", page_delay_s="0", api_token=TOKEN)
    result = cli("run", "demo", "-p", "q=tea total:25", env=env)
    assert result.returncode == 0, result.stderr
    assert "completed: 2 pages, 25 new records" in result.stderr


def test_serve_refuses_to_bind_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PAGERUNNER_API_TOKEN"}
    env["PAGERUNNER_DB"] = str(tmp_path / "p.db")
    result = cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert "refusing to bind to 0.0.0.0 without an API token" in result.stderr
    assert "PAGERUNNER_API_TOKEN" in result.stderr
    assert not (tmp_path / "p.db").exists()  # nothing was started


@pytest.mark.parametrize(
    ("host", "token", "allowed"),
    [
        ("127.0.0.1", None, True),
        ("127.0.0.2", None, True),
        ("localhost", None, True),
        ("::1", None, True),
        ("0.0.0.0", None, False),
        ("192.168.1.20", None, False),
        ("example.internal", None, False),
        ("0.0.0.0", "", False),
        ("0.0.0.0", TOKEN, True),
    ],
)
def test_which_binds_need_a_token(host: str, token: str | None, allowed: bool) -> None:
    settings = Settings(host=host, api_token=token)
    if allowed:
        settings.check_exposure()
    else:
        with pytest.raises(ValueError, match="PAGERUNNER_API_TOKEN"):
            settings.check_exposure()
