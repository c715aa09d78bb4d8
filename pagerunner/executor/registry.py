"""The synced apps and their functions: persisted, and indexed in memory.

Re-syncing an app replaces its function set; functions that disappeared are
retired (their finished runs stay visible). Lookups by trigger happen on every
event, so they use the in-memory index rather than the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, select

from .expressions import compile_expression
from .functions import FunctionDef, Registration
from .store.schema import apps, functions

__all__ = ["Registry"]


class Registry:
    """Functions by composite id, with trigger matching."""

    def __init__(self) -> None:
        self._functions: dict[str, FunctionDef] = {}

    def get(self, fn_id: str) -> FunctionDef | None:
        return self._functions.get(fn_id)

    def all(self) -> list[FunctionDef]:
        return sorted(self._functions.values(), key=lambda f: f.id)

    def matching(self, event: Mapping[str, Any]) -> Iterable[FunctionDef]:
        """Functions with a trigger that this event satisfies."""
        name = str(event.get("name", ""))
        for fn in self._functions.values():
            for trigger in fn.triggers:
                if not trigger.matches_name(name):
                    continue
                if trigger.expression is None or compile_expression(trigger.expression).matches(
                    {"event": event}
                ):
                    yield fn
                    break

    def load(self, conn: Connection) -> None:
        rows = (conn.execute(select(functions.c.app_name, functions.c.config))).all()
        self._functions = {
            d.id: d for d in (FunctionDef.from_config(r.app_name, r.config) for r in rows)
        }

    def save(self, conn: Connection, reg: Registration) -> bool:
        """Store a sync; returns whether anything changed since the last one."""
        now = time.time()
        previous = (
            conn.execute(select(apps.c.checksum).where(apps.c.name == reg.app_name))
        ).scalar_one_or_none()
        values = {
            "url": reg.url,
            "sdk": reg.sdk,
            "framework": reg.framework,
            "app_version": reg.app_version,
            "capabilities": dict(reg.capabilities),
            "checksum": reg.checksum,
            "function_count": len(reg.functions),
            "synced_at": now,
            "error": None,
        }
        if previous is None:
            conn.execute(apps.insert().values(name=reg.app_name, **values))
        else:
            conn.execute(apps.update().where(apps.c.name == reg.app_name).values(**values))
        conn.execute(delete(functions).where(functions.c.app_name == reg.app_name))
        if reg.functions:
            conn.execute(
                functions.insert(),
                [
                    {
                        "id": fn.id,
                        "app_name": reg.app_name,
                        "name": fn.name,
                        "config": dict(fn.config),
                        "updated_at": now,
                    }
                    for fn in reg.functions
                ],
            )
        for fn_id in [k for k, v in self._functions.items() if v.app_name == reg.app_name]:
            del self._functions[fn_id]
        self._functions.update({fn.id: fn for fn in reg.functions})
        return previous != reg.checksum

    def record_error(self, conn: Connection, app_name: str, url: str, error: str) -> None:
        """Remember a failed sync so the dashboard can show it."""
        existing = (
            conn.execute(select(apps.c.name).where(apps.c.name == app_name))
        ).scalar_one_or_none()
        if existing is None:
            conn.execute(
                apps.insert().values(
                    name=app_name, url=url, checksum="", synced_at=time.time(), error=error
                )
            )
        else:
            conn.execute(apps.update().where(apps.c.name == app_name).values(error=error))
