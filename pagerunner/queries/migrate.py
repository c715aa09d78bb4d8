"""Schema migrations of the query store, run programmatically (no alembic.ini).

`await migrate(url)` brings the `pr_*` tables to the newest revision. Alembic is
synchronous, so it runs in a worker thread on a synchronous engine (`sqlite:///`
or `postgresql+psycopg://`). For development, `alembic_config(url)` gives a
`Config` usable with `alembic.command`, e.g. to autogenerate a revision:

    from alembic import command
    command.revision(alembic_config("dev.db"), "add x", autogenerate=True)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import SQLAlchemyError

from ..sqlstore import sqlite_pragmas, sync_url
from .model import StoreError

__all__ = ["MIGRATIONS_DIR", "alembic_config", "migrate"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic `Config` for the query store's migrations on database `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is ConfigParser's interpolation character (passwords may contain it).
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def _upgrade(url: str, revision: str) -> None:
    config = alembic_config(url)
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        sqlite_pragmas(engine, immediate=True)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the query store's tables in database `url` to `revision` (default: newest).

    Raises `StoreError` if the database cannot be reached or a migration fails.
    """
    try:
        await asyncio.to_thread(_upgrade, url, revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"migration failed: {exc.__class__.__name__}: {exc}") from exc
