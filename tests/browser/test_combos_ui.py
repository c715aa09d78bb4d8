"""Combos and usage in a real browser: the live count, a combo completing, requests counted.

Screenshots go to $PAGERUNNER_SCREENSHOTS when it is set (the README's images:
`PAGERUNNER_SCREENSHOTS=docs/screenshots uv run pytest tests/browser/test_combos_ui.py`),
otherwise to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from pagerunner.simulator import Fault
from tests.e2e.conftest import App, fast_settings, running_app

from .conftest import origin

pytestmark = pytest.mark.browser

COMBO_URL = re.compile(r"/combos/[0-9A-Z]{26}(\?.*)?$")
DEMO_KEY = "env:PAGERUNNER_DEMO_API_KEY"


@pytest.fixture
async def ui(tmp_path: Path) -> AsyncIterator[App]:
    # A small delay between pages, so progress is visible while the page watches.
    settings = fast_settings(
        str(tmp_path / "combos.db"),
        page_delay_s=0.2,
        demo_daily_budget=500,
        demo_monthly_budget=10_000,
        demo_rate_per_s=50,
    )
    async with running_app(settings) as app:
        yield app


async def combo(app: App, combo_id: str) -> dict[str, Any]:
    response = await app.api.get(f"/api/combos/{combo_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_the_combos_form_counts_then_the_combo_completes_before_your_eyes(
    ui: App, page: Page
) -> None:
    await page.goto(f"{origin(ui)}/combos/new?source=demo")
    count = page.locator("#combo-count")
    q = page.get_by_label("q", exact=True)
    # Typed like a user: Enter starts a new line (a new value), a repeat counts once.
    await q.press_sequentially("coffee total:40\ntea total:40\ncoffee total:40\n")
    await expect(count).to_have_text(re.compile(r"^2 queries will be created"))
    await page.get_by_label("location").press_sequentially("Austin, TX\n\nDallas, TX")
    await expect(count).to_have_text(re.compile(r"^4 queries will be created"))
    await expect(count).to_have_attribute("data-count", "4")
    await page.get_by_label("location").fill("\n".join(f"city {i}" for i in range(501)))
    await expect(count).to_have_text("1002 combinations: more than the cap of 1000 queries.")
    await page.get_by_label("location").fill("Austin, TX\nDallas, TX")
    await expect(count).to_contain_text("4 queries")
    assert page.url.endswith("/combos/new?source=demo")  # all of it before any submit
    assert (await ui.api.get("/api/queries")).json()["total"] == 0

    # The server's preview: the exact count, nothing created yet.
    await page.get_by_role("button", name="Preview the count").click()
    await expect(count).to_contain_text("4 queries will be created: the exact count")
    assert (await ui.api.get("/api/queries")).json()["total"] == 0

    await page.get_by_role("button", name="Create the queries").click()
    await page.wait_for_url(COMBO_URL)
    await expect(page.get_by_role("status").first).to_contain_text("Combo created")
    # Nothing below reloads the page: this marker would be gone if it did.
    await page.evaluate("window.__same_page = true")
    badge = page.locator(".status-panel .status-line .badge")
    await expect(badge).to_have_text("completed", timeout=30_000)
    await expect(page.locator(".status-panel .progress-text")).to_have_text(
        "4 of 4 queries completed · 8 pages · 160 records (160 new) · 160 distinct"
    )
    rows = page.locator("table.combo-queries tbody tr")
    await expect(rows).to_have_count(4)
    await expect(rows.locator(".badge-completed")).to_have_count(4)
    assert await page.evaluate("window.__same_page") is True
    await expect(page.locator("#live-announcer")).to_contain_text("Combo completed")

    # A member query's page links back to the combo.
    await rows.first.locator("a").click()
    await page.locator("#query-combo").click()
    await page.wait_for_url(COMBO_URL)


async def test_the_usage_page_counts_the_requests_as_they_are_sent(ui: App, page: Page) -> None:
    await page.goto(f"{origin(ui)}/usage")
    row = page.locator(f'tr[data-credential="{DEMO_KEY}"]')
    await expect(row.locator(".requests-today")).to_have_text("0")
    await page.evaluate("window.__same_page = true")
    query_id = await ui.run("coffee total:60")  # 20 records a page: 3 requests
    assert (await ui.until(query_id))["status"] == "completed"
    await expect(row.locator(".requests-today")).to_have_text("3", timeout=10_000)
    await expect(row.locator(".requests-month")).to_have_text("3")
    await expect(row.locator(".budget-text").first).to_have_text("3 of 500 (1%)")
    await expect(row.locator("meter").first).to_have_attribute("value", "3")
    await expect(row.locator(".rates")).to_have_text("50 per second")
    await expect(row.locator(".backoff")).to_have_text("none")
    assert await page.evaluate("window.__same_page") is True


async def until_pages(app: App, query_id: str, pages: int) -> None:
    for _ in range(400):
        if (await app.query(query_id))["pages_fetched"] >= pages:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"query {query_id} did not reach {pages} pages")


async def test_screenshots_of_a_combo_and_the_usage_page(ui: App, page: Page, shots: Path) -> None:
    body = {
        "source": "demo",
        "params": {
            "q": ["coffee", "tea total:80", "bakery total:2000"],
            "location": ["Austin, TX", "Dallas, TX"],
        },
    }
    created = (await ui.api.post("/api/combos", json=body)).json()
    ids = created["query_ids"]
    for query_id in ids:
        if "bakery" not in (await ui.query(query_id))["params"]["q"]:
            await ui.until(query_id)
    slow = [i for i in ids if "bakery" in (await ui.query(i))["params"]["q"]]
    await until_pages(ui, slow[0], 6)
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"{origin(ui)}/combos/{created['id']}")
    await expect(page.locator(".combo-queries .badge-running")).to_have_count(2)
    await page.screenshot(path=str(shots / "app-combos.png"))
    for query_id in slow:
        await ui.api.post(f"/api/queries/{query_id}/cancel")
        await ui.until(query_id, {"cancelled"})

    # A 429 makes every query on the credential back off: the usage page says until when.
    ui.sim.add_fault(Fault(kind="rate_limit", times=1, after=1, retry_after_s=600))
    await ui.until(await ui.run("tea total:60", "Austin, TX"), {"paused"})
    await page.set_viewport_size({"width": 1280, "height": 720})
    await page.goto(f"{origin(ui)}/usage")
    row = page.locator(f'tr[data-credential="{DEMO_KEY}"]')
    await expect(row.locator(".blocked")).to_contain_text("blocked until")
    await page.screenshot(path=str(shots / "app-usage.png"))
    for name in ("app-combos.png", "app-usage.png"):
        assert (shots / name).stat().st_size > 10_000
