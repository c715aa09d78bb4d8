"""Connection to the state store: SQLite (WAL) by default, PostgreSQL by URL.

Each transaction is a plain function over a synchronous SQLAlchemy
`Connection`, run in a worker thread: `await db.write(fn, *args)`. One thread
hop per transaction (instead of one per statement, as async drivers do)
keeps a step transition cheap. SQLite gets a single writer thread with one
connection opened with `BEGIN IMMEDIATE`, so writes never contend inside the
process, and a small pool of reader threads. Database errors are translated to
`StoreError` here.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from ..errors import StoreError
from .schema import metadata

__all__ = ["Database", "sync_url"]

T = TypeVar("T")


def sync_url(url: str) -> str:
    """Turn a user-facing database URL or a file path into a SQLAlchemy URL."""
    if "://" not in url:
        return f"sqlite:///{url}"
    parsed = make_url(url)
    driver = {
        "sqlite+aiosqlite": "sqlite",
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "postgresql+asyncpg": "postgresql+psycopg",
    }.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


class Database:
    """The executor's database: `write` and `read` run a transaction function in a thread."""

    def __init__(self, url: str) -> None:
        self.url = sync_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self._writer = self._sqlite_engine(immediate=True, pool_size=1)
            self._reader = self._sqlite_engine(immediate=False, pool_size=4)
            self._write_threads = ThreadPoolExecutor(1, thread_name_prefix="exec-db-write")
            self._read_threads = ThreadPoolExecutor(4, thread_name_prefix="exec-db-read")
        else:
            self._writer = create_engine(self.url, pool_size=10, pool_pre_ping=True)
            self._reader = self._writer
            self._write_threads = ThreadPoolExecutor(8, thread_name_prefix="exec-db")
            self._read_threads = self._write_threads

    def _sqlite_engine(self, *, immediate: bool, pool_size: int) -> Engine:
        engine = create_engine(
            self.url,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"timeout": 30, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take over transaction control from the driver (SQLAlchemy's recipe).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    async def create_tables(self) -> None:
        """Create missing tables (the schema is additive so far)."""
        await self.write(metadata.create_all)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(conn, *args)` in a write transaction: committed, or rolled back on error."""
        return await self._run(self._write_threads, self._writer, fn, args, kwargs)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(conn, *args)` in a read transaction with a consistent snapshot."""
        return await self._run(self._read_threads, self._reader, fn, args, kwargs)

    async def _run(
        self,
        threads: ThreadPoolExecutor,
        engine: Engine,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(_transaction, engine, fn, args, kwargs)
        return await loop.run_in_executor(threads, call)

    async def close(self) -> None:
        self._write_threads.shutdown(wait=True)
        if self._read_threads is not self._write_threads:
            self._read_threads.shutdown(wait=True)
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def _transaction(
    engine: Engine, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    try:
        with engine.begin() as conn:
            return fn(conn, *args, **kwargs)
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc.__class__.__name__}: {exc}") from exc
