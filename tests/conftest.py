"""Shared test helpers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from pagerunner.sqlstore import sync_url


def table_names(url: str) -> set[str]:
    """The tables of the database at `url` (a file path or a URL)."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


class FakeClock:
    """A clock for cron triggers and schedules, in the past of the real one, moved by `now`.

    Cron ticks are whole minutes: tests move this clock instead of waiting. It stays
    behind the real clock, so a tick's event carries a time already gone and its run
    starts at once. `base` is a whole minute (`minutes_ago` back); the clock starts at
    `start`, else half a minute after `base`.
    """

    def __init__(self, *, minutes_ago: int = 30, start: float | None = None) -> None:
        self.base = (int(time.time()) // 60 - minutes_ago) * 60
        self.now = start if start is not None else self.base + 30.0

    def __call__(self) -> float:
        return self.now

    def minute(self, n: int) -> float:
        """The whole minute `n` minutes after `base`."""
        return float(self.base + 60 * n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    from tests.postgres import postgres_server

    with postgres_server() as url:
        if url is None:
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database (skipped if none)."""
    if request.param == "sqlite":
        return str(tmp_path / "test.db")
    from tests.postgres import fresh_database

    server: str = request.getfixturevalue("postgres_server_url")
    return fresh_database(server)
