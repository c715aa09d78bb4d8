"""SQL databases for pagerunner's stores: SQLite (WAL) by default, PostgreSQL by URL.

Both the executor's state store and the query store use this module; it knows
nothing about either (it is infrastructure, like a vendored library, which is
why the executor may import it and still know nothing of the rest of
pagerunner). Only this module builds engines; database errors become the
caller's own error class here.

A transaction is a plain function of a SQLAlchemy `Connection`, run whole in a
worker thread: `await db.write(fn)`, `await db.read(fn)`. Each await costs one
hop between the event loop and a thread, however many statements the function
runs. (Through aiosqlite every statement costs three or four hops, cursor,
execute, fetch, close, which capped a page write at about 18,000 records/s; this
way it is several times faster. See docs/benchmarks.md.)

SQLite gets one writer thread with one connection that opens transactions with
`BEGIN IMMEDIATE`, so writers queue in-process instead of fighting over the file
lock, plus a few reader threads (WAL: readers never block the writer). Every
`Database` on one file in a process shares these. Write transactions that queue
while one runs are committed together (group commit, see `_GroupWriter`).
PostgreSQL gets a connection pool and as many threads.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool

__all__ = ["Database", "migrate_database", "run_alembic_env", "sqlite_pragmas", "sync_url"]

T = TypeVar("T")

_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}
_SQLITE_READERS = 4
_POSTGRES_POOL = 10
#: At most this many write transactions share one SQLite commit.
_GROUP_MAX = 32


def sync_url(url: str) -> str:
    """A SQLAlchemy URL for a user-facing database URL or a file path.

    File paths and `sqlite` URLs become `sqlite:///` (the standard library
    driver); `postgres(ql)` URLs become `postgresql+psycopg://`.
    """
    if "://" not in url:  # a bare file path
        return f"sqlite:///{url}"
    parsed = make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def sqlite_pragmas(engine: Engine, *, immediate: bool) -> None:
    """Set SQLite up for concurrency on every new connection of `engine`."""

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
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def migrate_database(
    url: str, upgrade: Callable[[Connection], None], *, error: Callable[[str], Exception]
) -> None:
    """Run a store's `upgrade` (Alembic, synchronous) in one write transaction on `url`.

    It runs in a worker thread on an engine of its own; database errors become `error`.
    """

    def run() -> None:
        engine = create_engine(sync_url(url), poolclass=NullPool)
        if engine.dialect.name == "sqlite":
            sqlite_pragmas(engine, immediate=True)
        try:
            with engine.begin() as conn:
                upgrade(conn)
        finally:
            engine.dispose()

    try:
        await asyncio.to_thread(run)
    except SQLAlchemyError as exc:
        raise error(f"migration failed: {exc.__class__.__name__}: {exc}") from exc


def run_alembic_env(context: Any, **options: Any) -> None:
    """The body of a store's Alembic `env.py`: migrate offline, or on the caller's connection.

    `options` go to `context.configure` (target metadata, version table, filters);
    the caller's connection is `config.attributes["connection"]` (see
    `migrate_database`), else one is made from `sqlalchemy.url`.
    """
    config = context.config
    if context.is_offline_mode():  # `alembic upgrade --sql`: SQL to stdout
        context.configure(
            url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        # SQLite cannot ALTER most things: migrations copy-and-move tables there.
        batch = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection, compare_type=True, render_as_batch=batch, **options
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()


def _describe(exc: Exception) -> str:
    # The driver's own error, first line only: SQLAlchemy's text repeats the
    # statement and its parameters (a whole page of records).
    orig = getattr(exc, "orig", None)
    cause: BaseException = orig if isinstance(orig, BaseException) else exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def _database_error(error: Callable[[str], Exception], exc: Exception) -> Exception:
    wrapped = error(f"database error: {_describe(exc)}")
    wrapped.__cause__ = exc
    return wrapped


def _in_transaction(
    engine: Engine,
    error: Callable[[str], Exception],
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> T:
    try:
        with engine.begin() as conn:
            return fn(conn, *args, **kwargs)
    except SQLAlchemyError as exc:
        raise _database_error(error, exc) from exc


@dataclass(frozen=True)
class _Write:
    error: Callable[[str], Exception]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any]


class _GroupWriter:
    """SQLite's writer: one thread, one connection, and group commit.

    The write transactions that queued while the previous ones ran are run
    together in one transaction, each in a savepoint of its own: one that raises
    is rolled back alone (its caller gets the error, as if it had been alone);
    the others are committed together, and each caller gets its result only then.
    Every commit of SQLite costs a `BEGIN IMMEDIATE`, a `COMMIT` and a hop between
    threads, each waiting for the GIL while the event loop runs; a busy process
    queues several transactions at once, so they share those costs.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="pr-db-write", daemon=True)
        self._thread.start()

    def submit(
        self,
        error: Callable[[str], Exception],
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put(_Write(error, fn, args, kwargs, future))
        return future

    def shutdown(self) -> None:
        """Run what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _GROUP_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A write whose caller was cancelled before it started does not run.
            writes = [w for w in batch if w is not None and w.future.set_running_or_notify_cancel()]
            if len(writes) == 1:
                self._alone(writes[0])
            elif writes:
                self._together(writes)
            if None in batch:
                return

    def _alone(self, write: _Write) -> None:
        try:
            value = _in_transaction(self._engine, write.error, write.fn, write.args, write.kwargs)
        except BaseException as exc:
            write.future.set_exception(exc)
        else:
            write.future.set_result(value)

    def _together(self, writes: list[_Write]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._engine.begin() as conn:
                # Savepoints on the driver's connection: SQLAlchemy's cost several times more.
                sqlite = conn.connection.driver_connection
                assert sqlite is not None
                for write in writes:
                    sqlite.execute("SAVEPOINT write")
                    try:
                        outcomes.append((True, write.fn(conn, *write.args, **write.kwargs)))
                    except BaseException as exc:
                        sqlite.execute("ROLLBACK TO write")
                        if isinstance(exc, SQLAlchemyError):
                            exc = _database_error(write.error, exc)
                        outcomes.append((False, exc))
                    sqlite.execute("RELEASE write")
        except Exception as exc:  # BEGIN, a savepoint or COMMIT failed: none is committed
            for write in writes:
                write.future.set_exception(_database_error(write.error, exc))
            return
        for write, (ok, value) in zip(writes, outcomes, strict=True):
            if ok:
                write.future.set_result(value)
            else:
                write.future.set_exception(value)


class _Backend:
    """The engines and worker threads of one database."""

    def __init__(self, url: str, *, sqlite: bool) -> None:
        self.url = url
        self.group: _GroupWriter | None = None
        self.write_threads: ThreadPoolExecutor | None = None
        if sqlite:
            self.writer = self._sqlite_engine(immediate=True, pool_size=1)
            self.reader = self._sqlite_engine(immediate=False, pool_size=_SQLITE_READERS)
            self.group = _GroupWriter(self.writer)
            self.read_threads = ThreadPoolExecutor(_SQLITE_READERS, thread_name_prefix="pr-db-read")
        else:
            self.writer = create_engine(
                url,
                pool_size=_POSTGRES_POOL,
                max_overflow=0,
                pool_pre_ping=True,
                # No server-side prepared statements: a generic plan for the record
                # lookup (`record_key IN (...)`) scanned a whole source, ten times slower.
                connect_args={"prepare_threshold": None},
            )
            self.reader = self.writer
            self.write_threads = ThreadPoolExecutor(_POSTGRES_POOL, thread_name_prefix="pr-db")
            self.read_threads = self.write_threads
        self.users = 0
        self.writes_submitted = 0  # to the writer threads, not finished yet
        self.writers = 1 if sqlite else _POSTGRES_POOL

    def _sqlite_engine(self, *, immediate: bool, pool_size: int) -> Engine:
        engine = create_engine(
            self.url,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        sqlite_pragmas(engine, immediate=immediate)
        return engine

    def close(self) -> None:
        if self.group is not None:
            self.group.shutdown()
        self.read_threads.shutdown(wait=True)
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


#: SQLite files open in this process: every `Database` on one file shares its backend.
_SQLITE_FILES: dict[str, _Backend] = {}
_SQLITE_FILES_LOCK = threading.Lock()


class Database:
    """A database whose transactions run as functions in worker threads.

    `error` builds the exception that replaces SQLAlchemy's (each store has its own).
    In one process, every `Database` on the same SQLite file shares one writer
    thread and connection: the executor's and the query store's transactions
    queue together instead of taking the file lock in turn (SQLite's busy handler
    sleeps in growing steps, up to 100 ms, while it waits for the lock).
    """

    def __init__(self, url: str, *, error: Callable[[str], Exception] = RuntimeError) -> None:
        self.url = sync_url(url)
        self._error = error
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self._closed = False
        with _SQLITE_FILES_LOCK:
            backend = _SQLITE_FILES.get(self.url) if self.is_sqlite else None
            if backend is None:
                backend = _Backend(self.url, sqlite=self.is_sqlite)
                if self.is_sqlite:
                    _SQLITE_FILES[self.url] = backend
            backend.users += 1
        self._backend = backend

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(conn, *args, **kwargs)` in a write transaction: committed on return,
        rolled back if it raises."""
        backend = self._backend
        backend.writes_submitted += 1
        try:
            if backend.group is not None:
                # Cancelled while it waits, it does not run; once it runs, it finishes
                # in its thread, committed or rolled back as a whole.
                return await asyncio.wrap_future(
                    backend.group.submit(self._error, fn, args, kwargs)
                )
            assert backend.write_threads is not None
            return await self._run(backend.write_threads, backend.writer, fn, args, kwargs)
        finally:
            backend.writes_submitted -= 1

    @property
    def writes_waiting(self) -> int:
        """Write transactions of this process (every store sharing this database's
        writers) waiting for a writer thread: how far behind the writers are."""
        backend = self._backend
        return max(0, backend.writes_submitted - backend.writers)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(conn, *args, **kwargs)` in a read transaction (a consistent snapshot)."""
        backend = self._backend
        return await self._run(backend.read_threads, backend.reader, fn, args, kwargs)

    async def _run(
        self,
        threads: ThreadPoolExecutor,
        engine: Engine,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        # If the awaiting task is cancelled, the transaction still finishes in its
        # thread, committed or rolled back as a whole.
        loop = asyncio.get_running_loop()
        call = functools.partial(_in_transaction, engine, self._error, fn, args, kwargs)
        return await loop.run_in_executor(threads, call)

    async def close(self) -> None:
        """Finish the transactions in flight and close every connection."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with _SQLITE_FILES_LOCK:
            if self._closed:
                return
            self._closed = True
            self._backend.users -= 1
            if self._backend.users > 0:
                return  # another store still uses it
            if _SQLITE_FILES.get(self.url) is self._backend:
                del _SQLITE_FILES[self.url]
        self._backend.close()
