"""Loading records into a destination with dlt: the only module that imports dlt.

dlt is imported when a load (or a check of a named destination) needs it, never
at import time, so the default install works without it; without it,
`DltMissing` says to install `pagerunner[dlt]`.

One table per source (named as dlt normalises the source's name), one row per
record: its fields as dlt flattens them (nested objects become `a__b` columns,
lists child tables `<table>__<field>`, down to `max_nesting` levels) and the
record's key in `_pagerunner_key`. Databases merge on that key (dlt's
`delete-insert`), so loading a record twice leaves one row. dlt cannot merge into
plain files, so file destinations append only the keys their files do not hold yet.

dlt's load is blocking: it runs in a worker thread, pulling the records batch by
batch from the event loop, so a query of any size streams through in constant
memory. A pipeline's working folder (under `<data dir>/dlt`) keeps a load that was
cut short (a crash), and the next load to that destination finishes it first.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import DestinationRefused, DltMissing, LoadFailed
from .spec import DestinationSpec

__all__ = ["KEY_COLUMN", "DltLoader", "Loaded", "redact"]

#: The column that holds each record's key: the merge key.
KEY_COLUMN = "_pagerunner_key"
#: Environment variables whose values are never shown: dlt's sections and anything secret.
_SECRET_NAMES = re.compile(r"^(DESTINATION__|CREDENTIALS__)|PASSWORD|SECRET|TOKEN|CREDENTIALS")
_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*):[^@\s]*@")
_PASSWORD_PAIR = re.compile(r"(password\s*[=:]\s*)('[^']*'|\"[^\"]*\"|\S+)", re.IGNORECASE)
MAX_ERROR_CHARS = 500

Record = dict[str, Any]


def redact(text: str, environment: Mapping[str, str]) -> str:
    """`text` without passwords: in URLs, `password=` pairs and secret variables' values."""
    for name, value in environment.items():
        if len(value) >= 4 and _SECRET_NAMES.search(name.upper()):
            text = text.replace(value, "***")
    text = _URL_PASSWORD.sub(r"\1:***@", text)
    return _PASSWORD_PAIR.sub(r"\1***", text)


@dataclass(frozen=True)
class Loaded:
    """What a load did: how many records it sent (a file destination skips those it has)."""

    records: int


class DltLoader:
    """Loads records into destinations through dlt pipelines kept in `pipelines_dir`.

    `role` names the pipelines (`pagerunner_<role>_<destination key>`): the server's
    deliveries and the CLI's exports keep separate working folders. `environment`
    gives the variables whose secret values are redacted from errors.
    """

    def __init__(
        self,
        *,
        pipelines_dir: Path,
        role: str,
        max_nesting: int | None,
        environment: Callable[[], Mapping[str, str]],
    ) -> None:
        self.pipelines_dir = pipelines_dir
        self.role = role
        self.max_nesting = max_nesting
        self.environment = environment

    def check(self, spec: DestinationSpec) -> None:
        """Raise unless dlt is installed and knows the destination a named spec names."""
        _dlt()
        if spec.kind != "named":
            return
        from dlt.common.destination.reference import Destination

        try:
            Destination.from_reference(spec.target)
        except Exception as exc:
            raise DestinationRefused(
                f"dlt has no destination {spec.target!r}: give a destination type (postgres, "
                f"duckdb, filesystem, bigquery, ...) or configure DESTINATION__"
                f"{spec.target.upper()}__DESTINATION_TYPE and its credentials"
            ) from exc

    async def load(
        self, spec: DestinationSpec, table: str, batches: AsyncIterator[list[Record]]
    ) -> Loaded:
        """Load `batches` of records (`{"key", "data"}`) into `table` of the destination.

        Raises `LoadFailed` with a redacted message, `DltMissing` without dlt.
        """
        _dlt()
        loop = asyncio.get_running_loop()

        def pulled() -> Iterator[list[Record]]:
            while (
                batch := asyncio.run_coroutine_threadsafe(_next(batches), loop).result()
            ) is not None:
                yield batch

        try:
            return await asyncio.to_thread(self._load, spec, table, pulled())
        finally:
            close = getattr(batches, "aclose", None)
            if close is not None:
                await close()

    def _load(self, spec: DestinationSpec, table: str, batches: Iterator[list[Record]]) -> Loaded:
        import dlt

        try:
            destination = _destination(spec)
            pipeline = dlt.pipeline(
                pipeline_name=f"pagerunner_{self.role}_{spec.key}",
                pipelines_dir=str(self.pipelines_dir),
                destination=destination,
                dataset_name=spec.dataset,
            )
            if pipeline.has_pending_data:  # a load cut short: dlt finishes it before new data
                pipeline.run()
            appends = destination.destination_type.endswith(".filesystem")
            skip = _stored_keys(pipeline, table) if appends else set()
            sent = [0]
            resource = dlt.resource(
                _rows(batches, skip, sent),
                name=table,
                write_disposition="append" if appends else "merge",
                primary_key=KEY_COLUMN,
            )
            if self.max_nesting is not None:
                resource.max_table_nesting = self.max_nesting
            pipeline.run(resource, loader_file_format=spec.file_format)  # type: ignore[arg-type]
        except Exception as exc:
            # `from None`: the chained exceptions, printed with a traceback, may hold a secret.
            raise LoadFailed(redact(_describe(exc), self.environment())) from None
        return Loaded(records=sent[0])


async def _next(batches: AsyncIterator[list[Record]]) -> list[Record] | None:
    try:
        return await anext(batches)
    except StopAsyncIteration:
        return None


def _rows(batches: Iterator[list[Record]], skip: set[str], sent: list[int]) -> Iterator[list[Any]]:
    """dlt's items, a batch at a time: each record's fields and its key."""
    for batch in batches:
        rows = [{**r["data"], KEY_COLUMN: r["key"]} for r in batch if r["key"] not in skip]
        sent[0] += len(rows)
        if rows:
            yield rows


def _dlt() -> Any:
    # dlt reports anonymous usage to dlthub unless told not to: a server should not
    # call out on its own. RUNTIME__DLTHUB_TELEMETRY=true in the environment keeps it on.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    try:
        import dlt
    except ImportError as exc:
        raise DltMissing() from exc
    return dlt


def _destination(spec: DestinationSpec) -> Any:
    import dlt
    from dlt.common.destination.reference import Destination

    if spec.kind == "duckdb":
        Path(spec.target).parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(credentials=spec.target)
    if spec.kind == "files":
        Path(spec.target).mkdir(parents=True, exist_ok=True)
        return dlt.destinations.filesystem(bucket_url=Path(spec.target).as_uri())
    if spec.kind == "postgres":
        return dlt.destinations.postgres(credentials=spec.target)  # the password from dlt's config
    return Destination.from_reference(spec.target)


def _stored_keys(pipeline: Any, table: str) -> set[str]:
    """The keys a file destination's table holds already, read from its files."""
    from dlt.common.destination.exceptions import DestinationUndefinedEntity
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    name = NamingConvention().normalize_table_identifier(table)
    keys: set[str] = set()
    with pipeline.destination_client() as client:
        try:
            paths = client.list_table_files(name)
        except DestinationUndefinedEntity:  # nothing loaded yet
            return keys
        for path in paths:
            with client.fs_client.open(path, "rb") as raw:
                keys.update(_file_keys(str(path), raw))
    return keys


def _file_keys(path: str, raw: IO[bytes]) -> list[str]:
    plain = path.removesuffix(".gz")
    data: Any = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
    if plain.endswith(".parquet"):
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        column = pq.read_table(data, columns=[KEY_COLUMN]).column(KEY_COLUMN)
        return [str(k) for k in column.to_pylist()]
    if plain.endswith(".jsonl"):
        return [str(json.loads(line)[KEY_COLUMN]) for line in data if line.strip()]
    if plain.endswith(".csv"):
        return [row[KEY_COLUMN] for row in csv.DictReader(io.TextIOWrapper(data, "utf-8"))]
    return []


def _describe(exc: BaseException) -> str:
    """The innermost cause of a dlt failure, with the step it failed in, in a few lines."""
    step = getattr(exc, "step", None)
    inner = exc
    while True:
        cause = getattr(inner, "exception", None) or inner.__cause__
        if not isinstance(cause, BaseException) or cause is inner:
            break
        inner = cause
    text = " ".join(f"{type(inner).__name__}: {inner}".split())
    prefix = f"{step}: " if isinstance(step, str) else ""
    return (prefix + text)[:MAX_ERROR_CHARS]
