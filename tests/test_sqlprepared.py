"""Prepared statements give what `Connection.execute` gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    select,
)
from sqlalchemy.exc import IntegrityError

from pagerunner.sqlprepared import Prepared, not_among
from pagerunner.sqlstore import sync_url

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("data", JSON),
    Column("flag", Boolean, nullable=False),
    Column("score", Float),
    Column("stamped_at", Float, default=time.time),  # a Python-side default
)

_SELECT = Prepared(
    select(items.c.id, items.c.data, items.c.flag, items.c.score)
    .where(items.c.score >= bindparam("b_min"), items.c.flag.is_(True))
    .order_by(items.c.id)
)
numbered = Table("numbered", metadata, Column("id", Integer, primary_key=True))
_INSERT = Prepared(items.insert())
_UPDATE = Prepared(items.update().where(items.c.id == bindparam("b_id")))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = sync_url(str(tmp_path / "prepared.db"))
    else:
        from tests.postgres import fresh_database

        url = sync_url(fresh_database(request.getfixturevalue("postgres_server_url")))
    engine = create_engine(url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _row(item_id: str, **values: Any) -> dict[str, Any]:
    return {"id": item_id, "data": {"n": len(item_id)}, "flag": True, "score": 1.0, **values}


def test_rows_by_name_and_position_with_types_processed(engine: Engine) -> None:
    with engine.begin() as conn:
        # The insert names no `stamped_at`: its Python default needs SQLAlchemy's execution.
        _INSERT.run(conn, _row("a", data={"k": [1, "x"]}))
        _INSERT.run(conn, _row("b", flag=False))
        _INSERT.run(conn, _row("c", score=0.5))
        prepared = _SELECT.run(conn, {"b_min": 0.75}).first()
        rows = list(_SELECT.run(conn, {"b_min": 0.0}))
        expected = list(conn.execute(_SELECT.statement, {"b_min": 0.0}))
        stamped = conn.execute(select(items.c.stamped_at)).scalars().all()
    assert (prepared.id, prepared.data, prepared.flag) == ("a", {"k": [1, "x"]}, True)
    assert (
        [tuple(r) for r in rows]
        == [tuple(r) for r in expected]
        == [
            ("a", {"k": [1, "x"]}, True, 1.0),
            ("c", {"n": 1}, True, 0.5),
        ]
    )
    assert all(isinstance(value, float) for value in stamped)


def test_update_compiles_per_set_of_columns_and_counts_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        _INSERT.run(conn, _row("a", stamped_at=1.0))
        assert _UPDATE.run(conn, {"b_id": "a", "score": 2.0}).rowcount == 1
        assert _UPDATE.run(conn, {"b_id": "a", "data": None, "flag": False}).rowcount == 1
        assert _UPDATE.run(conn, {"b_id": "missing", "score": 3.0}).rowcount == 0
        row = conn.execute(select(items).where(items.c.id == "a")).one()
    assert (row.score, row.data, row.flag, row.stamped_at) == (2.0, None, False, 1.0)


def test_a_driver_error_is_sqlalchemys_and_leaves_the_transaction_usable(engine: Engine) -> None:
    with engine.begin() as conn:
        _INSERT.run(conn, _row("a", stamped_at=1.0))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        _INSERT.run(conn, _row("a", stamped_at=1.0))
    with engine.begin() as conn:
        assert [r.id for r in _SELECT.run(conn, {"b_min": 0.0})] == ["a"]


def test_a_missing_parameter_is_named(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(KeyError, match="b_min"):
        _SELECT.run(conn, {})


def test_not_among_takes_the_list_as_one_parameter(engine: Engine) -> None:
    others = Prepared(
        select(numbered.c.id).where(not_among(numbered.c.id, "b_ids")).order_by(numbered.c.id)
    )
    with engine.begin() as conn:
        conn.execute(numbered.insert(), [{"id": n} for n in range(1, 8)])
        found = {
            key: [r.id for r in others.run(conn, {"b_ids": ids})]
            for key, ids in {"some": [2, 5, 6, 99], "none": [], "all": list(range(1, 8))}.items()
        }
        kept = conn.execute(select(numbered.c.id).where(numbered.c.id.not_in([2, 5, 6, 99])))
        expected = sorted(r.id for r in kept)
    assert found == {"some": [1, 3, 4, 7], "none": list(range(1, 8)), "all": []}
    assert found["some"] == expected
    # Compiled once for the dialect and run on the driver, lists of any length alike.
    assert [c is not None for c in others._compiled.values()] == [True]
