"""The synced apps and their functions: persisted, and indexed in memory.

Re-syncing an app replaces its function set; functions that disappeared are
retired (their finished runs stay visible). Lookups by trigger happen on every
event, so they use the in-memory index rather than the database.

An app URL the executor is given but that has not answered yet is an app row
named by its URL with `reached` false (a *placeholder*): the Apps page shows it
with its last sync error, and the sync endpoint can try it by the app's id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import structlog
from sqlalchemy import Connection, delete, select

from .errors import ExecutorError, RegistrationError
from .functions import FunctionDef, Registration
from .store.schema import apps, functions

__all__ = ["NOT_REACHED", "KnownApp", "Registry", "placeholder_name", "sync_answer"]

NOT_REACHED = "not reached yet"

log = structlog.get_logger("pagerunner.executor")


class KnownApp(NamedTuple):
    """An app row: a synced app, or (`reached` false) a URL whose app has not answered."""

    name: str
    url: str
    reached: bool


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
                if trigger.expression is None or trigger.expression.matches({"event": event}):
                    yield fn
                    break

    def load(self, conn: Connection) -> None:
        """Read the synced functions; one this release refuses (a sync of an older one
        took it, e.g. a cron it did not check) is left out, with a warning."""
        self._functions = {}
        for row in conn.execute(select(functions.c.app_name, functions.c.config)):
            try:
                fn = FunctionDef.from_config(row.app_name, row.config)
            except ExecutorError as exc:
                log.warning("function_not_loaded", app=row.app_name, error=str(exc))
                continue
            self._functions[fn.id] = fn

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
            "reached": True,
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

    def expect(self, conn: Connection, urls: Iterable[str], now: float) -> None:
        """A placeholder for each of `urls` that no app row has yet: awaited from `now`."""
        for url in urls:
            if conn.execute(select(apps.c.name).where(apps.c.url == url)).first() is None:
                conn.execute(
                    apps.insert().values(
                        name=placeholder_name(url),
                        url=url,
                        checksum="",
                        synced_at=now,
                        error=NOT_REACHED,
                        reached=False,
                    )
                )

    def record_sync_error(self, conn: Connection, url: str, error: str) -> None:
        """Keep the last failed sync of `url` on its app row(s), for the Apps page."""
        conn.execute(apps.update().where(apps.c.url == url).values(error=error))

    def take_placeholder(self, conn: Connection, url: str) -> float | None:
        """Remove the placeholder of `url` (its app answered); since when it was awaited."""
        name = placeholder_name(url)
        since: float | None = conn.execute(
            select(apps.c.synced_at).where(apps.c.name == name, apps.c.reached.is_(False))
        ).scalar_one_or_none()
        if since is not None:
            conn.execute(delete(apps).where(apps.c.name == name, apps.c.reached.is_(False)))
        return since

    def synced_from(self, conn: Connection, url: str) -> str | None:
        """The app that last synced from `url`, if one did."""
        return conn.execute(
            select(apps.c.name).where(apps.c.url == url, apps.c.reached.is_(True))
        ).scalar()

    def known_apps(self, conn: Connection) -> list[KnownApp]:
        """Every app row, placeholders included."""
        rows = conn.execute(select(apps.c.name, apps.c.url, apps.c.reached).order_by(apps.c.name))
        return [KnownApp(r.name, r.url, r.reached) for r in rows]

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


def placeholder_name(url: str) -> str:
    """The name of the app row that stands for `url` until its app answers."""
    return url[:255]  # an app id never contains "://", so it never clashes with one


def sync_answer(url: str, status: int, body: bytes) -> dict[str, Any]:
    """What the app at `url` answered to the executor's sync request (`PUT`), or
    `RegistrationError`. A 2xx is a sync that worked, whatever the body says but an error:
    the Python SDK copies the answer of `/fn/register` (a failed registration included,
    with a 200), the JS SDK answers `{message, modified}` with the `status` that answer
    carried.
    """
    try:
        answer = json.loads(body) if body.strip() else {}
    except ValueError:
        answer = {}
    fields: dict[str, Any] = answer if isinstance(answer, dict) else {}
    if 200 <= status < 300:
        if fields.get("error") and fields.get("ok") is not True:
            raise RegistrationError(f"sync of {url} failed: {fields['error']}")
        return fields
    detail = fields.get("error") or fields.get("message") or body[:200].decode("utf-8", "replace")
    raise RegistrationError(f"sync of {url} failed (HTTP {status}): {detail}")
