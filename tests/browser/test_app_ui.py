"""The app's pages in a real browser: live progress, pause and resume, errors, escaping.

Screenshots of the main pages go to $PAGERUNNER_SCREENSHOTS when it is set (the
README's images: `PAGERUNNER_SCREENSHOTS=docs/screenshots uv run pytest
tests/browser/test_app_ui.py`), otherwise to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from pagerunner.simulator import Fault
from tests.e2e.conftest import App, fast_settings, running_app

from .conftest import origin

pytestmark = pytest.mark.browser

QUERY_URL = re.compile(r"/queries/[0-9A-Z]{26}(\?.*)?$")
XSS = "<script>window.__xss=1</script>"


@pytest.fixture
async def ui(tmp_path: Path) -> AsyncIterator[App]:
    # A small delay between pages, so progress is visible while the page watches.
    settings = fast_settings(str(tmp_path / "ui.db"), page_delay_s=0.2)
    async with running_app(settings) as app:
        yield app


def status_badge(page: Page) -> object:
    return page.locator(".status-panel .badge")


async def test_a_query_made_in_the_form_completes_before_your_eyes(ui: App, page: Page) -> None:
    await page.goto(f"{origin(ui)}/queries/new")
    await page.get_by_label("q", exact=True).fill("coffee total:300")
    await page.get_by_label("location").fill("Austin, TX")
    await page.get_by_role("button", name="Start the query").click()
    await page.wait_for_url(QUERY_URL)
    await expect(page.get_by_role("status").first).to_contain_text("Query created")
    # Nothing below reloads the page: this marker would be gone if it did.
    await page.evaluate("window.__same_page = true")
    badge = page.locator(".status-panel .badge")
    assert await badge.inner_text() in ("pending", "running")
    await expect(badge).to_have_text("completed", timeout=20_000)
    await expect(page.locator(".status-panel .progress-text")).to_have_text(
        "15 of 15 pages · 300 records (300 new)"
    )
    await expect(page.locator("table.page-log tbody tr").first).to_contain_text("15")
    await expect(page.locator("#results-heading")).to_contain_text("300")
    assert await page.evaluate("window.__same_page") is True
    assert await page.locator("#action-resume").count() == 0

    # The queries page picks up a new query by itself too.
    await page.goto(f"{origin(ui)}/")
    await page.evaluate("window.__same_page = true")
    new_id = await ui.run("tea total:20")
    row = page.locator("tr", has=page.locator(f"#query-{new_id}"))
    await expect(row.locator(".badge")).to_have_text("completed", timeout=10_000)
    assert await page.evaluate("window.__same_page") is True
    await expect(page.locator("#live-announcer")).to_contain_text("2 queries")


async def test_a_rate_limited_query_shows_why_it_paused_and_resumes(ui: App, page: Page) -> None:
    ui.sim.add_fault(Fault(kind="rate_limit", times=1, after=1, retry_after_s=600))
    query_id = await ui.run("tea total:60")
    paused = await ui.until(query_id, {"paused"})
    await page.goto(f"{origin(ui)}/queries/{query_id}")
    await expect(status_badge(page)).to_have_text("paused")
    await expect(page.locator(".pause-reason")).to_have_text(paused["pause_reason"])
    await expect(page.locator(".pause-reason")).to_contain_text("Rate limit exceeded")
    await expect(page.locator(".resume-hint")).to_contain_text("automatically at")
    assert await page.locator("#action-pause").count() == 0
    await page.locator("#action-resume").click()
    await expect(page.get_by_role("status").first).to_contain_text("Resumed")
    await expect(status_badge(page)).to_have_text("completed", timeout=20_000)
    await expect(page.locator(".status-panel .progress-text")).to_contain_text("60 records")
    assert (await ui.query(query_id))["runs"] == 2


async def test_a_failed_query_shows_the_providers_message(ui: App, page: Page) -> None:
    ui.sim.add_fault(Fault(kind="invalid_key", times=1))
    query_id = await ui.run("books")
    failed = await ui.until(query_id)
    assert failed["status"] == "failed"
    await page.goto(f"{origin(ui)}/queries/{query_id}")
    await expect(status_badge(page)).to_have_text("failed")
    alert = page.locator(".status-panel [role=alert]")
    await expect(alert).to_contain_text(failed["error_code"])
    await expect(page.locator(".provider-message")).to_have_text(failed["error_message"])
    await expect(page.locator("#action-resume")).to_be_visible()


async def test_a_record_with_a_script_is_shown_as_text(ui: App, page: Page) -> None:
    query_id = await ui.run(f"{XSS} total:5")
    await page.goto(f"{origin(ui)}/queries/{query_id}")
    await expect(status_badge(page)).to_have_text("completed", timeout=10_000)
    # Let one live refresh insert the fragment too.
    await page.wait_for_timeout(3500)
    results = page.locator("table.results")
    await expect(results).to_contain_text(XSS)
    await expect(page.locator("h1")).to_contain_text(XSS)
    assert await page.evaluate("typeof window.__xss") == "undefined"
    await page.goto(f"{origin(ui)}/")
    await expect(page.locator(f"#query-{query_id}")).to_contain_text(XSS)
    assert await page.evaluate("typeof window.__xss") == "undefined"


async def until_pages(app: App, query_id: str, pages: int) -> None:
    for _ in range(200):
        if (await app.query(query_id))["pages_fetched"] >= pages:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"query {query_id} did not reach {pages} pages")


async def test_screenshots_of_the_main_pages(ui: App, page: Page, shots: Path) -> None:
    done = await ui.run("coffee", "Austin, TX")
    await ui.run("dentist total:40", "Denver, CO")
    await ui.until(done)
    ui.sim.add_fault(Fault(kind="invalid_key", times=1))
    await ui.until(await ui.run("plumbing", "Portland, OR"))
    paused = await ui.run("bakery total:400", "Madison, WI")
    await until_pages(ui, paused, 2)
    await ui.api.post(f"/api/queries/{paused}/pause")
    await ui.until(paused, {"paused"})
    running = await ui.run("bookshop total:2000", "Raleigh, NC")
    await until_pages(ui, running, 4)
    await page.set_viewport_size({"width": 1280, "height": 720})
    await page.goto(f"{origin(ui)}/")
    await expect(page.locator(".badge-running")).to_have_count(1)
    await page.screenshot(path=str(shots / "app-queries.png"))
    await ui.api.post(f"/api/queries/{running}/cancel")
    await ui.until(running, {"cancelled"})

    await page.goto(f"{origin(ui)}/queries/new")
    await page.get_by_label("q", exact=True).fill("coffee")
    await page.get_by_label("location").fill("Austin, TX")
    await page.get_by_label("Max pages").fill("3")
    await page.screenshot(path=str(shots / "app-new.png"))

    ui.sim.add_fault(Fault(kind="rate_limit", times=1, after=2, retry_after_s=600))
    limited = await ui.run("tea total:120", "Austin, TX")
    await ui.until(limited, {"paused"})
    await page.set_viewport_size({"width": 1280, "height": 1200})
    await page.goto(f"{origin(ui)}/queries/{limited}")
    await expect(page.locator(".pause-reason")).to_be_visible()
    await page.screenshot(path=str(shots / "app-query.png"))
    for name in ("app-queries.png", "app-new.png", "app-query.png"):
        assert (shots / name).stat().st_size > 10_000
