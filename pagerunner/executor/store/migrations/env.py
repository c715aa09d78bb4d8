"""Alembic environment of the executor's state store.

Run from `pagerunner.executor.store.migrate` (no alembic.ini): the caller builds
the `Config`, opens a synchronous connection and passes it in
`config.attributes["connection"]`. Without one, `sqlalchemy.url` is used.

Only `exec_*` tables are ours; the version table is `exec_alembic_version`, so
the query store's `pr_*` tables in the same database are never touched or compared.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from pagerunner.executor.store.schema import VERSION_TABLE, include_name, metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        compare_type=True,
        # SQLite cannot ALTER most things: later migrations copy-and-move tables.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the given connection, or on one made from `sqlalchemy.url`."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
