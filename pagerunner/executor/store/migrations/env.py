"""Alembic environment of the executor's state store.

Run from `pagerunner.executor.store.migrate` (no alembic.ini): the caller builds
the `Config`, opens a synchronous connection and passes it in
`config.attributes["connection"]`. Without one, `sqlalchemy.url` is used.

Only `exec_*` tables are ours; the version table is `exec_alembic_version`, so
the query store's `pr_*` tables in the same database are never touched or compared.
"""

from __future__ import annotations

from alembic import context

from pagerunner.executor.store.schema import VERSION_TABLE, include_name, metadata
from pagerunner.sqlstore import run_alembic_env

run_alembic_env(
    context,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=include_name,
)
