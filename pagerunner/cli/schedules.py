"""`pagerunner schedules`: a query or combo run again on a cron timetable."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .common import ApiUrl, Deliver, Webhook, key_value, with_api, with_endings

__all__ = ["schedules_app"]

schedules_app = typer.Typer(
    help="Create and manage schedules (a query or combo on a cron timetable).",
    no_args_is_help=True,
)
console = Console(stderr=True)


def _params(items: list[str]) -> dict[str, Any]:
    """`-p q=coffee -p location=Austin -p location=Dallas`: a repeated key makes a list
    (a combo, one query per combination), a single one stays a value."""
    params: dict[str, list[str]] = {}
    for item in items:
        key, value = key_value(item)
        params.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else values for key, values in params.items()}


@schedules_app.command("create")
def create(
    source: Annotated[str, typer.Argument(help="Source name, e.g. demo.")],
    cron: Annotated[
        str, typer.Option("--cron", help="Five fields, e.g. '0 9 * * 1-5' (as Inngest reads them).")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("-p", "--param", help="key=value; repeat a key for a combo."),
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", "--tz", help="IANA time zone (default UTC).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label.")] = None,
    max_pages: Annotated[int | None, typer.Option(min=1, help="Cap per query.")] = None,
    overlap: Annotated[
        str, typer.Option(help="skip or wait: a tick while the previous one still runs.")
    ] = "skip",
    webhook: Webhook = None,
    deliver: Deliver = None,
    api_url: ApiUrl = None,
) -> None:
    """Create a schedule; its first tick is the next cron time. A webhook is called once
    per tick, when all its queries have ended; a destination gets each completed query."""
    body = with_endings(
        {
            "source": source,
            "params": _params(param or []),
            "cron": cron,
            "timezone": timezone,
            "name": name,
            "max_pages": max_pages,
            "overlap": overlap,
        },
        webhook,
        deliver,
    )
    created = with_api(api_url, lambda api: api.request("POST", "/api/schedules", json=body))
    typer.echo(f"schedule {created['id']}: next tick {created['next_at']}")


@schedules_app.command("list")
def list_schedules(api_url: ApiUrl = None, as_json: bool = False) -> None:
    """Every schedule, newest first, with its next tick."""
    found: dict[str, Any] = with_api(
        api_url, lambda api: api.request("GET", "/api/schedules", params={"limit": 500})
    )
    if as_json:
        typer.echo(json.dumps(found["items"], indent=2))
        return
    table = Table("schedule", "name", "source", "cron", "zone", "status", "next tick")
    for s in found["items"]:
        table.add_row(
            s["id"],
            s["name"] or "",
            s["source"],
            s["cron"],
            s["timezone"] or "",
            s["status"],
            s["next_at"] or "—",
        )
    Console().print(table)
    console.print(f"{len(found['items'])} of {found['total']}")


@schedules_app.command("show")
def show(schedule_id: str, api_url: ApiUrl = None, as_json: bool = False) -> None:
    """A schedule and its latest ticks: what each found, and how much of it was new."""
    schedule: dict[str, Any] = with_api(
        api_url, lambda api: api.request("GET", f"/api/schedules/{schedule_id}")
    )
    if as_json:
        typer.echo(json.dumps(schedule, indent=2))
        return
    table = Table("tick", "scheduled", "status", "queries", "records", "new", "why")
    for t in schedule["ticks"]:
        table.add_row(
            t["id"],
            t["scheduled_at"],
            t["status"],
            str(t["queries"]),
            str(t["records_fetched"]),
            str(t["records_inserted"]),
            t["reason"] or "",
        )
    Console().print(table)
    console.print(f"{schedule['status']}; next tick {schedule['next_at'] or '—'}")


def _action(verb: str, schedule_id: str, api_url: str | None) -> dict[str, Any]:
    method, path = ("DELETE", "") if verb == "delete" else ("POST", f"/{verb}")
    return dict(
        with_api(api_url, lambda api: api.request(method, f"/api/schedules/{schedule_id}{path}"))
    )


@schedules_app.command("pause")
def pause(schedule_id: str, api_url: ApiUrl = None) -> None:
    """Make no more ticks (a tick running goes on)."""
    typer.echo(f"{schedule_id}: {_action('pause', schedule_id, api_url)['status']}")


@schedules_app.command("resume")
def resume(schedule_id: str, api_url: ApiUrl = None) -> None:
    """Tick again from the next cron time."""
    resumed = _action("resume", schedule_id, api_url)
    typer.echo(f"{schedule_id}: {resumed['status']}, next tick {resumed['next_at']}")


@schedules_app.command("delete")
def delete(schedule_id: str, api_url: ApiUrl = None) -> None:
    """Delete the schedule and its ticks; the queries they made stay."""
    _action("delete", schedule_id, api_url)
    typer.echo(f"{schedule_id}: deleted")
