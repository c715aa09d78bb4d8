"""App and executor as separate processes, the executor started first and killed mid-combo."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

from .conftest import process_env
from .test_processes import EXPECTED, all_record_ids, query_until, start

QS = [f"{name} total:100" for name in ("alpha", "bravo", "charlie", "delta", "echo")]
LOCATIONS = ["Reno", "Austin", "Boise", "Tulsa"]
KILL_AFTER_PAGES = (10, 50)  # of 100

pytestmark = pytest.mark.slow


async def test_executor_first_then_app_then_sigkill_mid_combo_loses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    rng = random.Random()
    app_port, exec_port = free_port(), free_port()
    app_origin, exec_origin = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{exec_port}"
    executor_args = [
        "executor",
        "--port",
        str(exec_port),
        "--db",
        str(tmp_path / "executor.db"),
        "-u",
        f"{app_origin}/api/inngest",
        "--log-level",
        "warning",
    ]
    app_env = {
        **process_env(
            tmp_path / "app.db",
            port=app_port,
            page_delay_s="0.05",
            retry_base_s="0.05",
            log_level="warning",
        ),
        "INNGEST_DEV": exec_origin,
    }
    executor = await start(executor_args, {}, f"{exec_origin}/healthz")
    app = None
    try:
        async with httpx.AsyncClient(base_url=exec_origin) as ex:
            awaited = (await ex.get("/v1/apps")).json()["data"]
            too_early = await ex.post("/v1/apps/pagerunner/sync")
        app = await start(["serve"], app_env, f"{app_origin}/healthz")
        async with httpx.AsyncClient(base_url=app_origin) as api:
            body = {"source": "demo", "params": {"q": QS, "location": LOCATIONS}}
            combo = await api.post("/api/combos", json=body)
            assert combo.status_code == 202, combo.text
            query_ids = combo.json()["query_ids"]
            for pages in KILL_AFTER_PAGES:
                progress = await pages_fetched(api, query_ids, at_least=pages)
                await asyncio.sleep(rng.uniform(0, 0.3))
                executor.kill()  # SIGKILL: no cleanup, calls in flight are cut
                assert progress < len(query_ids) * 5, "the kill came after the combo ended"
                await executor.wait()
                executor = await start(executor_args, {}, f"{exec_origin}/healthz")
            done = [await query_until(api, q, {"completed", "failed", "paused"}) for q in query_ids]
            ids = {q: await all_record_ids(api, q) for q in query_ids}
        async with httpx.AsyncClient(base_url=exec_origin) as ex:
            synced = (await ex.post("/v1/apps/pagerunner/sync")).status_code
    finally:
        for proc in (executor, app):
            if proc is not None:
                proc.kill()
                await proc.wait()

    assert [(a["url"], a["reached"]) for a in awaited] == [(f"{app_origin}/api/inngest", False)]
    assert too_early.status_code == 404
    assert synced == 200
    assert len(query_ids) == len(QS) * len(LOCATIONS)
    assert [q["status"] for q in done] == ["completed"] * len(query_ids)
    for query in done:
        q, location = query["params"]["q"], query["params"]["location"]
        expected = [r["id"] for r in EXPECTED.expected_records(q, location)]
        assert ids[query["id"]] == expected, (q, location)  # nothing lost, nothing twice
        assert query["records_fetched"] == 100 and query["pages_fetched"] == 5


async def pages_fetched(api: httpx.AsyncClient, query_ids: list[str], *, at_least: int) -> int:
    """Wait until the combo has fetched `at_least` pages; how many it has."""
    for _ in range(600):
        queries = [(await api.get(f"/api/queries/{q}")).json() for q in query_ids]
        total = sum(q["pages_fetched"] for q in queries)
        if total >= at_least:
            return total
        await asyncio.sleep(0.05)
    raise AssertionError(f"the combo is stuck at {total} pages")
