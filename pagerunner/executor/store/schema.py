"""Tables of the executor's state store (SQLAlchemy Core).

All executor state lives here, so a restarted process continues every run:
apps and functions (what was synced), events, runs, steps and their attempts
(what the dashboard shows), jobs (the durable queue of calls to make), waits
(paused steps and cancel listeners), flow-control keys, cron triggers' next
ticks, open event batches and the leader lease.
JSON columns hold protocol payloads as they were sent or received.

Any change here needs a migration in `migrations/versions/` (a test compares
the migrated schema with this metadata). The version table is
`exec_alembic_version`, so the query store's `pr_*` tables can share the
database: `include_name` keeps Alembic's eyes on `exec_*` only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)

__all__ = [
    "PREFIX",
    "VERSION_TABLE",
    "apps",
    "attempts",
    "batch_events",
    "batches",
    "crons",
    "debounces",
    "events",
    "flow_keys",
    "functions",
    "include_name",
    "jobs",
    "leases",
    "metadata",
    "runs",
    "steps",
    "waits",
]

PREFIX = "exec_"
VERSION_TABLE = "exec_alembic_version"

metadata = MetaData()

# Timestamps are float seconds since the epoch (UTC): cheap to compare and
# identical on SQLite and PostgreSQL.

apps = Table(
    "exec_apps",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("url", Text, nullable=False),
    Column("sdk", String(64), nullable=False, default=""),
    Column("framework", String(64), nullable=False, default=""),
    Column("app_version", String(255), nullable=True),
    Column("capabilities", JSON, nullable=False, default=dict),
    Column("checksum", String(64), nullable=False),
    Column("function_count", Integer, nullable=False, default=0),
    Column("synced_at", Float, nullable=False),  # not reached: since when it is awaited
    Column("error", Text, nullable=True),
    # False: an app URL the executor was given (`-u`) that has not answered a sync yet.
    # Its row is named by the URL until then, so the Apps page and the sync endpoint know it.
    Column("reached", Boolean, nullable=False, default=True, server_default=true()),
)

functions = Table(
    "exec_functions",
    metadata,
    Column("id", String(255), primary_key=True),  # composite "<app>-<fn>"
    Column("app_name", String(255), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("config", JSON, nullable=False),  # the function as registered
    Column("updated_at", Float, nullable=False),
)

events = Table(
    "exec_events",
    metadata,
    Column("id", String(26), primary_key=True),  # internal ULID
    Column("name", String(255), nullable=False, index=True),
    Column("payload", JSON, nullable=False),  # normalized event as functions see it
    Column("ts", BigInteger, nullable=False),
    Column("received_at", Float, nullable=False, index=True),
    Column("skipped", JSON, nullable=True),  # {function_id: reason} for runs not started
)

runs = Table(
    "exec_runs",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("function_id", String(255), nullable=False, index=True),
    Column("event_id", String(26), nullable=False, index=True),
    Column("events", JSON, nullable=False),  # list of event payloads
    Column("status", String(16), nullable=False, index=True),
    Column("output", JSON, nullable=True),
    Column("error", JSON, nullable=True),
    Column("queued_at", Float, nullable=False, index=True),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("force_plan", Boolean, nullable=False, default=False),
    Column("pending", JSON, nullable=False, default=list),  # step ids still outstanding
    Column("stack", JSON, nullable=False, default=list),  # memoized step ids, in order
    Column("concurrency_keys", JSON, nullable=False, default=list),
    Column("singleton_key", String(255), nullable=True),
    Column("original_run_id", String(26), nullable=True),
    Column("correlation_id", String(128), nullable=True),  # set for invoked runs
    # `priority.run`'s factor in seconds (-600..600): its first-attempt calls rank earlier.
    Column("priority", Integer, nullable=False, server_default=text("0")),
    # The execution version the app answered with its first ops (-1: not chosen yet).
    Column("request_version", Integer, nullable=False, server_default=text("-1")),
    Column("batch_id", String(26), nullable=True),  # set for a run of a batch of events
    Index("ix_exec_runs_fn_status", "function_id", "status"),
)

steps = Table(
    "exec_steps",
    metadata,
    Column("run_id", String(26), primary_key=True),
    Column("step_id", String(128), primary_key=True),  # hashed id from the SDK
    Column("name", Text, nullable=False),  # display name
    Column("op", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opts", JSON, nullable=True),
    Column("memo", JSON, nullable=True),  # value sent back to the SDK
    Column("has_memo", Boolean, nullable=False, default=False),
    Column("position", Integer, nullable=True),  # index in the run's stack
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
)

attempts = Table(
    "exec_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(26), nullable=False, index=True),
    Column("step_id", String(128), nullable=True),  # None: a function-level call
    Column("target", String(128), nullable=False),  # stepId sent: "step" or a hash
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # completed | failed | retrying
    Column("http_status", Integer, nullable=True),
    Column("error", JSON, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=False),
)

jobs = Table(
    "exec_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(26), nullable=True, index=True),
    Column("kind", String(16), nullable=False),
    Column("target", String(128), nullable=False, default="step"),
    Column("attempt", Integer, nullable=False, default=0),
    Column("available_at", Float, nullable=False, index=True),
    # The queue's order among due jobs: `available_at`, less the run's priority factor
    # for a call's first attempt (see `jobs.enqueue`).
    Column("score", Float, nullable=False, index=True),
    Column("dedupe_key", String(255), nullable=True, unique=True),
    Column("data", JSON, nullable=True),
    # Never reuse an id: the loop tracks claimed and blocked jobs by id, and a call still
    # in flight for a cancelled run deletes its job by id when it returns.
    sqlite_autoincrement=True,
)

waits = Table(
    "exec_waits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(26), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # wait | invoke | cancel
    Column("step_id", String(128), nullable=True),
    Column("event_name", String(255), nullable=False, index=True),
    Column("expression", Text, nullable=True),
    Column("correlation_id", String(128), nullable=True, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

flow_keys = Table(
    "exec_flow_keys",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("value", Float, nullable=False),  # GCRA theoretical arrival time
    Column("expires_at", Float, nullable=False, index=True),
)

crons = Table(
    "exec_crons",
    metadata,
    Column("function_id", String(255), primary_key=True),
    Column("cron", String(255), primary_key=True),  # the trigger's expression, as synced
    Column("next_at", Float, nullable=True, index=True),  # the next tick; NULL: never again
    Column("last_at", Float, nullable=True),  # the scheduled time of the last tick fired
)

debounces = Table(
    "exec_debounces",
    metadata,
    Column("key", String(512), primary_key=True),
    Column("function_id", String(255), nullable=False),
    Column("event_id", String(26), nullable=False),
    Column("first_at", Float, nullable=False),
    Column("fire_at", Float, nullable=False),
)

# `batchEvents`: the batches still open, at most one per function and key (a batch that
# starts is deleted in the transaction that creates its run), and their events in order.
batches = Table(
    "exec_batches",
    metadata,
    Column("id", String(26), primary_key=True),  # the batch id (a ULID)
    Column("function_id", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False),  # sha256 of the evaluated `key`
    Column("size", Integer, nullable=False),  # events in the batch
    Column("bytes", Integer, nullable=False),  # their size as JSON
    Column("opened_at", Float, nullable=False),  # when the first event arrived
    Column("fire_at", Float, nullable=False),  # when the batch starts if not full before
    UniqueConstraint("function_id", "key_hash", name="uq_exec_batches_fn_key"),
)

batch_events = Table(
    "exec_batch_events",
    metadata,
    Column("batch_id", String(26), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("event_id", String(26), nullable=False, index=True),
)

leases = Table(
    "exec_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    UniqueConstraint("name"),
)


def include_name(name: str | None, type_: str, _parent_names: Any = None) -> bool:
    """Alembic filter: only the executor's tables (never the query store's `pr_*`)."""
    if type_ == "table":
        return name is not None and name.startswith(PREFIX) and name != VERSION_TABLE
    return True
