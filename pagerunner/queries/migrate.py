"""Schema migrations of the query store, run programmatically (no alembic.ini).

`await migrate(url)` brings the `pr_*` tables to the newest revision. Alembic is
synchronous, so it runs in a worker thread on a synchronous engine (`sqlite:///`
or `postgresql+psycopg://`, see `sqlstore.migrate_database`). For development,
`alembic_config(url)` gives a `Config` usable with `alembic.command`, e.g. to
autogenerate a revision:

    from alembic import command
    command.revision(alembic_config("dev.db"), "add x", autogenerate=True)
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from ..sqlstore import migrate_database, sync_url
from .model import StoreError

__all__ = ["MIGRATIONS_DIR", "alembic_config", "migrate", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` for the query store's migrations (on database `url`, if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # '%' is ConfigParser's interpolation character (passwords may contain it).
        config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Bring the `pr_*` tables on `conn` to `revision`, inside the caller's transaction."""
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the query store's tables in database `url` to `revision` (default: newest).

    Raises `StoreError` if the database cannot be reached or a migration fails.
    """
    await migrate_database(url, functools.partial(upgrade, revision=revision), error=StoreError)
