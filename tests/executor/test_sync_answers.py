"""App sync: what the SDKs answer to the executor's `PUT` (issue 11, item 4).

The JS SDK answers `{message, modified}` (not `{"ok": true}`) with the `status` it read
from `/fn/register`'s answer; the Python SDK copies that answer, a failed registration
included, with a 200. The repo has no node harness, so the JS side is a stand-in that
does what inngest-js does (`InngestCommHandler.ts`: the `PUT` branch of `handleAction`
and `register()`: POST the config, read `status` (default 200), `error` (default
"Successfully registered") and `modified`, answer the `PUT` with them), over real HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastapi
import httpx
import inngest
import inngest.fast_api
from fastapi.responses import JSONResponse

from pagerunner.executor import ExecutorConfig, running_executor, serve_http
from tests.conftest import free_port

from .conftest import harness
from .sdk_app import Ledger


def js_app(executor_origin: str, app_url: str, expression: str) -> fastapi.FastAPI:
    app = fastapi.FastAPI()
    function = {
        "id": "jsapp-hello",
        "name": "hello",
        "triggers": [{"event": "js/hello", "expression": expression}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "runtime": {"type": "http", "url": f"{app_url}?fnId=jsapp-hello&stepId=step"},
            }
        },
    }

    @app.put("/api/inngest")
    async def sync() -> JSONResponse:
        body = {
            "url": app_url,
            "deployType": "ping",
            "framework": "express",
            "appName": "jsapp",
            "functions": [function],
            "sdk": "js:v3.40.0",
            "v": "0.1",
        }
        async with httpx.AsyncClient() as client:
            res = await client.post(f"{executor_origin}/fn/register", json=body)
        data = res.json()
        status = data.get("status", 200)
        message = data.get("error", "Successfully registered")
        return JSONResponse(
            {"message": message, "modified": data.get("modified", False)},
            status_code=status,
            headers={"x-inngest-sync-kind": "out_of_band", "x-inngest-sdk": "inngest-js:v3.40.0"},
        )

    return app


@contextlib.asynccontextmanager
async def with_js_app(tmp_path: Path, expression: str) -> AsyncIterator[httpx.AsyncClient]:
    port, app_port = free_port(), free_port()
    origin, app_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{app_port}/api/inngest"
    config = ExecutorConfig(db_url=str(tmp_path / "x.db"), app_urls=(app_url,))
    async with (
        serve_http(js_app(origin, app_url, expression), host="127.0.0.1", port=app_port),
        running_executor(config, port=port),
        httpx.AsyncClient(base_url=origin) as api,
    ):
        yield api


async def apps(api: httpx.AsyncClient) -> dict[str, Any]:
    return {a["name"]: a for a in (await api.get("/v1/apps")).json()["data"]}


async def test_the_js_sdks_answer_is_a_sync_that_worked(tmp_path: Path) -> None:
    async with with_js_app(tmp_path, "event.data.n > 1") as api:
        (app,) = (await apps(api)).values()
        assert (app["name"], app["reached"], app["error"]) == ("jsapp", True, None)
        again = await api.post("/v1/apps/jsapp/sync")
        assert again.status_code == 200, again.text
        assert again.json()["data"] == {
            "message": "Successfully registered",
            "modified": False,
            "app_id": "jsapp",
        }
        assert (await apps(api))["jsapp"]["error"] is None


async def test_a_registration_the_js_sdk_reports_as_refused(tmp_path: Path) -> None:
    async with with_js_app(tmp_path, "event.data.n >") as api:
        found = await apps(api)
        error = next(iter(found.values()))["error"]
        assert "(HTTP 400)" in error and "jsapp-hello" in error  # the status it read from us


def broken_python_app(api_origin: str, signing_key: str | None = None) -> Any:
    client = inngest.Inngest(
        app_id="broken", api_base_url=api_origin, event_api_base_url=api_origin, is_production=False
    )

    @client.create_function(
        fn_id="bad", trigger=inngest.TriggerEvent(event="x/y", expression="event.data.n >")
    )
    async def bad(ctx: inngest.Context) -> None:
        return None

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [bad])
    return app, Ledger()


async def test_a_refused_python_registration_is_still_a_failed_sync(tmp_path: Path) -> None:
    """The Python SDK answers the PUT with 200 and the refusal: the body decides."""
    async with harness(tmp_path, "http", build=broken_python_app) as h:
        response = await h.api.post("/v1/apps/broken/sync")
        assert response.status_code == 400
        assert "failed: function 'broken-bad'" in response.json()["error"]
        assert "HTTP 200" not in response.json()["error"]
