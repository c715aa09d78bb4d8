"""exec_steps.memo of running runs as RFC 8785 (JCS) canonical JSON text

Memos are now spliced into each call's body as the text they are stored as, and a
signed body must be canonical JSON. Memos written by older releases (Python's
`json.dumps`) are rewritten in canonical form for the runs still in flight; finished
runs never send theirs again. The schema does not change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import jcs
import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT s.run_id, s.step_id, CAST(s.memo AS TEXT) FROM exec_steps s"
            " JOIN exec_runs r ON r.id = s.run_id"
            " WHERE r.status = 'Running' AND s.has_memo = :yes AND s.memo IS NOT NULL"
        ),
        {"yes": True},
    ).all()
    value = ":memo" if conn.dialect.name == "sqlite" else "CAST(:memo AS JSON)"
    update = sa.text(
        f"UPDATE exec_steps SET memo = {value} WHERE run_id = :run_id AND step_id = :step_id"
    )
    for run_id, step_id, text in rows:
        canonical = jcs.canonicalize(json.loads(text)).decode()
        if canonical != text:
            conn.execute(update, {"memo": canonical, "run_id": run_id, "step_id": step_id})


def downgrade() -> None:
    pass  # canonical JSON is JSON: older releases read it as it is
