"""One webhook attempt over HTTP, to the address that was checked.

The host is resolved and checked once (`address.resolve`); the request then goes
to that IP address, with the original `Host` header and, for https, the
original name for SNI and certificate checks, so nothing resolves the name a
second time. Redirects are not followed (a 3xx is a failed delivery that is not
retried), no proxy from the environment is used, the whole attempt has a
deadline, and at most `MAX_ANSWER_BYTES` of the answer are read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlunsplit

import httpx

from .address import WebhookError, resolve

__all__ = ["MAX_ANSWER_BYTES", "DeliveryFailed", "WebhookSender"]

MAX_ANSWER_BYTES = 4096
#: How much of a failed answer is kept in the error shown on the query's page.
ANSWER_EXCERPT_CHARS = 200


class DeliveryFailed(WebhookError):
    """The webhook attempt failed."""

    def __init__(
        self, message: str, *, response_status: int | None = None, retriable: bool = True
    ) -> None:
        super().__init__(message)
        self.response_status = response_status
        self.retriable = retriable


class WebhookSender:
    """Sends webhook bodies; `transport` replaces the network in tests."""

    def __init__(
        self,
        *,
        timeout_s: float,
        allow_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self._transport = transport

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST `body` to `url`; the answer's status when it is 2xx, else `DeliveryFailed`.

        Raises `WebhookRefused` for an address that may not be called.
        """
        parts, address = await resolve(url, allow_private=self.allow_private)
        host = f"[{address}]" if ":" in address else address
        pinned = parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host)
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        try:
            async with (
                asyncio.timeout(self.timeout_s),
                httpx.AsyncClient(
                    timeout=self.timeout_s,
                    follow_redirects=False,
                    trust_env=False,
                    transport=self._transport,
                ) as client,
                client.stream(
                    "POST",
                    urlunsplit(pinned),
                    content=body,
                    headers={**headers, "Host": parts.netloc},
                    extensions=extensions,
                ) as response,
            ):
                answer = await _read_some(response)
        except TimeoutError as exc:
            raise DeliveryFailed(f"no answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        return _outcome(response.status_code, answer)


async def _read_some(response: httpx.Response) -> bytes:
    read = b""
    async for chunk in response.aiter_raw():
        read += chunk
        if len(read) >= MAX_ANSWER_BYTES:
            break
    return read[:MAX_ANSWER_BYTES]


def _outcome(status: int, answer: bytes) -> int:
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:
        raise DeliveryFailed(
            f"answered {status}, a redirect: redirects are not followed; give the final URL",
            response_status=status,
            retriable=False,
        )
    excerpt = answer.decode("utf-8", "replace").strip()[:ANSWER_EXCERPT_CHARS]
    raise DeliveryFailed(
        f"answered {status}" + (f": {excerpt}" if excerpt else ""), response_status=status
    )
