"""The token guard and CSRF protection, on a small app and on the real one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from pagerunner.guard import SESSION_COOKIE, CsrfChecked, Guard, csrf_token

from .conftest import BASE, csrf

TOKEN = "s3cret-token"
BEARER = {"authorization": f"Bearer {TOKEN}"}
HTML = {"accept": "text/html,application/xhtml+xml"}


def small_app(token: str | None) -> FastAPI:
    app = FastAPI()
    Guard(token, public_paths=("/api/inngest",)).install(app)

    @app.get("/page")
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<form><input name=csrf_token value={csrf_token(request)}></form>")

    @app.post("/action")
    async def action(_csrf: CsrfChecked) -> dict[str, bool]:
        return {"done": True}

    @app.get("/api/thing")
    async def thing() -> dict[str, int]:
        return {"n": 1}

    @app.put("/api/inngest")
    async def inngest_endpoint() -> dict[str, bool]:
        return {"synced": True}

    return app


async def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(small_app(TOKEN)) as client:
        yield client


async def test_without_a_token_configured_everything_is_open() -> None:
    async with await _client(small_app(None)) as client:
        assert (await client.get("/api/thing")).status_code == 200
        assert (await client.get("/page", headers=HTML)).status_code == 200
        login = await client.get("/login", params={"next": "/page"})
        assert login.status_code == 303 and login.headers["location"] == "/page"


async def test_the_api_answers_401_without_the_token(guarded: httpx.AsyncClient) -> None:
    response = await guarded.get("/api/thing")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    wrong = await guarded.get("/api/thing", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (await guarded.get("/api/thing", headers=BEARER)).json() == {"n": 1}
    # The Inngest endpoint is public to the guard (it has its own signing).
    assert (await guarded.put("/api/inngest")).status_code == 200


async def test_a_browser_is_sent_to_login_and_the_cookie_lets_it_in(
    guarded: httpx.AsyncClient,
) -> None:
    response = await guarded.get("/page", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/page"
    form = await guarded.get("/login", params={"next": "/page"})
    assert form.status_code == 200 and 'type="password"' in form.text
    wrong = await guarded.post("/login", data={"token": "nope", "next": "/page"})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert SESSION_COOKIE not in guarded.cookies
    login = await guarded.post("/login", data={"token": TOKEN, "next": "/page"})
    assert login.status_code == 303 and login.headers["location"] == "/page"
    cookie = guarded.cookies[SESSION_COOKIE]
    assert TOKEN not in cookie  # the cookie is derived from the token, not the token
    assert (await guarded.get("/page", headers=HTML)).status_code == 200
    assert (await guarded.get("/api/thing")).status_code == 200


async def test_each_login_is_a_fresh_session_with_safe_cookie_attributes(
    guarded: httpx.AsyncClient,
) -> None:
    first = await guarded.post("/login", data={"token": TOKEN})
    second = await guarded.post("/login", data={"token": TOKEN})
    cookies = [first.cookies[SESSION_COOKIE], second.cookies[SESSION_COOKIE]]
    assert cookies[0] != cookies[1]
    attributes = first.headers["set-cookie"].lower()
    assert "httponly" in attributes and "samesite=strict" in attributes
    assert "max-age=43200" in attributes and "secure" not in attributes
    for cookie in cookies:
        guarded.cookies.set(SESSION_COOKIE, cookie)
        assert (await guarded.get("/api/thing")).status_code == 200


async def test_a_session_expires_and_cannot_be_forged_or_extended() -> None:
    guard = Guard(TOKEN, session_ttl_s=60)
    cookie = guard.new_session(now=1_000_000)
    assert guard.session_valid(cookie, now=1_000_059)
    assert not guard.session_valid(cookie, now=1_000_060)
    session_id, expires, mac = cookie.split(".")
    assert not guard.session_valid(f"{session_id}.{int(expires) + 3600}.{mac}", now=1_000_059)
    assert not guard.session_valid(f"{session_id}.{expires}.{'0' * len(mac)}", now=1_000_000)
    assert not guard.session_valid("garbage", now=1_000_000)
    # Another token (a rotated one) ends every session.
    assert not Guard("rotated", session_ttl_s=60).session_valid(cookie, now=1_000_000)


async def test_logout_ends_the_browser_session(guarded: httpx.AsyncClient) -> None:
    await guarded.post("/login", data={"token": TOKEN})
    assert (await guarded.get("/api/thing")).status_code == 200
    out = await guarded.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert SESSION_COOKIE not in guarded.cookies
    assert (await guarded.get("/api/thing")).status_code == 401


@pytest.mark.parametrize(("base", "setting"), [("https://testserver", False), (BASE, True)])
async def test_cookies_are_secure_over_https_or_behind_a_tls_proxy(
    base: str, setting: bool
) -> None:
    app = FastAPI()
    Guard(TOKEN, secure_cookies=setting).install(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        login = await client.post("/login", data={"token": TOKEN})
        assert login.status_code == 303
        assert "secure" in login.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "",
    ],
)
async def test_login_never_redirects_off_site(guarded: httpx.AsyncClient, target: str) -> None:
    login = await guarded.post("/login", data={"token": TOKEN, "next": target})
    assert login.status_code == 303
    assert login.headers["location"] == "/"
    async with await _client(small_app(None)) as open_client:
        response = await open_client.get("/login", params={"next": target})
        assert response.headers["location"] == "/"


async def test_a_post_needs_the_csrf_token(guarded: httpx.AsyncClient) -> None:
    guarded.headers.update(BEARER)
    token = await csrf(guarded, "/page")
    without = await guarded.post("/action", data={"other": "x"})
    assert without.status_code == 403
    assert "CSRF" in without.json()["detail"]
    wrong = await guarded.post("/action", data={"csrf_token": "forged"})
    assert wrong.status_code == 403
    assert (await guarded.post("/action", data={"csrf_token": token})).json() == {"done": True}
    header = await guarded.post("/action", headers={"x-csrf-token": token})
    assert header.status_code == 200


async def test_a_cross_site_post_is_refused_even_with_the_token(
    guarded: httpx.AsyncClient,
) -> None:
    guarded.headers.update(BEARER)
    token = await csrf(guarded, "/page")
    response = await guarded.post(
        "/action", data={"csrf_token": token}, headers={"sec-fetch-site": "cross-site"}
    )
    assert response.status_code == 403
    same = await guarded.post(
        "/action", data={"csrf_token": token}, headers={"sec-fetch-site": "same-origin"}
    )
    assert same.status_code == 200


# -- the real app ---------------------------------------------------------------------------


@pytest.fixture
async def real(make_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(api_token=TOKEN)
    async with await _client(app) as client:
        yield client


async def test_the_app_requires_the_token_for_the_api_and_the_pages(
    real: httpx.AsyncClient,
) -> None:
    assert (await real.get("/api/queries")).status_code == 401
    assert (await real.get("/api/queries", headers=BEARER)).json()["total"] == 0
    page = await real.get("/queries/new", headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/queries/new"
    assert (await real.get("/healthz")).status_code == 200
    assert (await real.get("/static/app.css")).status_code == 200
    # The Inngest endpoint answers for itself: the SDK refuses the unsigned call.
    inngest_endpoint = await real.get("/api/inngest")
    assert inngest_endpoint.status_code == 401
    assert inngest_endpoint.json() == {"message": "Unauthorized"}  # not the guard's answer
    await real.post("/login", data={"token": TOKEN, "next": "/queries/new"})
    form = await real.get("/queries/new", headers=HTML)
    assert form.status_code == 200 and 'name="params.q"' in form.text
    assert 'action="/logout"' in form.text  # a signed-in browser can sign out


async def test_the_app_refuses_form_posts_without_csrf_and_cross_site_posts(
    real: httpx.AsyncClient,
) -> None:
    real.headers.update(BEARER)
    await csrf(real)
    no_csrf = await real.post("/queries/new", data={"source": "demo", "params.q": "x"})
    assert no_csrf.status_code == 403
    cross_site = await real.post(
        "/api/queries/run",
        json={"source": "demo", "params": {"q": "x"}},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert cross_site.status_code == 403
    assert (await real.get("/api/queries")).json()["total"] == 0


async def test_the_app_without_a_token_is_open(make_app: Any) -> None:
    async with await _client(make_app()) as client:
        assert (await client.get("/api/queries")).status_code == 200
        assert (await client.get("/", headers=HTML)).status_code == 200
