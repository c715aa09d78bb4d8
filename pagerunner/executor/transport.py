"""How the executor reaches apps: HTTP to any URL, or in-process through ASGI.

Both go through one `httpx.AsyncClient`; an app embedded in the same process
is mounted by origin, so the executor code never knows the difference and the
same protocol bytes are exchanged either way. httpx errors become
`TransportError` here and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
        mounts: dict[str, httpx.AsyncBaseTransport] = {
            origin.rstrip("/"): httpx.ASGITransport(app=app)
            for origin, app in (asgi_apps or {}).items()
        }
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            mounts=mounts,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def request(
        self, method: str, url: str, *, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> AppResponse:
        try:
            # httpx's timeout does not apply to in-process (ASGI) apps; this one does.
            async with asyncio.timeout(self._timeout_s):
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
