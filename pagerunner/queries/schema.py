"""Tables of the query store (SQLAlchemy Core), all prefixed `pr_`.

* `pr_queries`        one row per query: status, progress, checkpoint, errors.
* `pr_records`        every record once per `(source, record_key)`: the de-duplicated results.
* `pr_query_records`  which query saw which record, on which page and at which position.
* `pr_pages`          one row per stored page: cursors, counts, HTTP status, timing.
* `pr_batches`        combos: one batch of queries from list-valued params.
* `pr_credentials`    per credential: the next free request slot and any back-off.
* `pr_usage`          requests per credential per day and per month.
* `pr_webhook_deliveries` one row per webhook call of a query or a combo: its attempts and outcome.
* `pr_schedules`      a query or combo run again on a cron timetable.
* `pr_schedule_ticks` one row per tick of a schedule: the combo it started, or why none.
* `pr_destination_loads` one row per load of a query's records into its destination (dlt).

The executor's `exec_*` tables may live in the same database: `include_name`
keeps Alembic's eyes on `pr_*` only. Any change here needs a migration in
`migrations/versions/` (a test compares the migrated schema with this metadata).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "PREFIX",
    "VERSION_TABLE",
    "UTCDateTime",
    "batches",
    "credentials",
    "destination_loads",
    "include_name",
    "metadata",
    "pages",
    "queries",
    "query_records",
    "records",
    "schedule_ticks",
    "schedules",
    "usage",
    "webhook_deliveries",
]

PREFIX = "pr_"
VERSION_TABLE = "pr_alembic_version"

# Deterministic constraint names on every dialect, so migrations can name them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect.

    PostgreSQL stores `timestamptz`; SQLite has no zones, so the value is stored
    as naive UTC and made aware again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> TypeEngine[Any]:
    # JSONB on PostgreSQL: compact, indexable, what users querying the results expect.
    return JSON().with_variant(JSONB(), "postgresql")


def _bigint() -> TypeEngine[int]:
    # SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid).
    return BigInteger().with_variant(Integer(), "sqlite")


queries = Table(
    "pr_queries",
    metadata,
    Column("id", String(26), primary_key=True),  # ULID
    Column("source", String(255), nullable=False, index=True),
    Column("params", _json(), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("pages_fetched", Integer, nullable=False),
    Column("records_fetched", Integer, nullable=False),
    Column("records_inserted", Integer, nullable=False),
    Column("checkpoint", _json(), nullable=False),  # Checkpoint.to_json()
    Column("exhausted", Boolean, nullable=False),  # no page left to fetch
    Column("max_pages", Integer, nullable=True),  # the page cap (NULL: set when it starts)
    Column("note", Text, nullable=True),  # e.g. "stopped at the page cap of N"
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("pause_reason", Text, nullable=True),
    Column("resume_hint", Text, nullable=True),
    Column("pause_requested", Boolean, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("runs", Integer, nullable=False),
    Column("run_id", String(64), nullable=True),  # the durable run that started it last
    Column("batch_id", String(26), nullable=True, index=True),  # the combo it belongs to
    Column("webhook", Text, nullable=True),  # called when it completes, fails or pauses
    Column("deliver", Text, nullable=True),  # a destination spec, loaded when it completes
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
)

records = Table(
    "pr_records",
    metadata,
    Column("id", _bigint(), primary_key=True, autoincrement=True),
    Column("source", String(255), nullable=False),
    Column("record_key", Text, nullable=False),
    Column("data", _json(), nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "record_key"),
)

query_records = Table(
    "pr_query_records",
    metadata,
    Column(
        "query_id",
        String(26),
        ForeignKey("pr_queries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("record_id", _bigint(), ForeignKey("pr_records.id"), primary_key=True),
    Column("page_number", Integer, nullable=False),
    Column("position", Integer, nullable=False),  # index of the record in its page
    # The query stored the record first (it is counted in its `records_inserted`); NULL in
    # links older than the column.
    Column("is_new", Boolean, nullable=True),
    # The order results are read in, and the key of keyset pagination.
    Index(None, "query_id", "page_number", "position", unique=True),
    Index(None, "record_id"),
)

pages = Table(
    "pr_pages",
    metadata,
    Column(
        "query_id",
        String(26),
        ForeignKey("pr_queries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("page_number", Integer, primary_key=True),
    Column("cursor_in", Text, nullable=True),
    Column("cursor_out", Text, nullable=True),
    Column("records", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("has_more", Boolean, nullable=False),
    Column("http_status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("run_id", String(64), nullable=True),  # the durable run that stored the page
)


batches = Table(
    "pr_batches",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("source", String(255), nullable=False),
    Column("params", _json(), nullable=False),  # as submitted, with lists
    Column("max_pages", Integer, nullable=True),
    Column("query_count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("webhook", Text, nullable=True),  # called once the whole combo has finished
    Column("deliver", Text, nullable=True),  # each of its queries is loaded there
)

credentials = Table(
    "pr_credentials",
    metadata,
    Column("credential_id", String(255), primary_key=True),  # names the secret, never holds it
    Column("next_slot_at", Float, nullable=False),  # epoch s: the next free request slot
    Column("blocked_until", Float, nullable=False),  # epoch s: back-off after a 429
    Column("sent_log", Text, nullable=False, server_default="[]"),  # JSON: latest sends, epoch s
    Column("block_reason", Text, nullable=True),
)

usage = Table(
    "pr_usage",
    metadata,
    Column("credential_id", String(255), primary_key=True),
    Column("period", String(10), primary_key=True),  # "2026-11-28" (day) or "2026-11" (month)
    Column("requests", Integer, nullable=False),
)

webhook_deliveries = Table(
    "pr_webhook_deliveries",
    metadata,
    Column("id", String(160), primary_key=True),  # also the body's `id`: receivers dedupe by it
    Column("query_id", String(26), nullable=True, index=True),  # a query's own webhook
    Column("batch_id", String(26), nullable=True, index=True),  # or a combo's
    Column("event", String(32), nullable=False),  # query.completed, combo.finished, ...
    Column("run_id", String(64), nullable=False),  # the durable run that sends it
    Column("status", String(16), nullable=False),  # sending, retrying, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("signed", Boolean, nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

destination_loads = Table(
    "pr_destination_loads",
    metadata,
    Column("id", String(160), primary_key=True),  # <query id>.<run id>, or .<ulid> when retried
    Column("query_id", String(26), nullable=False, index=True),
    Column("destination", Text, nullable=False),  # the spec: never a credential
    Column("status", String(16), nullable=False),  # queued, loading, retrying, loaded, failed
    Column("attempts", Integer, nullable=False),
    Column("records", Integer, nullable=True),  # records sent by the load that succeeded
    Column("last_error", Text, nullable=True),  # redacted
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


schedules = Table(
    "pr_schedules",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("name", Text, nullable=True),
    Column("source", String(255), nullable=False),
    Column("params", _json(), nullable=False),  # as submitted: lists make a combo
    Column("max_pages", Integer, nullable=True),
    Column("max_queries", Integer, nullable=False),  # the most queries one tick creates
    Column("webhook", Text, nullable=True),  # each tick's combo calls it once it has finished
    Column("deliver", Text, nullable=True),  # a destination spec given to each tick's queries
    Column("cron", String(255), nullable=False),
    Column("timezone", String(64), nullable=True),  # NULL: the cron's TZ= prefix, else UTC
    Column("overlap", String(8), nullable=False),  # skip | wait: a tick while one still runs
    Column("status", String(16), nullable=False),  # active | paused
    Column("next_at", UTCDateTime, nullable=True, index=True),  # NULL: paused, or never
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

schedule_ticks = Table(
    "pr_schedule_ticks",
    metadata,
    Column("id", String(26), primary_key=True),
    Column(
        "schedule_id",
        String(26),
        ForeignKey("pr_schedules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("scheduled_at", UTCDateTime, nullable=False),  # the cron time it stands for
    Column("outcome", String(16), nullable=False),  # started | skipped | waiting | failed
    Column("reason", Text, nullable=True),  # why it was skipped, waits or failed
    Column("batch_id", String(26), nullable=True, index=True),  # the combo it started
    Column("run_id", String(64), nullable=True, index=True),  # the durable run that made it
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    # One tick per cron time: a tick is never made twice.
    UniqueConstraint("schedule_id", "scheduled_at"),
)


def include_name(name: str | None, type_: str, _parent_names: Any = None) -> bool:
    """Alembic filter: only the query store's tables (never the executor's `exec_*`)."""
    if type_ == "table":
        return name is not None and name.startswith(PREFIX) and name != VERSION_TABLE
    return True
