"""The executor dashboard in a real browser, against a real executor and a real-SDK app.

Screenshots for the docs: `PAGERUNNER_SCREENSHOTS=1 uv run pytest tests/browser/test_dashboard.py
-k screenshots` writes docs/screenshots/dashboard-*.png.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import pytest
from playwright.async_api import Page, expect

from tests.executor import sdk_app
from tests.executor.conftest import Harness, harness

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def origin(h: Harness) -> str:
    return str(h.api.base_url).rstrip("/")


async def open_run(page: Page, h: Harness, run_id: str) -> None:
    await page.goto(f"{origin(h)}/runs/{run_id}")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()


def event_row(page: Page, name: str) -> Any:
    """The events table's row of the (only) event called `name`."""
    link = page.get_by_role("link", name=name, exact=True)
    return page.locator("table.events tbody tr").filter(has=link)


def status_badge(page: Page) -> Any:
    return page.locator(".summary .facts .badge")


async def test_run_timeline_shows_a_retried_step_with_its_failed_attempts(
    page: Page, tmp_path: Path
) -> None:
    async with harness(tmp_path, "http") as h:
        run = await h.finished(await h.send("test/flaky", {"fail_times": 2}))
        await page.goto(f"{origin(h)}/runs")
        await page.get_by_role("link", name=f"Run {run['id']} of testapp-flaky").click()
        await expect(page).to_have_url(f"{origin(h)}/runs/{run['id']}")
        await expect(status_badge(page)).to_have_text("Completed")

        rows = page.locator(".wf-row").filter(has=page.get_by_role("link", name="flaky"))
        await expect(rows).to_have_count(3)
        assert await rows.locator("small").all_inner_texts() == [
            "attempt 1 · failed",
            "attempt 2 · failed",
            "attempt 3 · completed",
        ]
        bars = rows.locator(".bar")
        colours = [
            await bars.nth(i).evaluate("el => getComputedStyle(el).backgroundColor")
            for i in range(3)
        ]
        assert colours[0] == colours[1] != colours[2]  # failed attempts stand out

        step = page.locator("article.step").filter(has_text="flaky")
        attempts = step.locator("table.attempts tbody tr")
        await expect(attempts).to_have_count(3)
        await expect(attempts.nth(0)).to_contain_text("transient failure on attempt 0")
        await expect(attempts.nth(2)).to_contain_text("completed")
        await expect(page.locator(".result")).to_contain_text("2")  # the run's output


async def test_runs_list_refreshes_itself_and_events_link_to_their_runs(
    page: Page, tmp_path: Path
) -> None:
    async with harness(tmp_path, "http") as h:
        await page.goto(f"{origin(h)}/runs")
        await expect(page.locator("table.runs tbody")).to_contain_text("No runs yet")
        await page.evaluate("window.__notReloaded = true")
        run_id = await h.run_of(await h.send("test/sequential", {"n": 1}))

        row = page.get_by_role("link", name=f"Run {run_id} of testapp-sequential")
        await expect(row).to_be_visible(timeout=10_000)  # appeared by polling
        assert await page.evaluate("window.__notReloaded") is True

        await page.get_by_role("link", name="Events", exact=True).click()
        row = event_row(page, "test/sequential")
        await expect(row).to_have_count(1)
        await row.get_by_role("link", name="testapp-sequential").click()
        await expect(page).to_have_url(f"{origin(h)}/runs/{run_id}")


async def test_send_a_test_event_from_the_form_and_see_its_run(page: Page, tmp_path: Path) -> None:
    async with harness(tmp_path, "http") as h:
        await page.goto(f"{origin(h)}/events")
        editor = page.get_by_label("Event JSON")

        await editor.fill('{"name": "test/sequential", ')
        async with page.expect_response(lambda r: r.url.endswith("/events/send")) as answer:
            await page.get_by_role("button", name="Send event").click()
        assert (await answer.value).status == 400
        await expect(page.get_by_role("alert")).to_contain_text("not valid JSON")
        await expect(editor).to_have_value('{"name": "test/sequential", ')  # kept for fixing

        await editor.fill(json.dumps({"name": "inngest/function.failed", "data": {}}))
        await page.get_by_role("button", name="Send event").click()
        await expect(page.get_by_role("alert")).to_contain_text("reserved")

        await editor.fill(json.dumps({"name": "test/sequential", "data": {"n": 2}}))
        await page.get_by_role("button", name="Send event").click()
        await expect(page.get_by_role("status")).to_have_text("Sent 1 event(s).")
        await (
            event_row(page, "test/sequential")
            .get_by_role("link", name="testapp-sequential")
            .click()
        )
        await expect(status_badge(page)).to_have_text("Completed")
        await expect(page.locator(".result")).to_contain_text('"b": 3')

        # The same form posted without its CSRF token is refused.
        refused = await page.request.post(
            f"{origin(h)}/events/send", form={"payload": '{"name": "test/sequential"}'}
        )
        assert refused.status == 403
        assert len((await h.api.get("/v1/runs")).json()["data"]) == 1  # nothing more was sent


async def test_a_payload_with_script_is_inert_and_shown_as_text(page: Page, tmp_path: Path) -> None:
    async with harness(tmp_path, "http") as h:
        await page.goto(f"{origin(h)}/events")
        payload = {"name": "test/sequential", "data": {"n": 1, "note": XSS}}
        await page.get_by_label("Event JSON").fill(json.dumps(payload))
        await page.get_by_role("button", name="Send event").click()
        await expect(page.get_by_role("status")).to_have_text("Sent 1 event(s).")

        details = page.locator("details.payload").first
        await details.locator("summary").click()
        await expect(details.locator("pre")).to_contain_text("<script>window.__xss=1</script>")
        assert await page.evaluate("window.__xss") is None

        await (
            event_row(page, "test/sequential")
            .get_by_role("link", name="testapp-sequential")
            .click()
        )
        await expect(page.locator("#trigger-heading + p + pre")).to_contain_text(
            '<img src=x onerror=\\"window.__xss=2\\">'
        )
        assert await page.evaluate("window.__xss") is None


async def test_cancel_a_running_run_from_its_page(page: Page, tmp_path: Path) -> None:
    async with harness(tmp_path, "http") as h:
        run_id = await h.run_of(await h.send("test/cancellable", {"id": 7}))
        await open_run(page, h, run_id)
        await expect(status_badge(page)).to_have_text("Running")
        await expect(page.locator(".wf-row.wf-sleep")).to_contain_text("long")  # the 30 s sleep
        await page.get_by_role("button", name="Cancel run").click()
        await expect(status_badge(page)).to_have_text("Cancelled")
        await expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
        await expect(page.get_by_role("button", name="Rerun")).to_be_visible()
        assert (await h.executor.wait_for_run(run_id))["status"] == "Cancelled"


async def test_rerun_a_completed_run(page: Page, tmp_path: Path) -> None:
    async with harness(tmp_path, "http") as h:
        first = await h.finished(await h.send("test/sequential", {"n": 5}))
        await open_run(page, h, first["id"])
        await page.get_by_role("button", name="Rerun").click()
        await expect(page).not_to_have_url(f"{origin(h)}/runs/{first['id']}")
        rerun_of = page.locator(".facts div").filter(has_text="Rerun of")
        await expect(rerun_of.get_by_role("link")).to_have_text(first["id"])
        await expect(status_badge(page)).to_have_text("Completed")
        await expect(page.locator(".result")).to_contain_text('"b": 6')


async def test_functions_show_retries_and_apps_sync(page: Page, tmp_path: Path) -> None:
    async with harness(tmp_path, "http") as h:
        await page.goto(f"{origin(h)}/functions")
        flaky = page.locator("#fn-testapp-flaky")
        await expect(flaky.locator(".retries")).to_have_text("3")
        await expect(page.locator("#fn-testapp-serial")).to_contain_text("1 at a time")
        await expect(page.locator("#fn-testapp-cancellable")).to_contain_text(
            "on test/cancellable.stop"
        )

        await page.get_by_role("link", name="Apps", exact=True).click()
        await page.get_by_role("button", name="Sync testapp").click()
        await expect(page.get_by_role("status")).to_have_text("Synced testapp.")
        await expect(page.locator("table.apps tbody tr").first).to_contain_text("py:v0.5.19")


async def test_with_an_api_token_the_dashboard_asks_to_sign_in(page: Page, tmp_path: Path) -> None:
    async with harness(tmp_path, "http", api_token="s3cret") as h:
        await page.goto(f"{origin(h)}/runs")
        await expect(page).to_have_url(f"{origin(h)}/login?next=/runs")
        await page.get_by_label("API token").fill("wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("not valid")

        await page.get_by_label("API token").fill("s3cret")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{origin(h)}/runs")
        await expect(page.get_by_role("heading", name="Runs")).to_be_visible()
        await page.goto(f"{origin(h)}/apps")
        await page.get_by_role("button", name="Sync testapp").click()
        await expect(page.get_by_role("status")).to_have_text("Synced testapp.")


# -- screenshots for the docs ---------------------------------------------------------------


def build_showcase_app(
    *, api_origin: str, signing_key: str | None = None
) -> tuple[fastapi.FastAPI, sdk_app.Ledger]:
    """The test app plus a query-like function: pages, a flaky page, rate-limit sleeps."""
    app, ledger = sdk_app.build_app(api_origin=api_origin, signing_key=signing_key)
    client: inngest.Inngest = app.state.client
    functions = sdk_app._functions(client, ledger)

    @client.create_function(
        fn_id="execute-query",
        trigger=inngest.TriggerEvent(event="query/execute.requested"),
        retries=3,
        concurrency=[inngest.Concurrency(limit=2, key="event.data.source")],
    )
    async def execute_query(ctx: inngest.Context) -> dict[str, int]:
        records = 0
        for number in (1, 2, 3):

            async def fetch(number: int = number) -> dict[str, int]:
                if number == 2 and ctx.attempt < 2:
                    raise RuntimeError("provider answered 503 (transient)")
                return {"page": number, "records": 20}

            records += (await ctx.step.run(f"page-{number}", fetch))["records"]
            if number < 3:
                await ctx.step.sleep(f"rate-limit-{number}", datetime.timedelta(seconds=1))
        return {"pages": 3, "records": records}

    showcase = fastapi.FastAPI()
    inngest.fast_api.serve(showcase, client, [*functions, execute_query])
    return showcase, ledger


@pytest.mark.skipif(
    not os.environ.get("PAGERUNNER_SCREENSHOTS"), reason="set PAGERUNNER_SCREENSHOTS=1"
)
async def test_screenshots(page: Page, tmp_path: Path) -> None:
    async with harness(tmp_path, "http", build=build_showcase_app) as h:
        query = await h.send("query/execute.requested", {"queryId": 42, "source": "demo"})
        for name, data in [
            ("test/flaky", {"fail_times": 2}),
            ("test/sequential", {"n": 1}),
            ("test/parent", {}),
            ("test/doomed", {}),
            ("test/once", {"uid": "u-1"}),
        ]:
            await h.finished(await h.send(name, data))
        await h.send("test/once", {"uid": "u-1"})  # skipped: idempotency
        await h.run_of(await h.send("test/cancellable", {"id": 1}))
        run = await h.finished(query, timeout_s=20)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, path in [
            ("dashboard-runs", "/runs"),
            ("dashboard-run", f"/runs/{run['id']}"),
            ("dashboard-events", "/events"),
        ]:
            await page.goto(origin(h) + path)
            if name == "dashboard-events":
                await event_row(page, "test/flaky").locator("summary").click()
            await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
