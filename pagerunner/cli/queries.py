"""CLI commands that work on queries: `serve`, `run` and `queries ...` (`export`: its own module).

`serve` runs everything in this process. The others talk to a running
pagerunner over its HTTP API; `run` starts one in-process when none answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ..logging import configure_logging
from ..remote import ApiClient, ApiError, follow
from ..settings import Settings
from .common import (
    ApiUrl,
    Deliver,
    Webhook,
    load_settings,
    parse_params,
    run_server,
    stop_signals,
    with_api,
    with_endings,
)

__all__ = ["queries_app", "run", "serve"]

EXIT_CODES = {"completed": 0, "failed": 1, "paused": 2, "cancelled": 3}
queries_app = typer.Typer(
    help="List and manage queries of a running pagerunner.", no_args_is_help=True
)
console = Console(stderr=True)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface of the app [PAGERUNNER_HOST].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port of the app [PAGERUNNER_PORT].")] = None,
    executor_port: Annotated[
        int | None, typer.Option(help="Port of the embedded executor [PAGERUNNER_EXECUTOR_PORT].")
    ] = None,
    db: Annotated[
        str | None, typer.Option(help="Database URL or SQLite file [PAGERUNNER_DB, DATABASE_URL].")
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option("--demo/--no-demo", help="Start the simulated provider [PAGERUNNER_DEMO]."),
    ] = None,
) -> None:
    """Run the app, the embedded executor and the simulated provider in one process."""
    settings = load_settings(host=host, port=port, executor_port=executor_port, db=db, demo=demo)
    configure_logging(settings.log_level)
    try:
        settings.check_exposure()
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    run_server(_serve(settings))


async def _serve(settings: Settings) -> None:
    from ..runtime import running_pagerunner

    async with stop_signals() as stop, running_pagerunner(settings):
        console.print(
            f"pagerunner on {settings.app_origin} (API docs at /docs), engine "
            f"{settings.engine}; Ctrl-C to stop"
        )
        await stop.wait()


def run(
    source: Annotated[str, typer.Argument(help="Source name, e.g. demo.")],
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="A parameter, key=value (repeatable).")
    ] = None,
    max_pages: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many pages.")
    ] = None,
    webhook: Webhook = None,
    deliver: Deliver = None,
    api_url: ApiUrl = None,
) -> None:
    """Run a query in the foreground with a progress bar; exit 0 when it completes."""
    params = parse_params(param or [])
    settings = load_settings(log_level="warning")
    configure_logging("warning")
    body = with_endings(
        {"source": source, "params": params, "max_pages": max_pages}, webhook, deliver
    )
    try:
        query = asyncio.run(_run(settings, api_url or settings.app_origin, body))
    except ApiError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    status = query["status"]
    if status != "completed":
        reason = query.get("error_message") or query.get("pause_reason") or status
        command = f"pagerunner queries resume {query['id']}"
        hint = query.get("resume_hint")
        when = f"when to resume: {hint} ({command})" if hint else f"resume with: {command}"
        console.print(f"[red]{status}[/]: {reason}\n  {when}")
    else:
        console.print(
            f"[green]completed[/]: {query['pages_fetched']} pages, "
            f"{query['records_inserted']} new records (query {query['id']})"
            + (f"\n  note: {query['note']}" if query.get("note") else "")
        )
    raise typer.Exit(EXIT_CODES.get(status, 1))


async def _run(settings: Settings, api_url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(ApiClient(api_url, token=settings.token))
        if not await api.alive():
            from ..runtime import running_pagerunner

            console.print(f"no pagerunner at {api_url}: starting one in this process")
            await stack.enter_async_context(running_pagerunner(settings))
            api = await stack.enter_async_context(
                ApiClient(settings.app_origin, token=settings.token)
            )
        created = await api.request("POST", "/api/queries/run", json=body)
        return await follow(api, created["id"], console)
    raise AssertionError("unreachable")  # pragma: no cover - for type checkers


@queries_app.command("list")
def list_queries(
    status: Annotated[str | None, typer.Option(help="pending, running, paused, ...")] = None,
    source: str | None = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    api_url: ApiUrl = None,
) -> None:
    """The newest queries."""
    params = {k: v for k, v in {"status": status, "source": source, "limit": limit}.items() if v}
    page = with_api(api_url, lambda api: api.request("GET", "/api/queries", params=params))
    table = Table("id", "source", "params", "status", "pages", "records", "new", "updated")
    for q in page["items"]:
        table.add_row(
            q["id"],
            q["source"],
            json.dumps(q["params"]),
            q["status"],
            str(q["pages_fetched"]),
            str(q["records_fetched"]),
            str(q["records_inserted"]),
            str(q["updated_at"])[:19],
        )
    Console().print(table)
    console.print(f"{len(page['items'])} of {page['total']}")


@queries_app.command("show")
def show(query_id: str, api_url: ApiUrl = None) -> None:
    """Everything about one query, as JSON."""
    query = with_api(api_url, lambda api: api.request("GET", f"/api/queries/{query_id}"))
    typer.echo(json.dumps(query, indent=2))


def _action(name: str) -> Any:
    def command(query_id: str, api_url: ApiUrl = None) -> None:
        query = with_api(
            api_url, lambda api: api.request("POST", f"/api/queries/{query_id}/{name}")
        )
        typer.echo(f"{query['id']}: {query['status']}")

    command.__doc__ = {
        "resume": "Continue a paused, failed or cancelled query.",
        "pause": "Pause a query after the page in flight.",
        "cancel": "Cancel a query (its records are kept).",
    }[name]
    return command


for _name in ("resume", "pause", "cancel"):
    queries_app.command(_name)(_action(_name))
