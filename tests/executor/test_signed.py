"""Production (cloud) mode: the executor signs calls and checks response signatures."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pagerunner.executor import Executor, ExecutorConfig
from pagerunner.executor.errors import RegistrationError
from pagerunner.executor.signing import canonical_json

from .conftest import harness
from .sdk_app import build_app

KEY = "signkey-test-" + "ab12" * 16
OTHER_KEY = "signkey-test-" + "cd34" * 16


@pytest.mark.parametrize("transport", ["asgi", "http"])
async def test_signed_app_runs_steps_and_retries(tmp_path: Path, transport: str) -> None:
    async with harness(tmp_path, transport, signing_key=KEY) as h:
        run = await h.finished(await h.send("test/sequential", {"n": 1}))
        assert run["status"] == "Completed" and run["output"] == {"a": 1, "b": 2}
        flaky = await h.finished(await h.send("test/flaky", {"fail_times": 1}))
        assert flaky["status"] == "Completed" and flaky["output"] == 1


async def test_production_app_refuses_unsigned_calls() -> None:
    app, _ = build_app(api_origin="http://127.0.0.1:9", signing_key=KEY)
    body = canonical_json(
        {
            "event": {},
            "events": [],
            "steps": {},
            "use_api": False,
            "ctx": {
                "run_id": "x",
                "attempt": 0,
                "stack": {"stack": []},
                "disable_immediate_execution": False,
            },
        }
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.post(
            "/api/inngest?fnId=testapp-sequential&stepId=step", content=body
        )
    assert response.status_code == 401


async def test_sync_with_the_wrong_key_fails_clearly(tmp_path: Path) -> None:
    app, _ = build_app(api_origin="http://127.0.0.1:9", signing_key=KEY)
    config = ExecutorConfig(db_url=str(tmp_path / "x.db"), signing_key=OTHER_KEY)
    executor = Executor(config, asgi_apps={"http://app.internal": app})
    await executor.start()
    try:
        with pytest.raises(RegistrationError, match="401"):
            await executor.sync_app("http://app.internal/api/inngest")
    finally:
        await executor.stop()
