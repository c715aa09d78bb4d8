"""Shared test helpers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

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
