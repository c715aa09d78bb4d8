"""The Schedules pages in a real browser: a form error next to its field, a schedule
created, its tick shown with what was new, pause and delete."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.test_schedules import Scheduled, iso, scheduled_app

from .conftest import origin

pytestmark = pytest.mark.browser


@pytest.fixture
async def s(tmp_path: Path) -> AsyncIterator[Scheduled]:
    async with scheduled_app(tmp_path) as value:
        yield value


async def test_a_schedule_from_the_form_to_its_ticks(s: Scheduled, page: Page, shots: Path) -> None:
    await page.goto(f"{origin(s.app)}/schedules")
    await expect(page.get_by_role("link", name="Schedules")).to_have_attribute(
        "aria-current", "page"
    )
    await page.get_by_label("Parameters").fill("q=ui total:30\nlocation=A\nlocation=B")
    await page.get_by_label("Cron").fill("@hourly")
    await page.get_by_role("button", name="Create the schedule").click()
    await expect(page.locator("#schedule-cron-error")).to_contain_text(
        "Inngest does not accept descriptors"
    )
    await expect(page.get_by_label("Parameters")).to_have_value(
        "q=ui total:30\nlocation=A\nlocation=B"
    )
    await page.get_by_label("Cron").fill("* * * * *")
    await page.get_by_label("Name").fill("ui leads")
    await page.get_by_role("button", name="Create the schedule").click()
    await expect(page).to_have_url(re.compile(r"/schedules/[0-9A-Z]{26}$"))
    schedule_id = page.url.rsplit("/", 1)[1]
    next_tick = iso(s.clock.minute(1))
    await expect(page.locator("#next-tick time")).to_have_attribute("datetime", next_tick)

    await s.minute(1)
    await s.tick(schedule_id, 1)
    await page.reload()
    row = page.locator("table.ticks tbody tr").first
    await expect(row.locator(".badge")).to_have_text("completed")
    await expect(row.locator(".new-records")).to_have_text("60")
    await expect(row.get_by_role("link", name="new records (CSV)")).to_be_visible()
    await page.screenshot(path=str(shots / "schedule.png"), full_page=True)

    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator(".facts .badge")).to_have_text("paused")
    await expect(page.locator("#next-tick")).to_have_text("none")
    await page.goto(f"{origin(s.app)}/schedules")
    await expect(page.locator(f"#schedule-{schedule_id}")).to_contain_text("ui leads")
    await page.goto(f"{origin(s.app)}/schedules/{schedule_id}")
    await page.get_by_role("button", name="Delete").click()
    await expect(page).to_have_url(re.compile(r"/schedules$"))
    await expect(page.locator("table.schedules")).to_contain_text("No schedules yet")
