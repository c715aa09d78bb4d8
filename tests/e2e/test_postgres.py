"""The whole flow on PostgreSQL: app tables and executor state in one PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pagerunner.simulator import Fault
from tests.postgres import fresh_database

from .conftest import App, fast_settings, running_app

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_app(postgres_server_url: str) -> AsyncIterator[App]:
    async with running_app(fast_settings(fresh_database(postgres_server_url))) as value:
        yield value


async def test_query_pause_resume_on_postgres(pg_app: App) -> None:
    app = pg_app
    app.sim.add_fault(Fault(kind="rate_limit", times=1, after=2, retry_after_s=600))
    app.sim.add_fault(Fault(kind="server_error", times=1, after=4))
    query_id = await app.run("postgres total:130", "Oslo")
    assert (await app.until(query_id))["status"] == "paused"
    await app.api.post(f"/api/queries/{query_id}/resume")
    done = await app.until(query_id, {"completed", "failed"})
    assert done["status"] == "completed" and done["records_inserted"] == 130
    assert await app.record_ids(query_id) == app.expected_ids("postgres total:130", "Oslo")
    again = await app.run("postgres total:130", "Oslo")
    assert (await app.until(again))["records_inserted"] == 0
