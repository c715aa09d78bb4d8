"""`TableMap`: one declaration of a dataclass's row, read and written the same way."""

from __future__ import annotations

import dataclasses
from enum import StrEnum

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

from pagerunner.queries.tablemap import TableMap


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Thing:
    id: int
    colour: Colour
    name: str | None = None


metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),  # not in field order: the map's select puts it right
    Column("colour", String, nullable=False),
    Column("owner", String),  # a column the dataclass does not have
)


def no_questions(text: str) -> str:
    return text.replace("?", "!")


THINGS = TableMap(
    Thing, things, to_row={"colour": str}, from_row={"colour": Colour}, text=no_questions
)


def test_a_row_written_reads_back_as_the_same_dataclass() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    thing = Thing(1, Colour.BLUE, "lamp?")
    assert THINGS.values(thing) == {"id": 1, "colour": "blue", "name": "lamp!"}
    with engine.begin() as conn:
        conn.execute(things.insert(), {**THINGS.values(thing), "owner": "me"})
        loaded = THINGS.load(conn.execute(THINGS.select).one())
    assert loaded == Thing(1, Colour.BLUE, "lamp!")
    assert type(loaded.colour) is Colour


def test_a_writer_gives_only_the_fields_asked_for() -> None:
    assert THINGS.writer("name")(Thing(2, Colour.RED, "x?")) == {"name": "x!"}
    assert THINGS.writer("colour", "id")(Thing(2, Colour.RED)) == {"colour": "red", "id": 2}


def test_a_field_without_a_column_is_refused_at_declaration() -> None:
    @dataclasses.dataclass(frozen=True)
    class Other:
        id: int
        size: int

    with pytest.raises(TypeError, match="size"):
        TableMap(Other, things)
    with pytest.raises(TypeError, match="colour"):
        TableMap(Thing, Table("bare", MetaData(), Column("id", Integer), Column("name", String)))
