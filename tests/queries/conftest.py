"""Fixtures: a migrated query store on a SQLite file and, when available, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from pagerunner.queries.migrate import migrate
from pagerunner.queries.store import QueryStore
from pagerunner.sources.base import Checkpoint, Page, Record


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
