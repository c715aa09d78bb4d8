"""`pagerunner sources list|check`: the sources this configuration defines, and one live call.

Both commands load sources exactly as the app does (`SourceRegistry.from_settings`).
They show which environment variable holds each credential and whether it is
set, never its value; `check` redacts every secret from what it prints.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..sources.base import Checkpoint, Page, SourceError
from ..sources.classify import redact
from ..sources.registry import SourceRegistry
from ..sources.sourcefile import SourceSpecError
from .common import load_settings, parse_params

__all__ = ["sources_app"]

sources_app = typer.Typer(
    help="Sources: list those defined here, or check one with a live request.",
    no_args_is_help=True,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _registry() -> SourceRegistry:
    try:
        return SourceRegistry.from_settings(load_settings())
    except SourceSpecError as exc:
        err.print(f"[red]invalid source definition[/]\n{escape(str(exc))}")
        raise typer.Exit(2) from None


@sources_app.command("list")
def list_sources() -> None:
    """Every source: where it is defined, its params, and its credential's variable."""
    registry = _registry()
    try:
        for name in registry.names():
            source = registry.get(name)
            required = set(getattr(source, "required_params", ()))
            params = [
                f"{p}{' (required)' if p in required else ''}: {help_text}"
                for p, help_text in source.params_help.items()
            ]
            out.print(f"[bold]{escape(name)}[/]  [dim]{escape(registry.origin(name))}[/]")
            if source.description:
                out.print(f"  {source.description}", markup=False)
            for line in params or ["(no params)"]:
                out.print(f"  param  {line}", markup=False)
            for line in _credential_status(
                registry.credential_env(name), registry.credentials(name), name == "demo"
            ):
                out.print(f"  credential  {line}")
            out.print()
    finally:
        asyncio.run(registry.aclose())


def _credential_status(
    env_names: Mapping[str, str], values: Mapping[str, str], built_in: bool
) -> list[str]:
    if not env_names:
        return ["none needed"]
    lines = []
    for credential, var in env_names.items():
        if not values.get(credential):
            state = "[red]not set[/]"
        else:
            state = "[green]set[/]" + (" (or its default)" if built_in else "")
        lines.append(f"{escape(var)}: {state}")
    return lines


@sources_app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="The source to call.")],
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="A parameter, key=value (repeatable).")
    ] = None,
) -> None:
    """Fetch page 1 of NAME once and show what came back (secrets redacted)."""
    params = parse_params(param or [])
    registry = _registry()
    code = asyncio.run(_check(registry, name, params))
    raise typer.Exit(code)


async def _check(registry: SourceRegistry, name: str, params: dict[str, str]) -> int:
    try:
        source = registry.get(name)
        credentials = registry.credentials(name)
        secrets = [v for v in credentials.values() if v]
        try:
            valid = source.validate_params(params)
            page = await source.fetch_page(valid, Checkpoint(), credentials)
        except SourceError as exc:
            err.print(f"[red]{exc.code}[/]: {escape(redact(exc.message, secrets))}")
            return 1
        for line in _describe(name, registry.origin(name), page):
            out.print(redact(line, secrets), markup=False)
        return 0
    finally:
        await registry.aclose()


def _describe(name: str, origin: str, page: Page) -> list[str]:
    first = page.records[0] if page.records else None
    lines = [
        f"source:       {name} ({origin})",
        f"status:       HTTP {page.http_status}",
        f"records:      {len(page.records)}",
        f"first key:    {first.key if first else '-'}",
        f"first fields: {_short(dict(first.data)) if first else '-'}",
        f"next:         {_next(page)}",
    ]
    if page.rate_limit is not None:
        lines.append(
            f"rate limit:   remaining={page.rate_limit.remaining} "
            f"reset_at={page.rate_limit.reset_at}"
        )
    headers = page.meta.get("rate_limit_headers")
    if headers:
        lines.append(f"headers:      {_short(headers)}")
    extra = {k: v for k, v in page.meta.items() if k != "rate_limit_headers"}
    if extra:
        lines.append(f"meta:         {_short(extra)}")
    return lines


def _next(page: Page) -> str:
    checkpoint = page.next_checkpoint
    if checkpoint is None:
        return "none (this was the last page)"
    return f"page {checkpoint.page}, cursor {checkpoint.cursor}"


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + " …"
