"""Access control for pagerunner's web apps: an optional API token, and CSRF protection.

Shared infrastructure (like `sqlstore`): the app and the executor dashboard both
install it, and it knows nothing about either.

- **Token** (`PAGERUNNER_API_TOKEN`): when set, every request except the public
  paths (`/login`, the probes `/healthz` and `/readyz`, static files) needs
  `Authorization: Bearer <token>` or the session cookie that `/login` sets
  after the token is typed in. Browsers asking for a page are sent
  to `/login`; API clients get a 401. Each sign-in is a new random session
  that expires (`session_ttl_s`); the cookie holds its id, its expiry and an
  HMAC over both under a key derived from the token, so changing the token ends
  every session. Cookies are `HttpOnly` (the session), `SameSite=Strict`, and
  `Secure` when the request came over HTTPS or `secure_cookies` says a proxy
  in front terminates TLS. `POST /logout` ends the browser's session.
- **CSRF**: each browser gets a random `pagerunner_csrf` cookie; every form and
  htmx request that changes state must send the same value back (form field
  `csrf_token` or header `X-CSRF-Token`), checked by the `verify_csrf`
  dependency. Independently, any state-changing request that a browser marks as
  cross-site (`Sec-Fetch-Site: cross-site`) is refused, so a web page elsewhere
  cannot drive a pagerunner on localhost.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "CsrfChecked", "Guard", "csrf_token", "verify_csrf"]

CSRF_COOKIE = "pagerunner_csrf"
SESSION_COOKIE = "pagerunner_session"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (created on first use; the middleware sets the cookie)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return str(token)


async def verify_csrf(request: Request) -> None:
    """Dependency for state-changing UI routes: the form or header must echo the cookie."""
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf_token") or "")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(status_code=403, detail="CSRF check failed: reload the page and retry")


CsrfChecked = Annotated[None, Depends(verify_csrf)]


class Guard:
    """Installs the token check, browser sessions and the CSRF cookie on an app."""

    def __init__(
        self,
        api_token: str | None,
        *,
        public_paths: Sequence[str] = (),
        session_ttl_s: float = 12 * 3600,
        secure_cookies: bool = False,
    ) -> None:
        self.api_token = api_token or None
        self.public_paths = ("/login", "/healthz", "/readyz", "/static/", *public_paths)
        self.session_ttl_s = session_ttl_s
        self.secure_cookies = secure_cookies

    def _session_mac(self, payload: str) -> str:
        assert self.api_token is not None
        key = hmac.new(self.api_token.encode(), b"pagerunner/session", hashlib.sha256).digest()
        return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()

    def new_session(self, now: float | None = None) -> str:
        """A session cookie value for one sign-in: `<random id>.<expiry>.<mac>`."""
        expires = int((time.time() if now is None else now) + self.session_ttl_s)
        payload = f"{secrets.token_urlsafe(18)}.{expires}"
        return f"{payload}.{self._session_mac(payload)}"

    def session_valid(self, cookie: str, now: float | None = None) -> bool:
        """Whether `cookie` is a session this guard issued and that has not expired."""
        payload, _, mac = cookie.rpartition(".")
        expires = payload.rpartition(".")[2]
        if not mac or not expires.isdigit() or len(cookie) > 200:
            return False
        signed = hmac.compare_digest(mac.encode(), self._session_mac(payload).encode())
        return signed and int(expires) > (time.time() if now is None else now)

    def allows(self, request: Request) -> bool:
        if self.api_token is None or request.url.path.startswith(tuple(self.public_paths)):
            return True
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(
            header[7:].encode(), self.api_token.encode()
        ):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and self.session_valid(cookie)

    def secure(self, request: Request) -> bool:
        """Whether cookies set in answer to `request` get the `Secure` attribute."""
        return self.secure_cookies or request.url.scheme == "https"

    def install(self, app: FastAPI) -> None:
        app.add_middleware(_GuardMiddleware, guard=self)
        app.include_router(self._login_router())

    def _login_router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        @router.get("/login")
        async def login_form(request: Request, next: str = "/") -> HTMLResponse:
            if self.api_token is None:
                return HTMLResponse(status_code=303, headers={"location": _safe_next(next)})
            return HTMLResponse(_LOGIN_PAGE.format(next=quote(_safe_next(next)), error=""))

        @router.post("/login")
        async def login(
            request: Request,
            token: Annotated[str, Form(max_length=1000)],
            next: Annotated[str, Form(max_length=2000)] = "/",
        ) -> Response:
            if self.api_token is None or not hmac.compare_digest(
                token.encode(), self.api_token.encode()
            ):
                page = _LOGIN_PAGE.format(
                    next=quote(_safe_next(next)), error="<p role=alert>That token is not valid.</p>"
                )
                return HTMLResponse(page, status_code=401)
            response = RedirectResponse(_safe_next(next), status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                self.new_session(),
                max_age=int(self.session_ttl_s),
                httponly=True,
                samesite="strict",
                secure=self.secure(request),
            )
            return response

        @router.post("/logout")
        async def logout(request: Request) -> Response:
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(
                SESSION_COOKIE, httponly=True, samesite="strict", secure=self.secure(request)
            )
            return response

        return router


class _GuardMiddleware:
    """The guard as plain ASGI: a refusal answers at once; an allowed request passes
    through untouched, and its answer gets the CSRF cookie a page created on the way.

    (Not `@app.middleware("http")`: that wraps every request and answer in a task
    group and memory streams, a cost paid by every call of the executor into the app.)
    """

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            new = scope.get("state", {}).get("new_csrf")
            if (
                message["type"] == "http.response.start"
                and new
                and not request.cookies.get(CSRF_COOKIE)
            ):
                cookie = Response()
                secure = self.guard.secure(request)
                cookie.set_cookie(CSRF_COOKIE, new, samesite="strict", secure=secure)
                set_cookie = [h for h in cookie.raw_headers if h[0] == b"set-cookie"]
                message = {**message, "headers": [*message.get("headers", ()), *set_cookie]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _refusal(self, request: Request) -> Response | None:
        if request.method in UNSAFE and request.headers.get("sec-fetch-site") == "cross-site":
            return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
        if self.guard.allows(request):
            return None
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return JSONResponse(
            {"detail": "authentication required: send Authorization: Bearer <token>"},
            status_code=401,
        )


def _safe_next(target: str) -> str:
    """Only same-site paths: never redirect to another host after login.

    Browsers read `/\\host` as `//host` and drop tabs and newlines from URLs, so
    backslashes and control characters are refused along with `//`.
    """
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    return target


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - pagerunner</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;margin:.4rem 0;font-size:1rem}}
input,button{{padding:.5rem}}[role=alert]{{color:#a40000}}</style></head>
<body><main><h1>pagerunner</h1>{error}
<form method="post" action="/login"><input type="hidden" name="next" value="{next}">
<label for="token">API token (PAGERUNNER_API_TOKEN)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form></main></body></html>"""
