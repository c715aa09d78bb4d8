"""Fixtures: a migrated query store on a SQLite file and, when available, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from pagerunner.queries.migrate import migrate
from pagerunner.queries.store import QueryStore
from pagerunner.sources.base import Checkpoint, Page, Record
from tests.postgres import fresh_database


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database (skipped if none)."""
    if request.param == "sqlite":
        return str(tmp_path / "queries.db")
    server: str = request.getfixturevalue("postgres_server_url")
    return fresh_database(server)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[QueryStore]:
    await migrate(db_url)
    value = QueryStore(db_url)
    try:
        yield value
    finally:
        await value.close()


def make_page(
    keys: Sequence[str], *, next_page: int | None, cursor: str | None = None, tag: str = ""
) -> Page:
    """A page of records keyed `keys`; `next_page=None` makes it the last page."""
    records = [Record(key=k, data={"key": k, "tag": tag, "n": i}) for i, k in enumerate(keys)]
    checkpoint = Checkpoint(page=next_page, cursor=cursor) if next_page is not None else None
    return Page(records=records, next_checkpoint=checkpoint)
