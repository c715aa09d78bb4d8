"""`pagerunner combos`: one query per combination of parameter values."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .common import ApiUrl, Deliver, Webhook, key_value, with_api, with_endings

__all__ = ["combos_app"]

combos_app = typer.Typer(
    help="Run and inspect combos (one query per combination).", no_args_is_help=True
)
console = Console(stderr=True)


def _list_params(items: list[str]) -> dict[str, list[str]]:
    """`-p q=coffee -p q=tea -p location=Austin` -> {"q": ["coffee", "tea"], ...}."""
    params: dict[str, list[str]] = {}
    for item in items:
        key, value = key_value(item)
        params.setdefault(key, []).append(value)
    return params


@combos_app.command("run")
def run(
    source: Annotated[str, typer.Argument(help="Source name, e.g. demo.")],
    param: Annotated[
        list[str] | None,
        typer.Option("-p", "--param", help="key=value; repeat a key for several values."),
    ] = None,
    max_pages: Annotated[int | None, typer.Option(min=1, help="Cap per query.")] = None,
    webhook: Webhook = None,
    deliver: Deliver = None,
    api_url: ApiUrl = None,
) -> None:
    """Start one query per combination (the cartesian product of the values)."""
    body = with_endings(
        {"source": source, "params": _list_params(param or []), "max_pages": max_pages},
        webhook,
        deliver,
    )
    created = with_api(api_url, lambda api: api.request("POST", "/api/combos", json=body))
    typer.echo(f"combo {created['id']}: {created['queries']} queries")


@combos_app.command("show")
def show(combo_id: str, api_url: ApiUrl = None, as_json: bool = False) -> None:
    """Progress of a combo and each of its queries."""
    combo: dict[str, Any] = with_api(
        api_url, lambda api: api.request("GET", f"/api/combos/{combo_id}")
    )
    if as_json:
        typer.echo(json.dumps(combo, indent=2))
        return
    table = Table("query", "params", "status", "pages", "records", "new")
    for q in combo["queries"]:
        table.add_row(
            q["id"],
            json.dumps(q["params"]),
            q["status"],
            str(q["pages_fetched"]),
            str(q["records_fetched"]),
            str(q["records_inserted"]),
        )
    Console().print(table)
    console.print(
        f"{combo['status']}: {combo['by_status']}; {combo['distinct_records']} distinct records"
    )
