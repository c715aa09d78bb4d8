"""A long query in bounded runs: each run stores at most `pages_per_run` pages, then hands over."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from pagerunner import functions
from pagerunner.functions import continue_event
from pagerunner.simulator import Fault

from .conftest import App, fast_settings, running_app


async def chain(app: App, query_id: str) -> list[dict[str, Any]]:
    """The query's runs of execute-query, oldest first, each with its trigger event and its
    step names (a cancel also starts a query-cancelled run, which is not one of them)."""
    runs = await app.runs()  # before the events: a run's event is stored before the run
    runs = [r for r in runs if r["function_id"].endswith("execute-query")]
    listed = await app.executor_api.get("/v1/events", params={"limit": 500})
    events = {e["internal_id"]: e for e in listed.json()["data"]}
    found = []
    for run in sorted(runs, key=lambda r: r["run_id"]):
        event = events[run["event_id"]]
        if event["data"]["queryId"] != query_id:
            continue
        steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
        found.append({**run, "event": event, "steps": [s["name"] for s in steps]})
    return found


async def page_runs(app: App, query_id: str) -> list[tuple[int, str]]:
    pages = (await app.api.get(f"/api/queries/{query_id}/pages")).json()["items"]
    return [(p["page_number"], p["run_id"]) for p in pages]


def bound(pages_per_run: int) -> int:
    """The most steps a run may take (docs/queries.md)."""
    return 4 * pages_per_run + 7  # the 2 webhook steps included


async def test_a_250_page_query_runs_in_three_bounded_runs(tmp_path: Path) -> None:
    async with running_app(fast_settings(str(tmp_path / "p.db"), pages_per_run=100)) as app:
        query_id = await app.run("long total:5000")
        done = await app.until(query_id, timeout_s=120)
        assert done["status"] == "completed" and done["pages_fetched"] == 250
        assert done["runs"] == 1  # hand-overs are not resumes
        assert await app.record_ids(query_id) == app.expected_ids("long total:5000")
        assert app.sim.stats.total_requests == 250  # no page fetched twice
        runs = await chain(app, query_id)
        stored = await page_runs(app, query_id)
    assert [r["status"] for r in runs] == ["Completed"] * 3
    first, second, third = (r["steps"] for r in runs)
    assert first == ["start", *(f"page-{n}" for n in range(1, 101)), "hand-over-101"]
    assert second == ["start", *(f"page-{n}" for n in range(101, 201)), "hand-over-201"]
    assert third == ["start", *(f"page-{n}" for n in range(201, 251)), "complete"]
    assert all(len(r["steps"]) <= bound(100) for r in runs)
    # Each run after the first continues from the one before: same query, same key.
    assert "previousRunId" not in runs[0]["event"]["data"]
    for before, after in itertools.pairwise(runs):
        assert after["event"]["data"] == {
            "queryId": query_id,
            "previousRunId": before["run_id"],
            "priority": functions.PRIORITY_SINGLE_S,  # passed on: a query started on its own
        }
        assert after["event"]["id"] == f"{query_id}:after:{before['run_id']}"
    # The page log names the run that stored each page.
    ids = [r["run_id"] for r in runs]
    assert stored == [(n, ids[(n - 1) // 100]) for n in range(1, 251)]


@pytest.mark.parametrize("inline_delay_s", [None, 0.0], ids=["in-step", "durable"])
async def test_paced_pages_with_a_delay_cost_one_step_or_two_and_hand_over(
    tmp_path: Path, inline_delay_s: float | None
) -> None:
    settings = fast_settings(
        str(tmp_path / "p.db"),
        pages_per_run=5,
        demo_rate_per_s=50,
        page_delay_s=0.01,
        inline_delay_s=inline_delay_s,
    )
    async with running_app(settings) as app:
        query_id = await app.run("paced total:240")
        done = await app.until(query_id, timeout_s=60)
        assert done["status"] == "completed" and done["pages_fetched"] == 12
        assert await app.record_ids(query_id) == app.expected_ids("paced total:240")
        runs = await chain(app, query_id)
        stored = await page_runs(app, query_id)
        page = (await app.api.get(f"/queries/{query_id}")).text
    # A free slot is taken in the page step.
    if inline_delay_s == 0:  # a page and its durable delay: two steps a page
        expected = [
            ["start", *_paced(1, 5), "delay-6", "hand-over-6"],
            ["start", *_paced(6, 10), "delay-11", "hand-over-11"],
            ["start", *_paced(11, 12), "complete"],
        ]
    else:  # under `serve`, the next page step waits the delay out in place: one a page
        pages = [f"page-{n}" for n in range(1, 13)]
        expected = [
            ["start", *pages[0:5], "hand-over-6"],
            ["start", *pages[5:10], "hand-over-11"],
            ["start", *pages[10:12], "complete"],
        ]
    assert [r["steps"] for r in runs] == expected
    ids = [r["run_id"] for r in runs]
    assert stored == [(n, ids[(n - 1) // 5]) for n in range(1, 13)]
    for number, run_id in enumerate(ids, start=1):  # the chain, linked to the dashboard
        assert f'href="{settings.executor_origin}/runs/{run_id}"' in page
        assert f">run {number}<" in page


def _paced(first: int, last: int) -> list[str]:
    names = [f"page-{first}"]
    for n in range(first + 1, last + 1):
        names += [f"delay-{n}", f"page-{n}"]
    return names


async def test_a_pause_requested_during_a_hand_over_pauses_before_the_next_page(
    tmp_path: Path,
) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), pages_per_run=2, page_delay_s=0.6)
    async with running_app(settings) as app:
        query_id = await app.run("handpause total:100")
        while (await app.query(query_id))["pages_fetched"] < 2:
            await asyncio.sleep(0.02)
        # The first run sleeps its delay, then hands over; the next run must not fetch.
        answer = await app.api.post(f"/api/queries/{query_id}/pause")
        assert answer.status_code == 202
        paused = await app.until(query_id, {"paused"})
        assert paused["pages_fetched"] == 2 and paused["pause_reason"] == "paused by request"
        assert app.sim.stats.total_requests == 2
        runs = await chain(app, query_id)
        assert runs[0]["steps"][-1] == "hand-over-3" and runs[1]["steps"] == ["start"]
        await app.api.post(f"/api/queries/{query_id}/resume")
        done = await app.until(query_id, {"completed", "failed"}, timeout_s=30)
        assert done["status"] == "completed" and done["runs"] == 2
        assert await app.record_ids(query_id) == app.expected_ids("handpause total:100")
        assert app.sim.stats.total_requests == 5


async def test_cancel_while_the_next_run_waits_for_its_slot(tmp_path: Path) -> None:
    """One request per 2 s: the second run sleeps for its slot when it is cancelled."""
    settings = fast_settings(str(tmp_path / "p.db"), pages_per_run=1, demo_rate_per_s=0.5)
    async with running_app(settings) as app:
        query_id = await app.run("handcancel total:60")
        for _ in range(200):
            runs = await chain(app, query_id)
            if len(runs) == 2 and runs[1]["steps"][-1:] == ["slot-wait-2-1"]:
                break
            await asyncio.sleep(0.05)
        assert runs[1]["steps"] == ["start", "page-2", "slot-wait-2-1"]
        answer = await app.api.post(f"/api/queries/{query_id}/cancel")
        assert answer.status_code == 202
        for _ in range(100):
            runs = await chain(app, query_id)
            if runs[1]["status"] == "Cancelled":
                break
            await asyncio.sleep(0.05)
        assert [r["status"] for r in runs] == ["Completed", "Cancelled"]
        await asyncio.sleep(2.5)  # the slot's time passes: nothing is fetched
        query = await app.query(query_id)
        assert query["status"] == "cancelled" and query["pages_fetched"] == 1
        assert app.sim.stats.total_requests == 1
        await app.api.post(f"/api/queries/{query_id}/resume")
        done = await app.until(query_id, {"completed", "failed"}, timeout_s=30)
        assert done["status"] == "completed" and done["pages_fetched"] == 3
        assert await app.record_ids(query_id) == app.expected_ids("handcancel total:60")
        assert app.sim.stats.total_requests == 3


async def test_a_rate_limit_after_a_hand_over_resumes_by_itself(tmp_path: Path) -> None:
    settings = fast_settings(str(tmp_path / "p.db"), pages_per_run=2, max_rate_limit_wait_s=0.5)
    async with running_app(settings) as app:
        app.sim.add_fault(Fault(kind="rate_limit", times=1, after=3, retry_after_s=1.5))
        query_id = await app.run("handlimit total:140")
        done = await app.until(query_id, {"completed", "failed"}, timeout_s=30)
        assert done["status"] == "completed" and done["runs"] == 2
        assert await app.record_ids(query_id) == app.expected_ids("handlimit total:140")
        runs = await chain(app, query_id)
        stored = await page_runs(app, query_id)
    # Run 2 was paused by the 429 on page 4 and resumed the query: run 3 starts afresh.
    assert runs[1]["steps"][-3:] == ["auto-resume-wait", "auto-resume", "auto-resume-send"]
    assert "previousRunId" not in runs[2]["event"]["data"]
    assert runs[2]["event"]["id"] == f"{query_id}:2"
    assert [n for n, _ in stored] == list(range(1, 8))
    ids = [r["run_id"] for r in runs]
    assert [run for _, run in stored] == [ids[0]] * 2 + [ids[1]] + [ids[2]] * 2 + [ids[3]] * 2


async def test_a_hand_over_sent_twice_starts_one_run_and_a_stray_one_takes_nothing(
    tmp_path: Path,
) -> None:
    """The hand-over step fails right after its event left, as if killed before its memo
    was stored: the retry sends the same event again, which starts no second run."""
    async with running_app(fast_settings(str(tmp_path / "p.db"), pages_per_run=2)) as app:
        client = app.runtime.services.client
        send, failed = client.send, []

        async def send_then_fail(events: Any, *args: Any, **kwargs: Any) -> Any:
            ids = await send(events, *args, **kwargs)
            event = events[0] if isinstance(events, list) else events
            if "previousRunId" in event.data and not failed:
                failed.append(event.id)
                raise RuntimeError("the process died after sending")
            return ids

        client.send = send_then_fail  # type: ignore[method-assign]
        query_id = await app.run("twice total:100")
        done = await app.until(query_id, {"completed", "failed"})
        assert done["status"] == "completed"
        assert await app.record_ids(query_id) == app.expected_ids("twice total:100")
        assert app.sim.stats.total_requests == 5
        # The query completes in the last run; the first may still be recording its retried
        # hand-over step's result.
        for _ in range(200):
            runs = await chain(app, query_id)
            if all(r["status"] != "Running" for r in runs):
                break
            await asyncio.sleep(0.05)
        assert [r["status"] for r in runs] == ["Completed"] * 3
        assert failed == [f"{query_id}:after:{runs[0]['run_id']}"]
        steps = await app.executor_api.get(f"/v1/runs/{runs[0]['run_id']}/steps")
        hand_over = steps.json()["data"][-1]
        assert [a["status"] for a in hand_over["attempts"]] == ["failed", "completed"]
        # A run that names a run which does not own the query refuses it.
        client.send = send  # type: ignore[method-assign]
        await send(continue_event(query_id, runs[0]["run_id"], 0).model_copy(update={"id": "x"}))
        for _ in range(100):
            later = await chain(app, query_id)
            if len(later) == 4 and later[3]["status"] == "Completed":
                break
            await asyncio.sleep(0.05)
        assert later[3]["steps"] == ["start"] and later[3]["output"]["skipped"] is True
        assert (await app.query(query_id))["pages_fetched"] == 5


@pytest.mark.parametrize("inline_delay_s", [None, 0.0], ids=["in-step", "durable"])
async def test_a_pages_delay_counts_from_the_providers_answer_to_the_page_before(
    tmp_path: Path, inline_delay_s: float | None
) -> None:
    settings = fast_settings(
        str(tmp_path / "p.db"), page_delay_s=0.3, pages_per_run=2, inline_delay_s=inline_delay_s
    )
    async with running_app(settings) as app:
        executor = app.runtime.executor
        assert executor is not None
        lent: list[int] = []  # calls that wait in place, not counted as in flight

        async def sample() -> None:
            while True:
                lent.append(executor.inflight.lent)
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        query_id = await app.run("answered total:80")
        done = await app.until(query_id, timeout_s=30)
        sampler.cancel()
        assert done["status"] == "completed" and done["pages_fetched"] == 4
        # Waiting out the delay in place, the page step's call lends its place (a slept
        # delay leaves only the lead's 30 ms, which the samples may miss).
        assert max(lent) <= 1 and executor.inflight.lent == 0
        if inline_delay_s is None:
            assert max(lent) == 1
        by_name = {}
        for run in await chain(app, query_id):
            listed = await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")
            by_name |= {s["name"]: s for s in listed.json()["data"] if s["name"] != "start"}
    for n in range(2, 5):
        answered = by_name[f"page-{n - 1}"]["output"]["answered_at"]
        if inline_delay_s == 0:
            # Not from when the sleep was reached: the call that reached it came later.
            # The sleep ends a tenth of the delay early; the page step waits out the rest.
            until = answered + 0.3 - 0.03
            assert by_name[f"delay-{n}"]["opts"]["until"] == pytest.approx(until, abs=1e-3)
        else:  # no sleep step: the page step waits all of the delay
            assert f"delay-{n}" not in by_name
        # Page 3 is the next run's first: the hand-over waits out the rest as well.
        assert by_name[f"page-{n}"]["output"]["sent_at"] >= answered + 0.3


async def test_a_page_memo_without_answered_at_sleeps_the_whole_delay_and_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memos from before `answered_at` existed: the sleep counts from when it is reached,
    and the next page does not wait again on a replay's later clock."""
    page = functions.QueryRunner.page

    async def page_of_old(self: functions.QueryRunner, *args: Any) -> dict[str, Any]:
        result = await page(self, *args)
        result.pop("answered_at", None)
        return result

    monkeypatch.setattr(functions.QueryRunner, "page", page_of_old)
    async with running_app(fast_settings(str(tmp_path / "p.db"), page_delay_s=0.3)) as app:
        query_id = await app.run("oldmemo total:60")
        done = await app.until(query_id, timeout_s=30)
        assert done["status"] == "completed" and done["pages_fetched"] == 3
        (run,) = await chain(app, query_id)
        steps = (await app.executor_api.get(f"/v1/runs/{run['run_id']}/steps")).json()["data"]
    by_name = {s["name"]: s for s in steps}
    for n in (2, 3):
        until = by_name[f"delay-{n}"]["opts"]["until"]
        assert until >= by_name[f"page-{n - 1}"]["output"]["sent_at"] + 0.3
        assert by_name[f"page-{n}"]["output"]["sent_at"] - until < 0.2
