"""Which webhook URLs may be called, and to which addresses a call may connect.

A URL is http or https, at most `MAX_URL_CHARS` long, with a host and without
user info (credentials would be stored with the query). Unless private
addresses are allowed, a host that is an IP literal (or `localhost`) must be a
public address at creation, and at send time every address the host resolves to
must be public: the caller then connects to the address that was checked, never
resolving again, so a DNS answer that changes in between (rebinding) cannot
point the call elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

__all__ = ["MAX_URL_CHARS", "WebhookError", "WebhookRefused", "check_url", "resolve"]

MAX_URL_CHARS = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookError(Exception):
    """The webhook could not be delivered."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class WebhookRefused(WebhookError):
    """The webhook URL may not be called."""


def _parts(url: str) -> SplitResult:
    if len(url) > MAX_URL_CHARS:
        raise WebhookRefused(f"at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise WebhookRefused(f"not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused("an http:// or https:// URL")
    if not parts.hostname:
        raise WebhookRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("no user or password in the URL: they would be stored in clear")
    if any(c.isspace() for c in url):
        raise WebhookRefused("no spaces in the URL")
    return parts


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _refused_address(host: str, address: IPAddress) -> WebhookRefused:
    return WebhookRefused(
        f"{host} is {address}, a loopback, private, link-local or otherwise non-public address; "
        "set PAGERUNNER_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    )


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may be given to a query or a combo; raises `WebhookRefused` saying why.

    Host names are resolved only when the call is made (`resolve`); here only
    IP literals and `localhost` are checked against the address rule.
    """
    host = _parts(url).hostname or ""
    if allow_private:
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise WebhookRefused(
            f"{host} is the loopback interface; "
            "set PAGERUNNER_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )
    address = _literal(host)
    if address is not None and not _public(address):
        raise _refused_address(host, address)
    return url


async def resolve(url: str, *, allow_private: bool) -> tuple[SplitResult, str]:
    """The URL's parts and the one address to connect to, checked; raises `WebhookRefused`.

    Every address the host resolves to must be allowed, not just the first, so
    that a name with one public and one private address is refused whole.
    """
    parts = _parts(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise WebhookError(f"cannot resolve {host}: {exc}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise WebhookError(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            if not _public(address):
                raise _refused_address(host, address)
    return parts, str(addresses[0])
