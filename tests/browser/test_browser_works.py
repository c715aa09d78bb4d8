"""The browser set-up itself: Chromium renders a page served over loopback."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.async_api import Page

from pagerunner.executor import serve_http
from tests.conftest import free_port


async def test_chromium_renders_a_local_page_and_runs_its_script(page: Page) -> None:
    app = FastAPI()

    @app.get("/")
    def index() -> HTMLResponse:
        return HTMLResponse(
            "<h1 id=t>static</h1><script>document.getElementById('t').textContent='live'</script>"
        )

    port = free_port()
    async with serve_http(app, host="127.0.0.1", port=port):
        await page.goto(f"http://127.0.0.1:{port}/")
        assert await page.text_content("#t") == "live"
