"""How the executor reaches apps: HTTP to any URL, or in-process through ASGI.

Apps elsewhere are called with one `httpx.AsyncClient`. An app embedded in the
same process is registered by origin and called as an ASGI application directly
(one scope, one body, the response collected): the same protocol bytes are
exchanged, without httpx's request machinery, which cost more than the app's own
work per call (and its ASGI transport tries to import `sniffio` on every call).
Errors become `TransportError` here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from .errors import TransportError

__all__ = ["AppResponse", "AppTransport"]


@dataclass(frozen=True)
class AppResponse:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


class AppTransport:
    """Sends requests to apps; `asgi_apps` maps an origin to an in-process app."""

    def __init__(self, *, timeout_s: float = 600.0, asgi_apps: Mapping[str, Any] | None = None):
        self._asgi_apps = {origin.rstrip("/"): app for origin, app in (asgi_apps or {}).items()}
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def request(
        self, method: str, url: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> AppResponse:
        parts = urlsplit(url)
        app = self._asgi_apps.get(f"{parts.scheme}://{parts.netloc}")
        try:
            # httpx's timeout does not apply to in-process (ASGI) apps; this one does.
            async with asyncio.timeout(self._timeout_s):
                if app is not None:
                    return await _call_asgi(app, method, url, body, headers or {})
                response = await self._client.request(method, url, content=body, headers=headers)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise TransportError(f"timed out calling {url}: {exc.__class__.__name__}") from exc
        except httpx.HTTPError as exc:
            raise TransportError(
                f"could not reach {url}: {exc!s} ({exc.__class__.__name__})"
            ) from exc
        except Exception as exc:  # an in-process app that crashed outside its handler
            raise TransportError(f"app at {url} raised {exc.__class__.__name__}: {exc}") from exc
        return AppResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


async def _call_asgi(
    app: Any, method: str, url: str, body: bytes, headers: Mapping[str, str]
) -> AppResponse:
    """One HTTP request to an ASGI application in this process; its exceptions propagate."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": parts.scheme,
        "path": unquote(parts.path),
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [
            (b"host", parts.netloc.encode()),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 0),
        "server": (host, port),
    }
    answered = asyncio.Event()
    request_sent = False
    status = 500
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()  # an app listening for a disconnect hears it once answered
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for name, value in message.get("headers", ()):
                response_headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    try:
        await app(scope, receive, send)
    finally:
        answered.set()
    return AppResponse(status=status, headers=response_headers, body=b"".join(chunks))
