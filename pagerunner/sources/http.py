"""The HTTP client that sources call providers with.

It keeps no cookies. A source's client serves every credential of the source
(and a registry shares one among the sources defined by files), so a cookie a
provider set on one credential's answer would go out with every later request to
that host, whatever the credential: a session of one key riding on another's
requests. Providers of paginated JSON APIs authenticate by key, not by cookie,
so nothing is lost.
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx

__all__ = ["provider_client"]


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing: requests never carry a `Cookie` header."""

    def set_cookie(self, cookie: Cookie) -> None:
        pass

    def extract_cookies(self, response: Any, request: Any) -> None:
        pass


def provider_client(timeout_s: float) -> httpx.AsyncClient:
    """A new client for provider requests (see the module's docstring)."""
    return httpx.AsyncClient(timeout=timeout_s, cookies=_NoCookies())
