"""DBOS Transact as a contender for bench/executor_overhead.py (issue 10, part 3).

The same shape as the executor's batches: N workflows started at once, each an
`@DBOS.workflow` running M sequential no-op `@DBOS.step`s whose bodies only stamp
`time.perf_counter()`; wall time from the first start to the last result.

DBOS is an optional `bench` dependency group, not a dependency of pagerunner:

    uv run --group bench python bench/executor_overhead.py ...

Importing this module raises ImportError when dbos is not installed; the benchmark
then skips the contender and says so.

SQLite: DBOS creates its own engine (BEGIN IMMEDIATE, busy_timeout, foreign_keys)
but sets neither the journal mode nor `synchronous`, so the file is put in WAL mode
before launch (the mode is stored in the file) and every new SQLite connection of
this process gets `synchronous=NORMAL`, as the executor's do; `settings()` reads
both back through DBOS's own engine so the report shows what was measured.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig

__all__ = ["DbosBatch", "dbos_batch", "running_dbos", "sqlite_url"]


class StampSink(Protocol):
    stamps: dict[str, list[tuple[int, float]]]


_sink: StampSink | None = None


@DBOS.step()
async def noop_step(k: int) -> int:
    if _sink is not None:
        _sink.stamps[str(DBOS.workflow_id)].append((k, time.perf_counter()))
    return k


@DBOS.workflow()
async def steps_workflow(n_steps: int) -> int:
    total = 0
    for k in range(n_steps):
        total += await noop_step(k)
    return total


class DbosBatch:
    """Wall time of one batch of n_runs workflows of n_steps steps."""

    def __init__(self, runs: int, steps: int, wall_s: float) -> None:
        self.runs, self.steps, self.wall_s = runs, steps, wall_s

    @property
    def rate(self) -> float:
        return self.runs * self.steps / self.wall_s


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _synchronous_normal(dbapi_conn: Any, _record: Any) -> None:
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")


@contextmanager
def running_dbos(db_url: str) -> Iterator[dict[str, Any]]:
    """DBOS launched on `db_url` (SQLite: WAL + synchronous=NORMAL); yields the settings
    read back from its engine. Destroyed on the way out."""
    is_sqlite = db_url.startswith("sqlite")
    if is_sqlite:
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        sa.event.listen(sa.engine.Engine, "connect", _synchronous_normal)
    config: DBOSConfig = {
        "name": "pagerunner-bench",
        "system_database_url": db_url,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    try:
        DBOS.launch()
        yield settings(is_sqlite)
    finally:
        DBOS.destroy()
        if is_sqlite:
            sa.event.remove(sa.engine.Engine, "connect", _synchronous_normal)


def settings(is_sqlite: bool) -> dict[str, Any]:
    """What DBOS's own engine runs with (journal mode and synchronous on SQLite)."""
    from dbos._dbos import _get_dbos_instance

    engine = _get_dbos_instance()._sys_db.engine
    import dbos as dbos_pkg

    found: dict[str, Any] = {"dbos": getattr(dbos_pkg, "__version__", None) or _version()}
    if is_sqlite:
        with engine.connect() as conn:
            found["journal_mode"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync: Any = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            found["synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(sync, sync)
    return found


def _version() -> str:
    from importlib.metadata import version

    return version("dbos")


async def dbos_batch(sink: StampSink, n_runs: int, n_steps: int) -> DbosBatch:
    """Start n_runs workflows at once and wait for all; wall = first start to last result."""
    global _sink
    _sink = sink
    t0 = time.perf_counter()
    handles = await asyncio.gather(
        *(DBOS.start_workflow_async(steps_workflow, n_steps) for _ in range(n_runs))
    )
    results = await asyncio.gather(*(h.get_result() for h in handles))
    wall = time.perf_counter() - t0
    expected = n_steps * (n_steps - 1) // 2
    if any(r != expected for r in results):
        raise RuntimeError(f"DBOS workflows returned {results[:3]}, expected {expected}")
    return DbosBatch(n_runs, n_steps, wall)
