"""`pagerunner export`: a query's records as CSV or NDJSON, or a query's or a combo's
records loaded into a destination with dlt (`--to`).

With `--to`, the records are read from a running pagerunner's API and loaded from
this process, with this process's dlt configuration (environment, `.dlt/secrets.toml`):
relative paths start in the working directory, and the pipeline's working folder is
`<PAGERUNNER_DATA_DIR>/dlt`. Loads merge on the record key, so exporting twice, or
exporting queries that share records, leaves each record once (docs/destinations.md).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ..destinations import DestinationError, DestinationRefused, DltLoader, parse
from ..remote import ApiClient, ApiError
from .common import ApiUrl, load_settings, with_api

__all__ = ["export"]

console = Console(stderr=True)
#: Records per request (a combo's results) and per batch handed to dlt.
BATCH = 1000

Batches = AsyncIterator[list[dict[str, Any]]]


def export(
    query_or_combo: Annotated[
        str, typer.Argument(metavar="QUERY_OR_COMBO", help="A query id (or a combo id with --to).")
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="csv or ndjson")] = "csv",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default stdout)")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Load into a destination with dlt instead: duckdb:///leads.duckdb, "
            "postgresql://user@host/db, parquet:///folder, jsonl:///folder, csv:///folder, "
            "or a dlt destination's name (docs/destinations.md).",
        ),
    ] = None,
    api_url: ApiUrl = None,
) -> None:
    """Stream a query's records as CSV or NDJSON, or load them (or a combo's) into --to."""
    if to is not None:
        _load(query_or_combo, to, api_url)
        return
    if format not in ("csv", "ndjson"):
        raise typer.BadParameter("use csv or ndjson", param_hint="--format")

    async def download(api: ApiClient) -> None:
        chunks: AsyncIterator[bytes] = api.stream(
            f"/api/queries/{query_or_combo}/results", {"format": format}
        )
        with output.open("wb") if output else contextlib.nullcontext(sys.stdout.buffer) as out:
            async for chunk in chunks:
                out.write(chunk)

    with_api(api_url, download)


def _load(ident: str, to: str, api_url: str | None) -> None:
    settings = load_settings()
    try:
        spec = parse(to, base_dir=None, confined=False)
    except DestinationRefused as exc:
        raise typer.BadParameter(str(exc), param_hint="--to") from exc
    loader = DltLoader(
        pipelines_dir=settings.data_dir / "dlt",
        role="export",
        max_nesting=settings.max_table_nesting,
        environment=settings.environment,
    )

    async def load(api: ApiClient) -> tuple[str, str, int]:
        kind, source, batches = await _records(api, ident)
        loaded = await loader.load(spec, source, batches)
        return kind, source, loaded.records

    try:
        loader.check(spec)
        kind, source, records = with_api(api_url, load)
    except DestinationError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    console.print(
        f"loaded {records} records of {kind} {ident} into {spec.text} "
        f"(table {source} of dataset {spec.dataset}, merged on _pagerunner_key)"
    )


async def _records(api: ApiClient, ident: str) -> tuple[str, str, Batches]:
    """Whether `ident` is a query or a combo, its source, and its records in batches."""
    try:
        query = await api.request("GET", f"/api/queries/{ident}")
    except ApiError as exc:
        if exc.status != 404:
            raise
    else:
        lines = api.stream(f"/api/queries/{ident}/results", {"format": "ndjson"})
        return "query", str(query["source"]), _ndjson_batches(lines)
    try:
        combo = await api.request("GET", f"/api/combos/{ident}")
    except ApiError as exc:
        if exc.status == 404:
            raise ApiError(f"no query or combo has the id {ident}", 404) from exc
        raise
    return "combo", str(combo["source"]), _combo_batches(api, ident)


async def _ndjson_batches(chunks: AsyncIterator[bytes]) -> Batches:
    batch: list[dict[str, Any]] = []
    rest = b""
    async for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n")
        batch += [json.loads(line) for line in lines if line.strip()]
        if len(batch) >= BATCH:
            yield batch
            batch = []
    batch += [json.loads(rest)] if rest.strip() else []
    if batch:
        yield batch


async def _combo_batches(api: ApiClient, combo_id: str) -> Batches:
    offset = 0
    while True:
        page = await api.request(
            "GET", f"/api/combos/{combo_id}/results", params={"limit": BATCH, "offset": offset}
        )
        if page["items"]:
            yield page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return
