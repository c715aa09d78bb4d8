"""What the command groups share: options, settings from flags, `key=value` parsing, the API client.

Every group module imports this one; it imports no group, nor the package's
`__init__` (which assembles the groups into the `pagerunner` command).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from ..remote import ApiClient, ApiError
from ..settings import Settings

__all__ = [
    "ApiUrl",
    "Deliver",
    "LogLevel",
    "Webhook",
    "key_value",
    "load_settings",
    "parse_params",
    "run_server",
    "stop_signals",
    "with_api",
    "with_endings",
]

console = Console(stderr=True)

LogLevel = Annotated[
    str, typer.Option("--log-level", envvar="PAGERUNNER_LOG_LEVEL", help="debug, info, warning")
]

ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="PAGERUNNER_API_URL",
        help="A running pagerunner (default http://127.0.0.1:<PAGERUNNER_PORT>).",
    ),
]

Webhook = Annotated[
    str | None,
    typer.Option(
        "--webhook",
        help="A URL called (signed) when the query ends: completed, failed or paused.",
    ),
]
Deliver = Annotated[
    str | None,
    typer.Option(
        "--deliver",
        help="A destination its records are loaded into when it completes "
        "(e.g. duckdb:///leads.duckdb; see docs/destinations.md).",
    ),
]


def with_endings(body: dict[str, Any], webhook: str | None, deliver: str | None) -> dict[str, Any]:
    """`body` of a query or combo, with its webhook and delivery when given."""
    if webhook is not None:
        body["webhook"] = webhook
    if deliver is not None:
        body["deliver"] = {"destination": deliver}
    return body


@contextlib.asynccontextmanager
async def stop_signals() -> AsyncIterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM, handled from before the servers start.

    Entered first, so a signal during start-up is not lost (nor kills the process
    half-started); the caller's other context managers then stop cleanly.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


T = TypeVar("T")


def run_server(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived server coroutine on uvloop where it is installed (not on Windows),
    else on asyncio's own loop. uvloop is the loop uvicorn picks for itself in production;
    the executor's calls, timers and thread hand-offs all cost less CPU on it."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise typer.BadParameter(problems) from exc


def key_value(item: str) -> tuple[str, str]:
    """One `-p key=value` option, split; a malformed one is a usage error."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint="--param")
    return key.strip(), value


def parse_params(items: list[str]) -> dict[str, str]:
    """`-p key=value` options as a dict (a repeated key: the last value wins)."""
    return dict(key_value(item) for item in items)


def with_api(api_url: str | None, action: Any) -> Any:
    """Run `action(api)` against a running pagerunner; an API error exits 1 with its message."""
    settings = load_settings()

    async def go() -> Any:
        async with ApiClient(api_url or settings.app_origin, token=settings.token) as api:
            return await action(api)

    try:
        return asyncio.run(go())
    except ApiError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
