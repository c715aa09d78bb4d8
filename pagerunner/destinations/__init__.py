"""Destinations: a query's records loaded into a database, a warehouse or files, with dlt.

* `spec`     destination specs (`duckdb:///leads.duckdb`, `parquet:///exports`,
             `postgresql://user@host/db`, a dlt destination's name): parsed and checked,
             confined to `PAGERUNNER_DELIVERY_DIR` and named destinations for requests.
* `loader`   the load through dlt (imported lazily: the `pagerunner[dlt]` extra): one
             table per source, merged on the record key, in a worker thread.
* `delivery` the durable side: the step body that loads a query's records and records
             each attempt (`queries.loads`), and the `deliver-query` function.

DestinationError
├── DestinationRefused  the spec is malformed or not allowed here
├── DltMissing          dlt is not installed: install pagerunner[dlt]
└── LoadFailed          the load failed (its message is redacted)
"""

from __future__ import annotations

from .errors import DestinationError, DestinationRefused, DltMissing, LoadFailed
from .loader import KEY_COLUMN, DltLoader, Loaded, redact
from .spec import DEFAULT_DATASET, DestinationSpec, parse

__all__ = [
    "DEFAULT_DATASET",
    "KEY_COLUMN",
    "DestinationError",
    "DestinationRefused",
    "DestinationSpec",
    "DltLoader",
    "DltMissing",
    "LoadFailed",
    "Loaded",
    "parse",
    "redact",
]
