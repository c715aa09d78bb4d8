"""Statements built once and run on the driver's cursor, past SQLAlchemy's execution layer.

SQLAlchemy Core costs 20-50 us of Python per statement here (a cache key, an
execution context, a result object) where SQLite runs it in 1-5 us; a paced page
runs about 40 statements. A `Prepared` statement is compiled once per dialect
and set of parameter names, then each run binds its parameters in order,
applies the types' processors (JSON, booleans) and calls the driver directly,
on the same connection and in the same transaction as the rest.

What SQLAlchemy still does: compiling (once), type processing and wrapping a
driver error (`Connection._handle_dbapi_exception`, which also invalidates a
connection the database dropped). A statement whose compiled form needs more of
it per run (Python-side column defaults, `IN` lists expanded per run) is run
through `Connection.execute` as usual. Like sqlstore, this module knows nothing
of the stores that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    ClauseElement,
    Connection,
    Executable,
    Integer,
    Table,
    Text,
    bindparam,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["Prepared", "Rows", "among", "insert_for", "not_among"]

_Processor = Callable[[Any], Any] | None


class _Row(tuple[Any, ...]):
    """A result row: by position, or by column name as an attribute (like SQLAlchemy's);
    each statement's rows are a subclass with one property per column."""

    __slots__ = ()


class Rows:
    """The rows (or the row count) of one run of a `Prepared` statement, fetched at once."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise ValueError(f"{len(self._rows)} rows where at most one was expected")
        return self.scalar()


@dataclass
class _Compiled:
    sql: str
    # (parameter key, compiled name, default value, required, bind processor), in order
    binds: list[tuple[str, str, Any, bool, _Processor]]
    positional: bool
    columns: list[tuple[str, Any]]  # (key, type) of each result column
    row_class: type[_Row] | None = None
    result_processors: list[_Processor] | None = None


class Prepared:
    """`statement` (a Core statement built once), run with `prepared.run(conn, params)`."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled | None] = {}

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Rows:
        params = params or {}
        dialect = conn.dialect
        key = (dialect.name, frozenset(params))
        try:
            compiled = self._compiled[key]
        except KeyError:
            compiled = self._compiled[key] = _compile(self.statement, dialect, sorted(params))
        if compiled is None:
            result = conn.execute(self.statement, dict(params))
            rows = list(result) if result.returns_rows else []
            return Rows(rows, result.rowcount)
        return _run(conn, compiled, params)


class _IntList(TypeDecorator[list[int]]):
    """A list of integers as one parameter: a JSON array for SQLite, an array for PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(ARRAY(Integer) if dialect.name == "postgresql" else JSON())


class _TextList(TypeDecorator[list[str]]):
    """A list of strings as one parameter: a JSON array for SQLite, an array for PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(ARRAY(Text) if dialect.name == "postgresql" else JSON())


class _Among(ColumnElement[bool]):
    """`column IN (the list in one parameter)`; `_NotAmong`: `NOT IN`."""

    inherit_cache = True
    negate = False

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Any]) -> None:
        self.column, self.values = column, values


class _NotAmong(_Among):
    inherit_cache = True
    negate = True


@compiles(_Among)
def _among_sqlite(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    op = "NOT IN" if element.negate else "IN"
    return f"{column} {op} (SELECT value FROM json_each({values}))"


@compiles(_Among, "postgresql")
def _among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"NOT ({column} = ANY({values}))" if element.negate else f"{column} = ANY({values})"


def not_among(column: ColumnElement[Any], key: str) -> ColumnElement[bool]:
    """`column NOT IN (...)` with the list of integers as one parameter named `key`.

    `column.not_in(values)` expands its list into one parameter per value on every
    run, so its statement cannot be prepared; this one is compiled once.
    """
    return _NotAmong(column, bindparam(key, type_=_IntList()))


def among(column: ColumnElement[Any], key: str) -> ColumnElement[bool]:
    """`column IN (...)` with the list of strings as one parameter named `key` (see
    `not_among`)."""
    return _Among(column, bindparam(key, type_=_TextList()))


def insert_for(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    """`INSERT INTO table` in the dialect's own construct (it has `ON CONFLICT`)."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"pagerunner does not support {dialect}")


def _compile(statement: Executable, dialect: Dialect, keys: list[str]) -> _Compiled | None:
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    assert isinstance(compiled, SQLCompiler)
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or any(b.expanding for b in compiled.binds.values())
    ):
        return None
    processors = compiled._bind_processors
    by_name = {name: b for b, name in compiled.bind_names.items()}
    names: Sequence[str] = compiled.positiontup or list(by_name)
    escaped: Mapping[str, str] = compiled.escaped_bind_names or {}
    binds: list[tuple[str, str, Any, bool, _Processor]] = [
        (
            by_name[name].key,
            escaped.get(name, name),
            by_name[name].effective_value,
            by_name[name].required,
            processors.get(name),  # type: ignore[misc]
        )
        for name in names
    ]
    columns = [(c.keyname, c.type) for c in compiled._result_columns]
    return _Compiled(compiled.string, binds, bool(compiled.positional), columns)


def _run(conn: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Rows:
    values = []
    for key, _name, default, required, processor in compiled.binds:
        if key in params:
            value = params[key]
        elif required:
            raise KeyError(f"no value for the parameter {key!r} of {compiled.sql!r}")
        else:
            value = default
        values.append(value if processor is None else processor(value))
    bound: Any = (
        tuple(values)
        if compiled.positional
        else {name: v for (_, name, *_), v in zip(compiled.binds, values, strict=True)}
    )
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    cursor = dbapi_conn.cursor()
    try:
        try:
            cursor.execute(compiled.sql, bound)
            raw = cursor.fetchall() if cursor.description is not None else []
        except conn.dialect.loaded_dbapi.Error as exc:
            conn._handle_dbapi_exception(exc, compiled.sql, bound, cursor, None)
            raise  # not reached: the call above raises SQLAlchemy's error
        rowcount = cursor.rowcount
        if not raw:
            return Rows([], rowcount)
        if compiled.row_class is None:
            _describe_rows(compiled, conn.dialect, cursor.description)
        assert compiled.row_class is not None and compiled.result_processors is not None
        row_class, procs = compiled.row_class, compiled.result_processors
        if any(procs):
            raw = [
                tuple(v if p is None else p(v) for p, v in zip(procs, row, strict=True))
                for row in raw
            ]
        return Rows([row_class(row) for row in raw], rowcount)
    finally:
        cursor.close()


def _describe_rows(compiled: _Compiled, dialect: Dialect, description: Sequence[Any]) -> None:
    """The row class and the result processors, from the first rows' cursor description
    (a driver's type codes decide some processors, as in SQLAlchemy's own results)."""
    compiled.result_processors = [
        type_._cached_result_processor(dialect, column[1])
        for (_key, type_), column in zip(compiled.columns, description, strict=True)
    ]
    attributes: dict[str, Any] = {
        key: property(itemgetter(i)) for i, (key, _type) in enumerate(compiled.columns)
    }
    compiled.row_class = type("Row", (_Row,), {"__slots__": (), **attributes})
