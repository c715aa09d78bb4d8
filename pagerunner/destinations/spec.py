"""Destination specs: where a query's records are loaded, written as one string.

    duckdb:///leads.duckdb          a DuckDB file (three slashes: a relative path,
                                    four: an absolute one, duckdb:////srv/leads.duckdb)
    parquet:///exports              a folder of Parquet files (dlt's filesystem destination)
    jsonl:///exports                the same as JSON lines; csv:///exports as CSV
    postgresql://user@host/db       PostgreSQL (postgres:// too); the password comes from
                                    DESTINATION__POSTGRES__CREDENTIALS__PASSWORD (dlt)
    warehouse                       any dlt destination configured the dlt way: a type
                                    (postgres, bigquery, filesystem, ...) or a named one
                                    (DESTINATION__WAREHOUSE__DESTINATION_TYPE=...)

Options after `?`: `dataset=NAME` (the schema, or the folder, default `pagerunner`) on
any spec, and `format=parquet|jsonl|csv` on a named destination (a filesystem one).

A spec never holds a secret: one with a password is refused, so a spec can be stored,
shown and logged. Specs that come with a request are *confined* (`parse(..., confined=
True)`): files only below `PAGERUNNER_DELIVERY_DIR`, and no host of the caller's choosing
(that host would get the credentials of pagerunner's environment), only destinations the
operator configured by name. Nothing here imports dlt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

from .errors import DestinationRefused

__all__ = [
    "DEFAULT_DATASET",
    "FILE_FORMATS",
    "MAX_SPEC_CHARS",
    "DestinationSpec",
    "parse",
]

MAX_SPEC_CHARS = 500
DEFAULT_DATASET = "pagerunner"
FILE_FORMATS = ("parquet", "jsonl", "csv")
_POSTGRES = ("postgres", "postgresql")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_NAMED_HELP = (
    "configure it in pagerunner's environment the dlt way "
    "(DESTINATION__<NAME>__DESTINATION_TYPE=postgres, DESTINATION__<NAME>__CREDENTIALS=...) "
    "and give its name"
)


@dataclass(frozen=True)
class DestinationSpec:
    """A parsed destination: `kind` is duckdb, files, postgres or named.

    `target` is the DuckDB file or the folder (absolute), the URL without a
    password, or the destination's name; `text` is the spec as given.
    """

    text: str
    kind: str
    target: str
    dataset: str = DEFAULT_DATASET
    file_format: str | None = None

    @property
    def key(self) -> str:
        """Names the destination's data: loads with the same key are never run at once."""
        identity = f"{self.kind}\n{self.target}\n{self.dataset}"
        return hashlib.sha256(identity.encode()).hexdigest()[:16]


def parse(text: str, *, base_dir: Path | None, confined: bool) -> DestinationSpec:
    """The spec `text`, checked; raises `DestinationRefused` saying what is wrong.

    Relative paths start at `base_dir` (the working directory when None and not
    `confined`). `confined` specs (from a request) keep files inside `base_dir`
    and refuse URLs with a host.
    """
    text = text.strip()
    if not text:
        raise DestinationRefused("give a destination, e.g. duckdb:///leads.duckdb")
    if len(text) > MAX_SPEC_CHARS:
        raise DestinationRefused(f"at most {MAX_SPEC_CHARS} characters")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise DestinationRefused("no spaces or control characters")
    if "://" not in text:
        return _named(text)
    try:
        parts = urlsplit(text)
        password = parts.password
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise DestinationRefused(f"not a valid destination ({exc})") from exc
    if password is not None:
        raise DestinationRefused(
            "no password in a destination: it would be stored and shown; "
            + (
                _NAMED_HELP
                if confined
                else "give it in DESTINATION__POSTGRES__CREDENTIALS__PASSWORD (dlt's variable)"
            )
        )
    options = _options(parts.query, allowed=("dataset",))
    scheme = parts.scheme.lower()
    if scheme in _POSTGRES:
        return _postgres(text, parts._replace(query=""), options, confined)
    if scheme == "duckdb" or scheme in FILE_FORMATS:
        if parts.netloc:
            raise DestinationRefused(
                f"{scheme}:///path, with three slashes (four for an absolute path): no host"
            )
        path = _path(parts.path, base_dir, confined, folder=scheme != "duckdb")
        kind, file_format = ("duckdb", None) if scheme == "duckdb" else ("files", scheme)
        return DestinationSpec(text, kind, str(path), file_format=file_format, **options)
    raise DestinationRefused(
        f"unknown kind {scheme!r}: use duckdb:///, parquet:///, jsonl:///, csv:///, "
        "postgresql:// or the name of a dlt destination"
    )


def _named(text: str) -> DestinationSpec:
    name, _, query = text.partition("?")
    if not _IDENTIFIER.fullmatch(name):
        raise DestinationRefused(
            "a URL such as duckdb:///leads.duckdb, or the name of a dlt destination: "
            "letters, digits and _ (no dots)"
        )
    options = _options(query, allowed=("dataset", "format"))
    file_format = options.pop("format", None)
    if file_format is not None and file_format not in FILE_FORMATS:
        raise DestinationRefused(f"format: one of {', '.join(FILE_FORMATS)}")
    return DestinationSpec(text, "named", name, file_format=file_format, **options)


def _options(query: str, *, allowed: tuple[str, ...]) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, strict_parsing=bool(query), max_num_fields=len(allowed))
    except ValueError as exc:
        raise DestinationRefused(f"options: {', '.join(allowed)} (as ?key=value)") from exc
    options = dict(pairs)
    unknown = sorted(set(options) - set(allowed)) or len(options) < len(pairs)
    if unknown:
        raise DestinationRefused(f"options: {', '.join(allowed)}, each once")
    dataset = options.get("dataset")
    if dataset is not None and not _IDENTIFIER.fullmatch(dataset):
        raise DestinationRefused("dataset: letters, digits and _, starting with a letter")
    return options


def _postgres(
    text: str, parts: SplitResult, options: dict[str, str], confined: bool
) -> DestinationSpec:
    if confined:
        raise DestinationRefused(
            "a host given in a request is not connected to (it would receive the credentials "
            f"of pagerunner's environment): {_NAMED_HELP}"
        )
    if not parts.hostname or parts.path.strip("/") == "":
        raise DestinationRefused("postgresql://user@host:5432/database: a host and a database")
    return DestinationSpec(text, "postgres", urlunsplit(parts), **options)


def _path(raw: str, base_dir: Path | None, confined: bool, *, folder: bool) -> Path:
    relative = raw.removeprefix("/")
    if not relative.strip("/"):
        raise DestinationRefused("give a path after the three slashes")
    if confined and base_dir is None:
        raise DestinationRefused(
            "files are written only below PAGERUNNER_DELIVERY_DIR, which is not set"
        )
    base = (base_dir or Path.cwd()).resolve()
    path = (base / relative).resolve()  # an absolute path stays as it is
    if confined and not path.is_relative_to(base):
        raise DestinationRefused("the path must stay inside PAGERUNNER_DELIVERY_DIR")
    if path == base and not folder:
        raise DestinationRefused("give a file name")
    return path
