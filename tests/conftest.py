"""Shared test helpers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


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
