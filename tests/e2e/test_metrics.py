"""`/metrics` and `/readyz` of the app and the executor, over real HTTP.

The metrics are parsed with prometheus-client's own parser, as Prometheus would
read them; the figures are compared with what the API says about the query.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pagerunner.executor import ExecutorConfig, running_executor
from pagerunner.simulator import Fault
from tests.conftest import free_port
from tests.postgres import fresh_database

from .conftest import fast_settings, running_app

DOCS = Path(__file__).parents[2] / "docs"
TOKEN = "metrics-token"
DEMO = "env:PAGERUNNER_DEMO_API_KEY"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text answer: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def documented() -> set[str]:
    """The metrics docs/operations.md lists, by family name (a counter without `_total`)."""
    rows = re.findall(r"^\| `(pagerunner_\w+)` \|", (DOCS / "operations.md").read_text(), re.M)
    return {name.removesuffix("_total") for name in rows}


def base_name(name: str) -> str:
    """A sample's family: `x_total`, `x_bucket`, `x_count`, `x_sum`, `x_created` are `x`."""
    suffixes = ("_total", "_created", "_bucket", "_count", "_sum")
    return next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)


def families(samples: Samples) -> set[str]:
    """The pagerunner families a scrape exposed."""
    return {base_name(name) for name, _ in samples if name.startswith("pagerunner_")}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def scrape_until(
    client: httpx.AsyncClient, done: Callable[[Samples], bool], timeout_s: float = 10
) -> Samples:
    """Scrape until `done` holds (a run ends a moment after its query's last step)."""
    for _ in range(int(timeout_s / 0.05)):
        samples = await scrape(client)
        if done(samples):
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {samples}")


async def test_metrics_match_a_finished_query_and_its_runs(tmp_path: Path) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"), demo_daily_budget=1000)) as app:
        # After page 1: a 500, a dropped connection, then a 429 that asks to wait 0 s.
        for kind in ("server_error", "drop", "rate_limit"):
            app.sim.add_fault(Fault(kind=kind, times=1, after=1, status=500, retry_after_s=0))
        query_id = await app.run("coffee total:45")
        query = await app.until(query_id)
        assert query["status"] == "completed"
        samples = await scrape(app.api)
        text = (await app.api.get("/metrics")).text
        executor = await scrape_until(
            app.executor_api, lambda e: value(e, "pagerunner_executor_runs", status="Running") == 0
        )

    assert value(samples, "pagerunner_pages_fetched_total", source="demo") == 3
    assert query["pages_fetched"] == 3
    assert value(samples, "pagerunner_records_fetched_total", source="demo") == 45
    assert value(samples, "pagerunner_records_new_total", source="demo") == 45
    assert query["records_fetched"] == query["records_inserted"] == 45
    statuses = {"pending", "running", "paused", "completed", "failed", "cancelled"}
    assert {s: value(samples, "pagerunner_queries", status=s) for s in statuses} == {
        s: float(s == "completed") for s in statuses
    }
    answers = {
        code: value(samples, "pagerunner_provider_responses_total", source="demo", code=code)
        for code in ("200", "500", "429", "none")
    }
    assert answers == {"200": 3, "500": 1, "429": 1, "none": 1}
    assert value(samples, "pagerunner_provider_request_duration_seconds_count", source="demo") == 6
    assert value(samples, "pagerunner_rate_limited_total", credential=DEMO, action="wait") == 1
    backoffs = "pagerunner_credential_backoffs_total"
    assert value(samples, backoffs, credential=DEMO, reason="rate_limited") == 1
    # Every request sent was counted against the credential's budget, by its id.
    assert value(samples, "pagerunner_credential_requests", credential=DEMO, period="day") == 6
    assert value(samples, "pagerunner_credential_budget", credential=DEMO, period="day") == 1000
    assert value(samples, "pagerunner_database_up") == 1
    assert "demo-key" not in text  # the credential's value never, only its id

    assert {
        s: value(executor, "pagerunner_executor_runs", status=s)
        for s in ("Running", "Completed", "Failed", "Cancelled")
    } == {"Running": 0, "Completed": 1, "Failed": 0, "Cancelled": 0}
    steps = "pagerunner_executor_step_duration_seconds_count"
    fn = "pagerunner-execute-query"
    assert value(executor, steps, function=fn, outcome="completed") == 1  # the run's last call
    # At least start, three pages, the failed and the rate-limited attempts, complete.
    assert total(executor, steps, function=fn) >= 7
    waits = "pagerunner_executor_queue_wait_seconds_count"
    assert value(executor, waits, function=fn) == total(executor, steps, function=fn)
    assert value(executor, "pagerunner_executor_queue_jobs", state="due") == 0
    assert value(executor, "pagerunner_executor_leader") == 1
    assert value(executor, "pagerunner_executor_database_up") == 1
    assert value(executor, "pagerunner_executor_calls", state="waiting") == 0
    assert 8 <= value(executor, "pagerunner_executor_calls_limit") <= 32
    assert families(samples) | families(executor) == documented()


async def test_a_page_step_waiting_out_its_delay_shows_as_a_waiting_call(tmp_path: Path) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"), page_delay_s=0.5)) as app:
        query_id = await app.run("coffee total:80")
        calls = "pagerunner_executor_calls"
        during = await scrape_until(app.executor_api, lambda e: value(e, calls, state="waiting"))
        assert value(during, calls, state="waiting") == 1  # one query: one call waits its delay
        await app.until(query_id)
        after = await scrape_until(
            app.executor_api, lambda e: value(e, calls, state="running") == 0
        )
        assert value(after, calls, state="waiting") == 0


def test_the_grafana_dashboard_uses_only_documented_metrics() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {base_name(m) for e in exprs for m in re.findall(r"pagerunner_\w+", e)}
    assert used and used <= documented()


async def test_a_paused_query_shows_in_the_figures_read_at_scrape_time(tmp_path: Path) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"))) as app:
        app.sim.add_fault(Fault(kind="rate_limit", times=1, after=1, retry_after_s=600))
        query = await app.until(await app.run("coffee total:45"))
        samples = await scrape(app.api)
        # The run plans its sleep until the reset right after the page step paused the query.
        executor = await scrape_until(
            app.executor_api, lambda e: value(e, "pagerunner_executor_queue_jobs", state="later")
        )

    # Paused until the provider's window resets; its run sleeps until then to resume it.
    assert query["status"] == "paused"
    assert value(samples, "pagerunner_queries", status="paused") == 1
    assert value(samples, "pagerunner_rate_limited_total", credential=DEMO, action="pause") == 1
    backoff = value(samples, "pagerunner_credential_backoff_seconds", credential=DEMO)
    assert 590 < backoff <= 600
    assert value(executor, "pagerunner_executor_runs", status="Running") == 1
    assert value(executor, "pagerunner_executor_queue_jobs", state="later") == 1
    assert value(executor, "pagerunner_executor_queue_oldest_due_seconds") < 5


async def test_two_apps_in_one_process_keep_their_own_figures(tmp_path: Path) -> None:
    async with (
        running_app(fast_settings(str(tmp_path / "a.db"))) as first,
        running_app(fast_settings(str(tmp_path / "b.db"))) as second,
    ):
        assert (await first.until(await first.run("tea total:25")))["status"] == "completed"
        ones, others = await scrape(first.api), await scrape(second.api)
    assert value(ones, "pagerunner_pages_fetched_total", source="demo") == 2
    assert ("pagerunner_pages_fetched_total", frozenset({("source", "demo")})) not in others
    assert value(others, "pagerunner_queries", status="completed") == 0


async def test_with_a_token_metrics_need_it_and_readiness_does_not(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), api_token=TOKEN)
    bearer = {"authorization": f"Bearer {TOKEN}"}
    async with running_app(settings) as app:
        for client in (app.api, app.executor_api):
            assert (await client.get("/metrics")).status_code == 401
            wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert await scrape(client, **bearer)
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            assert TOKEN not in ready.text and str(tmp_path) not in ready.text
        assert set((await app.api.get("/readyz")).json()["checks"]) == {"database", "executor"}


@contextlib.asynccontextmanager
async def executor_on(port: int, db: Path, app_origin: str) -> AsyncIterator[None]:
    config = ExecutorConfig(db_url=str(db), app_urls=(f"{app_origin}/api/inngest",))
    async with running_executor(config, port=port):
        yield


async def test_readiness_fails_while_a_remote_executor_is_down(tmp_path: Path) -> None:
    port = free_port()
    settings = fast_settings(str(tmp_path / "app.db"), executor_url=f"http://127.0.0.1:{port}")
    async with running_app(settings) as app:
        down = await app.api.get("/readyz")
        async with executor_on(port, tmp_path / "executor.db", settings.app_origin):
            up = await app.api.get("/readyz")
            query = await app.until(await app.run("tea total:25"))

    assert down.status_code == 503
    checks = down.json()["checks"]
    assert checks["database"]["ok"] is True and checks["executor"]["ok"] is False
    assert "did not answer" in checks["executor"]["detail"]
    assert str(port) not in down.text  # no address in a public answer
    assert up.status_code == 200 and up.json()["ready"] is True
    assert query["status"] == "completed"


@pytest.mark.postgres
async def test_readiness_fails_while_the_database_refuses_connections(
    postgres_server_url: str,
) -> None:
    url = fresh_database(postgres_server_url)
    name = url.rsplit("/", 1)[1]
    async with running_app(fast_settings(url)) as app:
        before = [await client.get("/readyz") for client in (app.api, app.executor_api)]
        _connections(postgres_server_url, name, allow=False)
        try:
            during = [await client.get("/readyz") for client in (app.api, app.executor_api)]
            samples = await scrape(app.api)
        finally:
            _connections(postgres_server_url, name, allow=True)
        after = [await client.get("/readyz") for client in (app.api, app.executor_api)]

    assert [r.status_code for r in before] == [200, 200]
    assert [r.status_code for r in during] == [503, 503]
    for answer in during:
        database = answer.json()["checks"]["database"]
        assert database["ok"] is False and database["detail"] == "failed (StoreError)"
        assert name not in answer.text and "127.0.0.1" not in answer.text
    assert value(samples, "pagerunner_database_up") == 0  # the scrape still answers
    assert [r.status_code for r in after] == [200, 200]


def _connections(server_url: str, database: str, *, allow: bool) -> None:
    """Let the database take connections again, or refuse them and close those it has."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )
