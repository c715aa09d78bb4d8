"""`pagerunner sources list|check`: credentials shown by variable name, secrets never printed."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from typer.testing import CliRunner

from pagerunner.cli import app
from pagerunner.executor import serve_http
from tests.conftest import free_port

SECRET = "sk-live-very-secret-value"


def source_file(folder: Path, url: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "echoing.toml").write_text(
        textwrap.dedent(
            f"""
            description = "A provider that echoes the key back"
            [params.q]
            help = "search text"
            required = true
            [request]
            url = "{url}"
            query = {{ q = "{{q}}" }}
            [auth]
            type = "api_key"
            in = "query"
            name = "api_key"
            env = "ECHO_KEY"
            [pagination]
            type = "page_number"
            has_more_path = "more"
            [records]
            path = "items"
            key = "id"
            [limits]
            remaining_header = "x-ratelimit-remaining"
            """
        )
    )


def invoke(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, args, env={"PAGERUNNER_SOURCE_PRESETS": "false", **env})


def test_list_shows_the_variable_and_whether_it_is_set(tmp_path: Path) -> None:
    source_file(tmp_path / "sources", "https://api.test/search")
    env = {"PAGERUNNER_SOURCES_DIR": str(tmp_path / "sources"), "ECHO_KEY": SECRET}
    result = invoke(["sources", "list"], env)
    assert result.exit_code == 0, result.output
    assert "echoing" in result.output and "ECHO_KEY: set" in result.output
    assert "q (required): search text" in result.output
    assert SECRET not in result.output
    unset = invoke(["sources", "list"], {**env, "ECHO_KEY": ""})
    assert "ECHO_KEY: not set" in unset.output


def test_an_invalid_file_is_reported_with_file_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "sources"
    source_file(folder, "https://api.test/search")
    path = folder / "echoing.toml"
    path.write_text(path.read_text().replace('"page_number"', '"pages"'))
    result = invoke(["sources", "list"], {"PAGERUNNER_SOURCES_DIR": str(folder)})
    assert result.exit_code == 2
    assert "echoing.toml: pagination.type: unknown strategy 'pages'" in result.output


async def test_check_makes_one_request_and_redacts_secrets(tmp_path: Path) -> None:
    provider = FastAPI()
    calls: list[str] = []

    @provider.get("/search")
    async def search(request: Request) -> Any:
        calls.append(str(request.url))
        key = request.query_params.get("api_key", "")
        if key != SECRET:
            return JSONResponse({"error": f"Invalid key {key}"}, status_code=401)
        body = {"items": [{"id": "a1", "name": "Cafe", "echo": key}], "more": True}
        return JSONResponse(body, headers={"x-ratelimit-remaining": "99"})

    port = free_port()
    source_file(tmp_path / "sources", f"http://127.0.0.1:{port}/search")
    env = {"PAGERUNNER_SOURCES_DIR": str(tmp_path / "sources"), "ECHO_KEY": SECRET}
    async with serve_http(provider, host="127.0.0.1", port=port):
        ok = await asyncio.to_thread(invoke, ["sources", "check", "echoing", "-p", "q=x"], env)
        wrong_env = {**env, "ECHO_KEY": "sk-wrong-secret-key"}
        wrong = await asyncio.to_thread(
            invoke, ["sources", "check", "echoing", "-p", "q=x"], wrong_env
        )
        missing = await asyncio.to_thread(invoke, ["sources", "check", "echoing"], env)
    assert ok.exit_code == 0, ok.output
    assert len(calls) == 2  # one per check with valid params
    for text in ("HTTP 200", "records:      1", "first key:    a1", "remaining=99", "page 2"):
        assert text in ok.output
    assert SECRET not in ok.output and "[redacted]" in ok.output
    assert wrong.exit_code == 1
    assert "invalid_credentials: Invalid key [redacted] (HTTP 401)" in wrong.output
    assert "sk-wrong-secret-key" not in wrong.output
    assert missing.exit_code == 1 and "params.q: required" in missing.output
