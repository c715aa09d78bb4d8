"""A schedule's webhook and destination end to end: each tick's combo calls the webhook
once when all its queries have finished, and loads each completed query into the
destination, by the combo mechanisms (the cron clock is a `FakeClock`; the receiver
and the DuckDB file are real)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pagerunner.functions import EXECUTE_EVENT, PRIORITY_COMBO_S

from .test_cli import acli
from .test_destinations import duck_keys, loads_done
from .test_schedules import Scheduled, scheduled_app
from .test_webhooks import SECRET, receiving


@pytest.fixture
async def s(tmp_path: Path) -> AsyncIterator[Scheduled]:
    async with scheduled_app(
        tmp_path,
        webhook_allow_private=True,
        webhook_secret=SECRET,
        delivery_dir=tmp_path / "out",
        data_dir=tmp_path / "data",
    ) as value:
        yield value


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Scheduled]:
    """Private webhook addresses refused, no folder for files: the defaults."""
    async with scheduled_app(tmp_path) as value:
        yield value


async def members(s: Scheduled, tick: dict[str, Any]) -> list[str]:
    combo = (await s.app.api.get(f"/api/combos/{tick['combo_id']}")).json()
    return [q["id"] for q in combo["queries"]]


async def test_each_tick_calls_the_webhook_once_when_its_combo_has_finished(
    s: Scheduled,
) -> None:
    async with receiving() as receiver:
        params = {"q": ["coffee total:30", "tea total:50"]}
        schedule = await s.create(params=params, webhook=receiver.url)
        assert schedule["webhook"] == receiver.url and schedule["deliver"] is None
        shown = (await s.app.api.get(f"/api/schedules/{schedule['id']}")).json()
        assert shown["webhook"] == receiver.url

        await s.minute(1)
        first = await s.tick(schedule["id"], 1)
        assert first["status"] == "completed"
        (call,) = await receiver.until_calls(1)
        await asyncio.sleep(0.5)
        assert len(receiver.calls) == 1  # once for the combo, not once per query
        assert call.signed and call.json["type"] == "combo.finished"
        assert call.json["combo"]["id"] == first["combo_id"]
        assert call.json["combo"]["by_status"] == {"completed": 2}
        assert call.json["combo"]["records_fetched"] == 80
        combo = (await s.app.api.get(f"/api/combos/{first['combo_id']}")).json()
        assert combo["webhook"] == receiver.url
        assert [d["status"] for d in combo["webhook_deliveries"]] == ["delivered"]

        await s.minute(2)
        second = await s.tick(schedule["id"], 2)
        _, again = await receiver.until_calls(2)
        assert again.json["combo"]["id"] == second["combo_id"] != first["combo_id"]
        await asyncio.sleep(0.5)
        assert len(receiver.calls) == 2


async def test_a_tick_sends_its_queries_with_the_combo_priority(s: Scheduled) -> None:
    schedule = await s.create(params={"q": ["a total:10", "b total:10"]})
    await s.minute(1)
    tick = await s.tick(schedule["id"], 1)
    listed = await s.app.executor_api.get("/v1/events", params={"limit": 500})
    sent = {
        e["data"]["queryId"]: e["data"]["priority"]
        for e in listed.json()["data"]
        if e["name"] == EXECUTE_EVENT
    }
    ids = await members(s, tick)
    assert len(ids) == 2 and {sent[i] for i in ids} == {PRIORITY_COMBO_S}


async def test_each_query_of_a_tick_is_loaded_into_the_destination(
    s: Scheduled, tmp_path: Path
) -> None:
    deliver = {"destination": "duckdb:///ticks.duckdb"}
    params = {"q": ["coffee total:30", "tea total:20"]}
    schedule = await s.create(params=params, deliver=deliver)
    assert schedule["deliver"] == deliver
    assert (await s.app.api.get(f"/api/schedules/{schedule['id']}")).json()["deliver"] == deliver
    expected = s.app.expected_ids("coffee total:30") + s.app.expected_ids("tea total:20")

    for minute in (1, 2):  # the second tick finds the same records: merged, still once each
        await s.minute(minute)
        tick = await s.tick(schedule["id"], minute)
        assert tick["status"] == "completed"
        combo = (await s.app.api.get(f"/api/combos/{tick['combo_id']}")).json()
        assert combo["deliver"] == deliver
        for query_id in await members(s, tick):
            (load, *_) = (await loads_done(s.app, query_id))["destination_loads"]
            assert load["status"] == "loaded"
        keys = duck_keys(tmp_path / "out" / "ticks.duckdb")
        assert len(keys) == len(set(keys)) and sorted(keys) == sorted(expected)


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"webhook": "http://127.0.0.1:9/hook"}, "webhook", "PAGERUNNER_WEBHOOK_ALLOW_PRIVATE"),
        ({"webhook": "gopher://example.com/x"}, "webhook", "http:// or https://"),
        ({"deliver": {"destination": "ftp://x/y"}}, "deliver.destination", "unknown kind"),
        (
            {"deliver": {"destination": "postgresql://u:hunter2@db.example.com/dwh"}},
            "deliver.destination",
            "no password",
        ),
        ({"deliver": {"destination": "duckdb:///a.duckdb"}}, "deliver.destination", "not set"),
        ({"deliver": {"destination": "x", "password": "y"}}, "deliver.password", ""),
    ],
)
async def test_a_bad_webhook_or_destination_is_a_422_naming_the_field(
    strict: Scheduled, extra: dict[str, Any], field: str, words: str
) -> None:
    body = {"source": "demo", "params": {"q": "x"}, "cron": "0 9 * * *", **extra}
    response = await strict.app.api.post("/api/schedules", json=body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", *field.split(".")], error
    assert words in error["msg"]
    assert "hunter2" not in response.text
    assert (await strict.app.api.get("/api/schedules")).json()["total"] == 0


async def test_the_command_line_passes_a_webhook_and_a_destination(s: Scheduled) -> None:
    api = ["--api-url", str(s.app.api.base_url).rstrip("/")]
    create = ["schedules", "create", "demo", "--cron", "0 9 * * *", "-p", "q=x", *api]
    hook, spec = "http://127.0.0.1:9/hook", "duckdb:///cli.duckdb"
    made = await acli(*create, "--webhook", hook, "--deliver", spec)
    assert made.returncode == 0, made.stderr
    schedule_id = made.stdout.split()[1].rstrip(":")
    stored = (await s.app.api.get(f"/api/schedules/{schedule_id}")).json()
    assert stored["webhook"] == hook and stored["deliver"] == {"destination": spec}
    bad = await acli(*create, "--deliver", "duckdb:///../escape.duckdb")
    assert bad.returncode == 1 and "deliver.destination" in bad.stderr
    assert (await s.app.api.get("/api/schedules")).json()["total"] == 1


async def test_the_form_takes_checks_and_shows_a_webhook_and_a_destination(s: Scheduled) -> None:
    form = (await s.app.api.get("/schedules")).text
    assert 'name="webhook"' in form and 'name="deliver"' in form
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    fields = {"csrf_token": token, "source": "demo", "params": "q=x", "cron": "0 9 * * *"}
    bad = await s.app.api.post("/schedules", data={**fields, "deliver": "duckdb:///../x"})
    assert bad.status_code == 422 and 'id="deliver-error"' in bad.text
    assert "inside PAGERUNNER_DELIVERY_DIR" in bad.text
    bad = await s.app.api.post("/schedules", data={**fields, "webhook": "gopher://x"})
    assert bad.status_code == 422 and 'id="webhook-error"' in bad.text
    hook, spec = "http://127.0.0.1:9/hook", "duckdb:///form.duckdb"
    made = await s.app.api.post("/schedules", data={**fields, "webhook": hook, "deliver": spec})
    assert made.status_code == 303, made.text
    schedule_id = made.headers["location"].rsplit("/", 1)[1]
    stored = (await s.app.api.get(f"/api/schedules/{schedule_id}")).json()
    assert stored["webhook"] == hook and stored["deliver"] == {"destination": spec}
    page = (await s.app.api.get(f"/schedules/{schedule_id}")).text
    assert hook in page and spec in page
