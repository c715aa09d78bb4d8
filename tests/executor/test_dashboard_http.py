"""The dashboard's HTML routes over plain HTTP: validation, 404s, CSRF, the token, escaping."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from pagerunner.executor.dashboard.describe import format_seconds
from pagerunner.executor.dashboard.rendering import format_ms
from pagerunner.executor.dashboard.timeline import build_timeline
from pagerunner.guard import CSRF_COOKIE

from .conftest import Harness, harness

HTML = {"accept": "text/html"}


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path, "asgi") as value:
        yield value


async def csrf(api: httpx.AsyncClient) -> str:
    """Load a page so the browser-like client holds the CSRF cookie; return its value."""
    await api.get("/events", headers=HTML)
    token = api.cookies.get(CSRF_COOKIE)
    assert token
    return token


def run_rows(html: str) -> list[tuple[str, str]]:
    """(run id, function id) of each row of a runs table."""
    return re.findall(r'aria-label="Run (\w+) of ([^"]+)"', html)


async def event_count(h: Harness) -> int:
    response = await h.api.get("/v1/events", params={"limit": 500})
    return len(response.json()["data"])


async def test_pages_render_and_the_api_routes_still_work(h: Harness) -> None:
    run = await h.finished(await h.send("test/sequential", {"n": 1}))
    for path in ("/", "/runs", f"/runs/{run['id']}", "/events", "/functions", "/apps"):
        response = await h.api.get(path, headers=HTML)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "<main" in response.text
    for path in ("/healthz", "/dev", "/v1/runs", "/v1/functions", "/v1/apps", "/openapi.json"):
        assert (await h.api.get(path)).status_code == 200, path
    assert (await h.api.get("/static/dashboard.css")).status_code == 200
    htmx = await h.api.get("/static/htmx-2.0.4.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
    assert "Zero-Clause BSD" in (await h.api.get("/static/htmx.LICENSE")).text
    dashboard_paths = {"/", "/runs", "/events", "/functions", "/apps"}
    assert not dashboard_paths & set((await h.api.get("/openapi.json")).json()["paths"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=Bogus", "Unknown status"),
        ("range=1y", "Unknown time range"),
        ("limit=0", "limit must be"),
        ("limit=abc", "limit must be"),
        ("cursor=not-a-run-id!", "cursor is not a run id"),
    ],
)
async def test_bad_run_filters_answer_422_naming_the_problem(
    h: Harness, query: str, message: str
) -> None:
    response = await h.api.get(f"/runs?{query}", headers=HTML)
    assert response.status_code == 422
    assert message in response.text
    assert 'role="alert"' in response.text


async def test_run_filters_and_cursor_paging(h: Harness) -> None:
    for n in range(5):
        await h.finished(await h.send("test/sequential", {"n": n}))
    await h.finished(await h.send("test/doomed"))
    failed = run_rows((await h.api.get("/runs?status=Failed", headers=HTML)).text)
    assert [fn for _, fn in failed] == ["testapp-doomed"]
    by_fn = (await h.api.get("/runs?function=testapp-sequential&range=15m", headers=HTML)).text
    assert [fn for _, fn in run_rows(by_fn)] == ["testapp-sequential"] * 5

    seen: list[str] = []
    url: str | None = "/runs?function=testapp-sequential&limit=2"
    while url:
        page = (await h.api.get(url, headers=HTML)).text
        seen += [run_id for run_id, _ in run_rows(page)]
        found = re.search(r'<a href="(/runs\?[^"]+)" rel="next">', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 5 and len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)  # newest first, no gaps or repeats


async def test_unknown_run_is_a_404_page(h: Harness) -> None:
    token = await csrf(h.api)
    response = await h.api.get("/runs/01NOSUCHRUN", headers=HTML)
    assert response.status_code == 404 and "There is no run with id 01NOSUCHRUN" in response.text
    for action in ("cancel", "rerun"):
        posted = await h.api.post(f"/runs/01NOSUCHRUN/{action}", data={"csrf_token": token})
        assert posted.status_code == 404, action


async def test_posts_without_the_csrf_token_are_refused(h: Harness) -> None:
    run = await h.finished(await h.send("test/sequential"))
    before = await event_count(h)
    await csrf(h.api)
    posts = [
        ("/events/send", {"payload": '{"name": "test/sequential"}'}),
        (f"/runs/{run['id']}/rerun", {}),
        (f"/runs/{run['id']}/cancel", {}),
        ("/apps/sync", {"app": "testapp"}),
    ]
    for path, form in posts:
        assert (await h.api.post(path, data=form)).status_code == 403, path
        wrong = await h.api.post(path, data={**form, "csrf_token": "forged"})
        assert wrong.status_code == 403, path
    assert await event_count(h) == before
    assert len((await h.api.get("/v1/runs")).json()["data"]) == 1  # no rerun happened


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ('{"name": "test/sequential", ', 400, "not valid JSON"),
        ("[" * 3000 + "]" * 3000, 400, "deeper than 100 levels"),
        ('{"name": "test/x", "data": {"n": NaN}}', 400, "NaN is not a JSON number"),
        ("", 400, "Type an event"),
        ("[]", 422, "no events"),
        ('{"name": "inngest/function.failed", "data": {}}', 422, "reserved"),
        ('[{"name": "test/sequential"}, {"name": ""}]', 422, "non-empty string"),
        ('{"name": "test/sequential", "data": [1]}', 422, "must be an object"),
    ],
)
async def test_send_event_form_validates_and_sends_nothing_on_error(
    h: Harness, payload: str, status: int, message: str
) -> None:
    token = await csrf(h.api)
    before = await event_count(h)
    response = await h.api.post("/events/send", data={"csrf_token": token, "payload": payload})
    assert response.status_code == status
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert await event_count(h) == before


async def test_send_event_form_sends_and_redirects(h: Harness) -> None:
    token = await csrf(h.api)
    payload = '{"name": "test/sequential", "data": {"n": 41}}'
    response = await h.api.post("/events/send", data={"csrf_token": token, "payload": payload})
    assert response.status_code == 303 and response.headers["location"] == "/events?sent=1"
    page = await h.api.get("/events?sent=1", headers=HTML)
    assert "Sent 1 event(s)." in page.text
    runs = (await h.api.get("/v1/runs")).json()["data"]
    assert [r["function_id"] for r in runs] == ["testapp-sequential"]
    assert runs[0]["run_id"] in page.text


async def test_cancel_and_rerun_through_the_forms(h: Harness) -> None:
    token = await csrf(h.api)
    done = await h.finished(await h.send("test/sequential"))
    refused = await h.api.post(f"/runs/{done['id']}/cancel", data={"csrf_token": token})
    assert refused.status_code == 409 and "nothing to cancel" in refused.text

    rerun = await h.api.post(f"/runs/{done['id']}/rerun", data={"csrf_token": token})
    assert rerun.status_code == 303
    new_id = rerun.headers["location"].removeprefix("/runs/")
    assert new_id != done["id"]
    page = (await h.api.get(f"/runs/{new_id}", headers=HTML)).text
    assert f'href="/runs/{done["id"]}"' in page  # "Rerun of" links back

    running = await h.run_of(await h.send("test/cancellable", {"id": 1}))
    cancelled = await h.api.post(f"/runs/{running}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    assert (await h.api.get(f"/v1/runs/{running}")).json()["data"]["status"] == "Cancelled"


async def test_sync_only_known_apps_and_show_failures(h: Harness) -> None:
    token = await csrf(h.api)
    unknown = await h.api.post(
        "/apps/sync", data={"csrf_token": token, "app": "http://evil.example/api"}
    )
    assert unknown.status_code == 404 and "There is no app named" in unknown.text

    synced = await h.api.post("/apps/sync", data={"csrf_token": token, "app": "testapp"})
    assert synced.status_code == 303 and synced.headers["location"] == "/apps?synced=testapp"
    assert "Synced testapp." in (await h.api.get("/apps?synced=testapp", headers=HTML)).text
    assert "Synced nobody" not in (await h.api.get("/apps?synced=nobody", headers=HTML)).text

    # An app whose endpoint has gone away: the sync fails with the reason on the page.
    ghost = {"appname": "ghost", "url": "http://127.0.0.1:9/api/inngest", "functions": []}
    assert (await h.api.post("/fn/register", json=ghost)).status_code == 200
    failed = await h.api.post("/apps/sync", data={"csrf_token": token, "app": "ghost"})
    assert failed.status_code == 502
    assert "Sync of ghost failed" in failed.text and 'role="alert"' in failed.text


async def test_live_regions_answer_204_when_nothing_changed(h: Harness) -> None:
    await h.finished(await h.send("test/sequential"))
    poll = {"hx-request": "true"}
    first = await h.api.get("/runs?status=Completed&region=runs", headers=poll)
    assert first.status_code == 200
    assert first.text.startswith('<div id="region-runs"')
    found = re.search(r'hx-get="([^"]+)"', first.text)
    assert found is not None
    again = found.group(1).replace("&amp;", "&")
    assert "status=Completed" in again  # the filters stay on the poll URL
    assert (await h.api.get(again, headers=poll)).status_code == 204
    await h.finished(await h.send("test/sequential"))
    assert (await h.api.get(again, headers=poll)).status_code == 200


async def test_finished_runs_stop_polling_and_show_sleeps_and_calls(h: Harness) -> None:
    slept = await h.finished(await h.send("test/sleep", {"s": 1}))
    page = (await h.api.get(f"/runs/{slept['id']}", headers=HTML)).text
    assert "hx-trigger" not in page
    assert "bar-sleep" in page and "nap" in page
    doomed = await h.finished(await h.send("test/doomed"))
    page = (await h.api.get(f"/runs/{doomed['id']}", headers=HTML)).text
    assert "function call" in page and "RuntimeError: doomed to fail" in page
    running = await h.run_of(await h.send("test/cancellable", {"id": 2}))
    page = (await h.api.get(f"/runs/{running}", headers=HTML)).text
    assert 'hx-trigger="every 2s"' in page and "Cancel run" in page


async def test_provider_data_is_escaped(h: Harness) -> None:
    script = "<script>window.__xss=1</script>"
    run = await h.finished(await h.send("test/sequential", {"n": 1, "html": script}))
    for path in ("/events", f"/runs/{run['id']}"):
        text = (await h.api.get(path, headers=HTML)).text
        assert script not in text
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in text


async def test_api_token_guards_the_dashboard_and_api_but_not_intake(tmp_path: Path) -> None:
    async with harness(tmp_path, "asgi", api_token="s3cret") as h:
        page = await h.api.get("/runs", headers=HTML)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/runs"
        assert (await h.api.get("/v1/runs")).status_code == 401
        assert (await h.api.get("/dev")).status_code == 401
        bearer = {"authorization": "Bearer s3cret"}
        assert (await h.api.get("/v1/runs", headers=bearer)).status_code == 200
        assert (await h.api.get("/healthz")).status_code == 200
        assert (await h.api.get("/static/dashboard.css")).status_code == 200
        await h.finished(await h.send("test/sequential"))  # /e/ keeps its own (event key) check

        bad = await h.api.post("/login", data={"token": "nope", "next": "/runs"})
        assert bad.status_code == 401
        signed_in = await h.api.post("/login", data={"token": "s3cret", "next": "/runs"})
        assert signed_in.status_code == 303
        runs = await h.api.get("/runs", headers=HTML)
        assert runs.status_code == 200 and "testapp-sequential" in runs.text
        assert 'action="/logout"' in runs.text
        out = await h.api.post("/logout")
        assert out.status_code == 303
        assert (await h.api.get("/runs", headers=HTML)).status_code == 303  # signed out


def test_durations_read_like_people_write_them() -> None:
    assert [format_ms(v) for v in (None, 3, 1240, 125_000, 3_720_000)] == [
        "—",
        "3 ms",
        "1.24 s",
        "2 m 05 s",
        "1 h 02 m",
    ]
    assert [format_seconds(s) for s in (0.5, 30, 90, 86400)] == ["0.5s", "30s", "1m30s", "24h"]


def test_timeline_bars_stay_inside_the_axis() -> None:
    run = {
        "status": "Running",
        "queued_at": "2026-01-01T00:00:00.000Z",
        "ended_at": None,
        "steps": [
            {
                "id": "a",
                "name": "fetch",
                "op": "StepRun",
                "attempts": [
                    {
                        "attempt": 0,
                        "status": "failed",
                        "http_status": 206,
                        "started_at": "2026-01-01T00:00:01.000Z",
                        "ended_at": "2026-01-01T00:00:01.001Z",
                    }
                ],
            },
            {"id": "b", "name": "nap", "op": "Sleep", "started_at": "2026-01-01T00:00:02.000Z"},
        ],
        "calls": [],
    }
    now = 1767225604.0  # 2026-01-01T00:00:04Z
    timeline = build_timeline(run, now)
    kinds = [b.kind for b in timeline.bars]
    assert kinds == ["run", "failed", "sleep"]
    assert timeline.total_ms == 4000
    for bar in timeline.bars:
        assert bar.left >= 0 and bar.left + bar.width <= 100.0001
    sleep = timeline.bars[2]
    assert sleep.offset_ms == 2000 and sleep.duration_ms == 2000 and "in progress" in sleep.note
