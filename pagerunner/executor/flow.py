"""Flow-control arithmetic: GCRA reservations and key evaluation.

Pure functions plus the small amount of SQL needed to keep GCRA state in the
`exec_flow_keys` table, so limits hold across restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from .expressions import Expression, key_value
from .store.schema import flow_keys

__all__ = ["MAX_PRIORITY_S", "evaluate_key", "gcra_admit", "gcra_reserve", "priority_factor"]

#: Inngest's bounds for a `priority.run` factor, in seconds; values beyond are clamped.
MAX_PRIORITY_S = 600


def evaluate_key(expression: Expression | None, event: Mapping[str, Any]) -> str:
    """The flow-control key for an event: "" when the block has no key."""
    if expression is None:
        return ""
    return key_value(expression.evaluate({"event": event}))


def priority_factor(expression: Expression | None, event: Mapping[str, Any]) -> int:
    """A run's `priority.run` factor: the expression's number of seconds, clamped to
    +-600; 0 without an expression or when it gives no number (null, a string)."""
    if expression is None:
        return 0
    value = expression.evaluate({"event": event})
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0
    return int(max(-MAX_PRIORITY_S, min(MAX_PRIORITY_S, value)))


def _load(conn: Connection, key: str) -> float | None:
    row = conn.execute(select(flow_keys.c.value).where(flow_keys.c.key == key).with_for_update())
    return row.scalar_one_or_none()


def _store(conn: Connection, key: str, tat: float, existed: bool, expires_at: float) -> None:
    if existed:
        conn.execute(
            flow_keys.update()
            .where(flow_keys.c.key == key)
            .values(value=tat, expires_at=expires_at)
        )
    else:
        conn.execute(flow_keys.insert().values(key=key, value=tat, expires_at=expires_at))


def gcra_admit(conn: Connection, key: str, *, limit: int, period_s: float, now: float) -> bool:
    """Rate limit: admit `limit` per `period_s` (a burst of `limit`), refuse the rest."""
    interval = period_s / limit
    tolerance = period_s - interval
    stored = _load(conn, key)
    tat = max(stored if stored is not None else now, now)
    if tat - tolerance > now:
        return False
    _store(conn, key, tat + interval, stored is not None, tat + interval + tolerance)
    return True


def gcra_reserve(
    conn: Connection, key: str, *, limit: int, period_s: float, burst: int, now: float
) -> float:
    """Throttle: reserve the next free slot and return when it starts (FIFO, never refused)."""
    interval = period_s / limit
    tolerance = interval * max(0, limit + burst - 2)
    stored = _load(conn, key)
    tat = max(stored if stored is not None else now, now)
    start_at = max(now, tat - tolerance)
    _store(conn, key, tat + interval, stored is not None, tat + interval + tolerance)
    return start_at
