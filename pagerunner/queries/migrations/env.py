"""Alembic environment of the query store.

Run from `pagerunner.queries.migrate` (no alembic.ini): the caller builds the
`Config`, opens a synchronous connection and passes it in
`config.attributes["connection"]`. Without one, `sqlalchemy.url` is used.

Only `pr_*` tables are ours; the version table is `pr_alembic_version`, so the
executor's `exec_*` tables in the same database are never touched or compared.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from pagerunner.queries.schema import VERSION_TABLE, UTCDateTime, include_name, metadata
from pagerunner.sqlstore import run_alembic_env


def _render_item(type_: str, obj: Any, _autogen: AutogenContext) -> str | Literal[False]:
    # Migrations stay frozen: they name plain SQLAlchemy types, never our Python ones.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


run_alembic_env(
    context,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=include_name,
    render_item=_render_item,
)
