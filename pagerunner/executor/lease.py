"""The leader lease: one executor process drives the queue at a time.

Several processes may open the same database (a restart racing the old one,
or a standby). Only the holder of the lease claims jobs; the others keep
accepting events and syncs, which only write rows. The lease expires after
`ttl_s` without renewal; a holder on the same host whose process is gone is
replaced at once, so a restart after `kill -9` does not wait for the TTL.
"""

from __future__ import annotations

import os
import socket
import time

from sqlalchemy import Connection, select

from .ids import new_ulid
from .store.schema import leases

__all__ = ["LeaderLease"]

NAME = "executor"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LeaderLease:
    def __init__(self, ttl_s: float = 10.0) -> None:
        self.owner = new_ulid()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.ttl_s = ttl_s

    def acquire(self, conn: Connection) -> bool:
        """Take or renew the lease; returns whether this process holds it."""
        now = time.time()
        row = (conn.execute(select(leases).where(leases.c.name == NAME).with_for_update())).first()
        values = {
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "expires_at": now + self.ttl_s,
        }
        if row is None:
            conn.execute(leases.insert().values(name=NAME, **values))
            return True
        holder_gone = row.host == self.host and row.pid != self.pid and not _process_alive(row.pid)
        if row.owner == self.owner or row.expires_at < now or holder_gone:
            conn.execute(leases.update().where(leases.c.name == NAME).values(**values))
            return True
        return False

    def release(self, conn: Connection) -> None:
        conn.execute(leases.delete().where(leases.c.name == NAME, leases.c.owner == self.owner))
