"""The executor's HTTP API: intake, registration and the v1 REST shapes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pagerunner.executor.ids import is_ulid

from .conftest import Harness, harness


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path, "asgi", event_key="test-key") as value:
        yield value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "no events"),
        (b'[{"data": {}}]', "'name' must be a non-empty string"),
        (b'[{"name": "inngest/function.failed"}]', "event name is reserved for internal use"),
        (b'[{"name": "a/b", "data": [1]}]', "'data' must be an object"),
        (b'[{"name": "a/b", "ts": 1700000000}]', "'ts' must be in milliseconds"),
        (b'[{"name": "ok/one"}, 7]', "event 1: must be a JSON object"),
    ],
)
async def test_intake_rejects_bad_events_with_a_message(
    h: Harness, body: bytes, message: str
) -> None:
    response = await h.api.post("/e/test-key", content=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert response.json()["status"] == 400
    listed = (await h.api.get("/v1/events")).json()["data"]
    assert listed == []  # nothing half-stored


async def test_intake_refuses_other_event_keys(h: Harness) -> None:
    response = await h.api.post("/e/wrong", json={"name": "test/sequential"})
    assert response.status_code == 401


async def test_single_event_and_list_both_accepted_with_ulid_ids(h: Harness) -> None:
    one = await h.api.post("/e/test-key", json={"name": "x/one", "data": {}})
    many = await h.api.post("/e/test-key", json=[{"name": "x/a"}, {"name": "x/b"}])
    assert one.status_code == many.status_code == 200
    ids = one.json()["ids"] + many.json()["ids"]
    assert len(ids) == 3 and len(set(ids)) == 3 and all(is_ulid(i) for i in ids)


async def test_retried_send_with_the_same_seed_gives_same_ids_and_one_run(h: Harness) -> None:
    seed = "1700000000000," + base64.b64encode(bytes(range(10))).decode()
    body = [{"name": "test/sequential", "data": {"n": 5}}]
    first = await h.api.post("/e/test-key", json=body, headers={"x-inngest-event-id-seed": seed})
    again = await h.api.post("/e/test-key", json=body, headers={"x-inngest-event-id-seed": seed})
    assert first.json()["ids"] == again.json()["ids"]
    run = await h.finished(first.json()["ids"][0])
    assert run["status"] == "Completed"
    assert len(await h.executor.runs_for_event(first.json()["ids"][0])) == 1


async def test_sdk_send_reaches_functions(h: Harness) -> None:
    import inngest

    client = inngest.Inngest(
        app_id="sender",
        is_production=False,
        event_key="test-key",
        event_api_base_url=str(h.api.base_url),
    )
    ids = await client.send(inngest.Event(name="test/sequential", data={"n": 2}))
    run = await h.finished(ids[0])
    assert run["output"] == {"a": 2, "b": 3}


async def test_register_rejects_malformed_payloads(h: Harness) -> None:
    bad_json = await h.api.post("/fn/register", content=b"nope")
    no_name = await h.api.post("/fn/register", json={"url": "http://x", "functions": []})
    bad_expr = await h.api.post(
        "/fn/register",
        json={
            "appname": "x",
            "url": "http://x/api/inngest",
            "functions": [
                {
                    "id": "x-f",
                    "triggers": [{"event": "a", "expression": "event.data.n >"}],
                    "steps": {"step": {"runtime": {"url": "http://x/api/inngest"}}},
                }
            ],
        },
    )
    assert bad_json.status_code == no_name.status_code == bad_expr.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]
    assert "appname" in no_name.json()["error"]
    assert "function 'x-f'" in bad_expr.json()["error"]
    apps = (await h.api.get("/v1/apps")).json()["data"]
    assert any(a["name"] == "x" and "x-f" in a["error"] for a in apps)


async def test_run_shapes_and_event_runs(h: Harness) -> None:
    event_id = await h.send("test/sequential", {"n": 1})
    run = await h.finished(event_id)
    body = (await h.api.get(f"/v1/runs/{run['id']}")).json()
    assert body["metadata"]["fetched_at"].endswith("Z")
    data = body["data"]
    assert data["run_id"] == run["id"] and data["status"] == "Completed"
    assert data["function_id"] == "testapp-sequential" and data["event_id"] == event_id
    assert data["output"] == {"a": 1, "b": 2}
    assert data["run_started_at"] and data["ended_at"] and data["duration_ms"] >= 0
    by_event = (await h.api.get(f"/v1/events/{event_id}/runs")).json()["data"]
    assert [r["run_id"] for r in by_event] == [run["id"]]
    steps = (await h.api.get(f"/v1/runs/{run['id']}/steps")).json()["data"]
    assert [s["name"] for s in steps] == ["first", "second"]
    assert all(len(s["id"]) == 40 and s["op"] == "StepRun" for s in steps)
    assert steps[1]["output"] == 2 and steps[1]["attempts"][0]["duration_ms"] >= 0


async def test_unknown_ids_are_404(h: Harness) -> None:
    for path in ("/v1/runs/nope", "/v1/runs/nope/steps", "/v1/events/nope/runs"):
        response = await h.api.get(path)
        assert response.status_code == 404 and "not found" in response.json()["error"]
    assert (await h.api.delete("/v1/runs/nope")).status_code == 404
    assert (await h.api.post("/v1/runs/nope/rerun")).status_code == 404


async def test_list_runs_filters_and_pages(h: Harness) -> None:
    done = [await h.finished(await h.send("test/sequential", {"n": i})) for i in range(3)]
    failed = await h.finished(await h.send("test/non-retriable"))
    completed = (await h.api.get("/v1/runs", params={"status": "Completed"})).json()["data"]
    assert {r["run_id"] for r in completed} == {r["id"] for r in done}
    only_failed = (await h.api.get("/v1/runs", params={"status": "Failed"})).json()["data"]
    assert [r["run_id"] for r in only_failed] == [failed["id"]]
    by_fn = await h.api.get("/v1/runs", params={"function_id": "testapp-non-retriable"})
    assert [r["run_id"] for r in by_fn.json()["data"]] == [failed["id"]]
    page1 = (await h.api.get("/v1/runs", params={"limit": 2})).json()
    page2 = await h.api.get(
        "/v1/runs", params={"limit": 2, "cursor": page1["metadata"]["next_cursor"]}
    )
    seen = [r["run_id"] for r in page1["data"] + page2.json()["data"]]
    assert len(seen) == len(set(seen)) == 4
    future = (await h.api.get("/v1/runs", params={"since": "2100-01-01T00:00:00Z"})).json()
    assert future["data"] == []


async def test_list_runs_validates_its_filters(h: Harness) -> None:
    bad_status = await h.api.get("/v1/runs", params={"status": "Sleeping"})
    bad_limit = await h.api.get("/v1/runs", params={"limit": 0})
    bad_time = await h.api.get("/v1/runs", params={"since": "yesterday"})
    for response, field in ((bad_status, "status"), (bad_limit, "limit"), (bad_time, "since")):
        assert response.status_code == 422
        assert field in response.json()["detail"][0]["loc"]


async def test_cancel_and_rerun(h: Harness) -> None:
    event_id = await h.send("test/cancellable", {"id": 9})
    run_id = await h.run_of(event_id)
    cancelled = (await h.api.delete(f"/v1/runs/{run_id}")).json()["data"]
    assert cancelled["status"] == "Cancelled"
    done = await h.finished(await h.send("test/sequential", {"n": 7}))
    rerun = (await h.api.post(f"/v1/runs/{done['id']}/rerun")).json()["data"]
    assert rerun["original_run_id"] == done["id"] and rerun["run_id"] != done["id"]
    second = await h.executor.wait_for_run(rerun["run_id"])
    assert second["output"] == {"a": 7, "b": 8} and second["event_id"] == done["event_id"]


async def test_cancel_emits_function_cancelled_event(h: Harness) -> None:
    run_id = await h.run_of(await h.send("test/cancellable", {"id": 3}))
    await h.api.delete(f"/v1/runs/{run_id}")
    for _ in range(50):
        names = [e["name"] for e in (await h.api.get("/v1/events")).json()["data"]]
        if "inngest/function.cancelled" in names:
            break
        await asyncio.sleep(0.02)
    assert "inngest/function.cancelled" in names and "inngest/function.finished" in names
