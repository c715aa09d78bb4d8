"""Schema migrations of the executor's state store, run programmatically (no alembic.ini).

`Executor.start` runs `upgrade(conn)` in a write transaction of its own store,
which brings the `exec_*` tables to the newest revision. Release 0.1.0 created
the tables with `create_all` and kept no version: such a database (tables,
no version table) is stamped with the initial revision, which is exactly that
schema, and then upgraded like any other.

`await migrate(url)` does the same on a database given by URL. For development,
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
from alembic.util.exc import CommandError
from sqlalchemy import Connection, inspect

from ...sqlstore import migrate_database, sync_url
from ..errors import StoreError
from .schema import VERSION_TABLE

__all__ = ["INITIAL_REVISION", "MIGRATIONS_DIR", "alembic_config", "migrate", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The schema of release 0.1.0, which made its tables with `create_all`.
INITIAL_REVISION = "0001"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` for the executor's migrations (on database `url`, if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # '%' is ConfigParser's interpolation character (passwords may contain it).
        config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Bring the `exec_*` tables on `conn` to `revision`, inside the caller's transaction.

    Raises `StoreError` if a migration fails or the database is at a revision
    this release does not know (made by a newer one).
    """
    config = alembic_config()
    config.attributes["connection"] = conn
    try:
        if _made_by_create_all(conn):
            command.stamp(config, INITIAL_REVISION)
        command.upgrade(config, revision)
    except CommandError as exc:
        raise StoreError(f"migration failed: {exc}") from exc


def _made_by_create_all(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return VERSION_TABLE not in tables and "exec_runs" in tables


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the executor's tables in database `url` to `revision` (default: newest).

    Raises `StoreError` if the database cannot be reached or a migration fails.
    """
    await migrate_database(url, functools.partial(upgrade, revision=revision), error=StoreError)
