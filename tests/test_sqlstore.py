"""The shared SQL database module: stores on one SQLite file share its writer."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from pagerunner.sqlstore import Database


def _insert(conn: Any, name: str) -> None:
    conn.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": name})


def _names(conn: Any) -> list[str]:
    return list(conn.execute(text("SELECT name FROM t ORDER BY rowid")).scalars())


def _writer_connection(conn: Any) -> int:
    return id(conn.connection.dbapi_connection)


async def test_stores_on_one_file_share_its_writer_and_close_independently(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "shared.db")
    executor_db, query_db = Database(path), Database(f"sqlite:///{path}")
    # One writer connection: their transactions queue in one line, never on the file lock.
    assert await executor_db.write(_writer_connection) == await query_db.write(_writer_connection)
    await executor_db.write(lambda conn: conn.execute(text("CREATE TABLE t (name TEXT)")))
    await executor_db.write(_insert, "executor")
    await query_db.write(_insert, "queries")
    await executor_db.close()
    await executor_db.close()  # twice is harmless, and leaves the other store open
    await query_db.write(_insert, "after")
    assert await query_db.read(_names) == ["executor", "queries", "after"]
    await query_db.close()
    reopened = Database(path)  # a fresh start after every store closed
    try:
        assert await reopened.read(_names) == ["executor", "queries", "after"]
    finally:
        await reopened.close()


async def test_different_files_do_not_share(tmp_path: Path) -> None:
    one, two = Database(str(tmp_path / "one.db")), Database(str(tmp_path / "two.db"))
    try:
        for db in (one, two):
            await db.write(lambda conn: conn.execute(text("CREATE TABLE t (name TEXT)")))
        await one.write(_insert, "one")
        assert await two.read(_names) == []
        assert await one.write(_writer_connection) != await two.write(_writer_connection)
    finally:
        await one.close()
        await two.close()


async def test_writes_waiting_counts_the_transactions_queued_behind_the_writer(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "queue.db")
    executor_db, query_db = Database(path), Database(path)
    release = threading.Event()
    started = threading.Event()

    def hold(conn: Any) -> None:
        started.set()
        release.wait(10)

    assert executor_db.writes_waiting == 0
    first = asyncio.create_task(executor_db.write(hold))
    await asyncio.to_thread(started.wait, 10)
    queued = [asyncio.create_task(db.write(hold)) for db in (executor_db, query_db, query_db)]
    await asyncio.sleep(0.05)
    # One runs in the (single) writer thread; three wait for it, whichever store sent them.
    assert executor_db.writes_waiting == query_db.writes_waiting == 3
    release.set()
    await asyncio.gather(first, *queued)
    assert executor_db.writes_waiting == 0
    await executor_db.close()
    await query_db.close()


class _Refused(Exception):
    pass


async def test_writes_queued_meanwhile_commit_together_and_fail_alone(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "group.db"), error=_Refused)
    try:
        await db.write(lambda conn: conn.execute(text("CREATE TABLE t (name TEXT UNIQUE)")))
        release = threading.Event()
        # The first write holds the writer until the others are queued behind it.
        first = asyncio.ensure_future(db.write(lambda conn: release.wait(10)))
        await asyncio.sleep(0.05)

        def insert_then_fail(conn: Any, name: str) -> None:
            _insert(conn, name)
            raise ValueError(name)

        queued = [
            asyncio.ensure_future(db.write(_insert, "a")),
            asyncio.ensure_future(db.write(insert_then_fail, "b")),
            asyncio.ensure_future(db.write(_insert, "a")),  # UNIQUE: a database error
            asyncio.ensure_future(db.write(_insert, "c")),
        ]
        await asyncio.sleep(0.05)
        commits: list[object] = []
        event.listen(db._backend.writer, "commit", commits.append)
        release.set()
        assert await first is True
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert len(commits) == 2  # the first write alone, then the four queued behind it
        one, failed, duplicate, three = results
        assert one is None and three is None
        assert isinstance(failed, ValueError) and str(failed) == "b"
        assert isinstance(duplicate, _Refused) and "UNIQUE" in str(duplicate)
        # What failed was rolled back alone; the rest was committed.
        assert await db.read(_names) == ["a", "c"]
    finally:
        await db.close()
