"""Served with a token, the app and the embedded executor speak the signed protocol.

Nothing reaches the function or the executor's intake without the keys that
`signed_mode_keys` derives from the token: not an unsigned call to
`/api/inngest`, not an unsigned sync, not a registration or an event with a
guessed key.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerunner.executor.signing import canonical_json, sign
from pagerunner.settings import signed_mode_keys
from tests.conftest import free_port

from .conftest import App, fast_settings, running_app
from .test_processes import start

TOKEN = "signed-mode-token"
KEYS = signed_mode_keys(TOKEN)
BEARER = {"authorization": f"Bearer {TOKEN}"}
FN = "pagerunner-execute-query"


@pytest.fixture
async def signed(tmp_path: Path) -> Any:
    async with running_app(fast_settings(str(tmp_path / "p.db"), api_token=TOKEN)) as app:
        yield app


def _call_body(query_id: str) -> dict[str, Any]:
    event = {"name": "query/execute.requested", "data": {"queryId": query_id}, "id": "x", "ts": 1}
    return {
        "event": event,
        "events": [event],
        "steps": {},
        "ctx": {
            "run_id": "01CALLERCHOSENRUNID0000000",
            "attempt": 0,
            "disable_immediate_execution": False,
            "stack": {"stack": []},
        },
        "version": 1,
        "use_api": False,
    }


def _no_internals(response: httpx.Response) -> None:
    for marker in ("Traceback", 'File "', ".py", "/work/", "site-packages"):
        assert marker not in response.text, response.text


async def _pending_query(app: App) -> str:
    query = await app.runtime.services.store.create("demo", {"q": "coffee"})
    return query.id


async def test_keys_are_derived_from_the_token_and_kept_out_of_sight() -> None:
    other = signed_mode_keys("another-token")
    assert KEYS.signing_key.startswith("signkey-prod-") and len(KEYS.signing_key) == 13 + 64
    assert signed_mode_keys(TOKEN) == KEYS  # a separate executor derives the same keys
    assert other.signing_key != KEYS.signing_key and other.event_key != KEYS.event_key
    assert TOKEN not in KEYS.signing_key + KEYS.event_key
    settings = fast_settings("x.db", api_token=TOKEN)
    assert KEYS.signing_key not in repr(settings) and KEYS.event_key not in repr(settings)


@contextlib.asynccontextmanager
async def _entrance(app: App, which: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP, or the engine app the embedded executor calls in process."""
    if which == "http":
        yield app.api
        return
    transport = httpx.ASGITransport(app=app.runtime.app.state.engine_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


@pytest.mark.parametrize("which", ["http", "in-process"])
@pytest.mark.parametrize("signature", [None, "wrong"])
async def test_an_unsigned_or_wrongly_signed_call_runs_nothing(
    signed: App, signature: str | None, which: str
) -> None:
    query_id = await _pending_query(signed)
    body = canonical_json(_call_body(query_id))
    headers = {"content-type": "application/json"}
    if signature == "wrong":
        headers["x-inngest-signature"] = sign(body, "signkey-prod-" + "ab" * 32)
    async with _entrance(signed, which) as client:
        response = await client.post(
            "/api/inngest", params={"fnId": FN, "stepId": "step"}, content=body, headers=headers
        )
        # The engine app serves the protocol and nothing else.
        assert (await client.get("/api/queries", headers=BEARER)).status_code == (
            200 if which == "http" else 404
        )
    assert response.status_code == 401
    _no_internals(response)
    query = (await signed.api.get(f"/api/queries/{query_id}", headers=BEARER)).json()
    assert query["status"] == "pending" and query["run_id"] is None


async def test_a_correctly_signed_call_is_accepted(signed: App) -> None:
    """The control for the test above: the same call signed with the derived key runs."""
    query_id = await _pending_query(signed)
    body = canonical_json(_call_body(query_id))
    response = await signed.api.post(
        "/api/inngest",
        params={"fnId": FN, "stepId": "step"},
        content=body,
        headers={
            "content-type": "application/json",
            "x-inngest-signature": sign(body, KEYS.signing_key),
        },
    )
    assert response.status_code == 206, response.text
    assert json.loads(response.content)[0]["op"] in ("StepRun", "Step")


async def test_an_unsigned_put_never_syncs(signed: App) -> None:
    before = (await signed.executor_api.get("/v1/apps", headers=BEARER)).json()["data"]
    assert [app["name"] for app in before] == ["pagerunner"]
    response = await signed.api.put("/api/inngest")
    assert response.status_code == 401
    _no_internals(response)
    after = (await signed.executor_api.get("/v1/apps", headers=BEARER)).json()["data"]
    assert after[0]["synced_at"] == before[0]["synced_at"]
    # The executor's own, signed sync still works.
    synced = await signed.executor_api.post("/v1/apps/pagerunner/sync", headers=BEARER)
    assert synced.status_code == 200, synced.text


async def test_the_executor_refuses_unsigned_registration_and_unknown_event_keys(
    signed: App,
) -> None:
    registration = {
        "appname": "intruder",
        "url": "http://127.0.0.1:1/api/inngest",
        "functions": [],
        "framework": "fastapi",
        "sdk": "py:v0.5",
        "v": "0.1",
    }
    unsigned = await signed.executor_api.post("/fn/register", json=registration)
    assert unsigned.status_code == 401
    forged = await signed.executor_api.post(
        "/fn/register", json=registration, headers={"authorization": "Bearer " + "0" * 64}
    )
    assert forged.status_code == 401
    apps = (await signed.executor_api.get("/v1/apps", headers=BEARER)).json()["data"]
    assert [app["name"] for app in apps] == ["pagerunner"]
    event = {"name": "anything/at.all", "data": {}}
    for key in ("any-key", "test", TOKEN):
        refused = await signed.executor_api.post(f"/e/{key}", json=event)
        assert refused.status_code == 401
    accepted = await signed.executor_api.post(f"/e/{KEYS.event_key}", json=event)
    assert accepted.status_code == 200 and len(accepted.json()["ids"]) == 1


async def test_queries_run_signed_end_to_end(signed: App) -> None:
    signed.api.headers.update(BEARER)
    query_id = await signed.run("tea total:30")
    query = await signed.until(query_id)
    assert query["status"] == "completed" and query["records_inserted"] == 30
    assert (await signed.executor_api.get("/dev", headers=BEARER)).status_code == 200


async def test_an_executor_in_another_process_derives_the_same_keys(tmp_path: Path) -> None:
    """`pagerunner executor` and `serve` (PAGERUNNER_EXECUTOR_URL), closed by one token."""
    executor_port = free_port()
    settings = fast_settings(
        str(tmp_path / "p.db"),
        api_token=TOKEN,
        executor_url=f"http://127.0.0.1:{executor_port}",
    )
    async with running_app(settings) as app:
        assert app.runtime.executor is None  # nothing embedded: the other process runs it
        executor = await start(
            [
                "executor",
                "--port",
                str(executor_port),
                "--db",
                str(tmp_path / "exec.db"),
                "-u",
                f"{settings.app_origin}/api/inngest",
            ],
            {"PAGERUNNER_API_TOKEN": TOKEN},
            f"http://127.0.0.1:{executor_port}/healthz",
        )
        try:
            app.api.headers.update(BEARER)
            query = await app.until(await app.run("tea total:15"), timeout_s=30)
            assert query["status"] == "completed" and query["records_inserted"] == 15
            registration = await app.executor_api.post("/fn/register", json={"appname": "x"})
            assert registration.status_code == 401
        finally:
            executor.terminate()
            await executor.wait()
