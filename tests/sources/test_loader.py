"""Loading sources from presets, pagerunner.toml, a sources/ folder, dotted paths and plugins."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from pagerunner.settings import Settings
from pagerunner.sources import loader
from pagerunner.sources.declarative import DeclarativeSource
from pagerunner.sources.loader import PRESETS_DIR, load_sources
from pagerunner.sources.registry import SourceRegistry
from pagerunner.sources.sourcefile import SourceSpecError
from tests.sources.plugin_source import EchoSource

TOML_SOURCE = """
description = "Places search"
[params.q]
help = "search text"
required = true
[request]
url = "https://places.test/v1/search"
query = { q = "{q}" }
[auth]
type = "api_key"
in = "query"
name = "key"
env = "PLACES_KEY"
[pagination]
type = "cursor"
cursor_path = "next_page_token"
param = "pagetoken"
[records]
path = "results"
key = "place_id"
"""

YAML_SOURCE = """
name: people
description: People search
params:
  title: {help: job title}
request:
  method: post
  url: https://people.test/api/search
  json: {title: "{title}", per_page: 100}
auth: {type: api_key, in: header, name: x-api-key, env: PEOPLE_KEY}
pagination:
  type: page_number
  in: body
  total_pages_path: pagination.total_pages
records: {path: people, key: id}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_toml_and_yaml_files_of_the_sources_folder(tmp_path: Path) -> None:
    write(tmp_path / "sources", "places.toml", TOML_SOURCE)
    write(tmp_path / "sources", "whatever.yaml", YAML_SOURCE)
    loaded = load_sources(
        env={"PLACES_KEY": "s3cret"},
        sources_dir=tmp_path / "sources",
        presets_dir=None,
        entry_points=False,
    )
    assert sorted(loaded) == ["people", "places"]  # the file name is the default name
    places = loaded["places"]
    assert isinstance(places.source, DeclarativeSource)
    assert places.origin.endswith("sources/places.toml")
    assert places.credential_env == {"api_key": "PLACES_KEY"}
    assert places.credentials == {"api_key": "s3cret"}
    assert "s3cret" not in repr(places)
    assert loaded["people"].credentials == {"api_key": ""}  # unset: listed, fails when called
    assert places.source.credential_id == "env:PLACES_KEY"


def test_project_file_tables(tmp_path: Path) -> None:
    table = textwrap.indent(textwrap.dedent(TOML_SOURCE), "")
    text = "[sources.places]\n" + table.replace("[params.q]", "[sources.places.params.q]")
    for name in ("request", "auth", "pagination", "records"):
        text = text.replace(f"[{name}]", f"[sources.places.{name}]")
    config = write(tmp_path, "pagerunner.toml", text)
    loaded = load_sources(env={}, config_file=config, presets_dir=None, entry_points=False)
    assert list(loaded) == ["places"]
    assert loaded["places"].origin == f"{config} [sources.places]"


def test_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    write(
        tmp_path / "sources", "bad.toml", TOML_SOURCE.replace('type = "cursor"', 'type = "pages"')
    )
    with pytest.raises(SourceSpecError) as caught:
        load_sources(env={}, sources_dir=tmp_path / "sources", presets_dir=None, entry_points=False)
    assert str(caught.value).startswith(
        f"{tmp_path / 'sources'}/bad.toml: pagination.type: unknown strategy 'pages'"
    )


def test_invalid_toml_and_yaml_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "a", "broken.toml", "name = ")
    write(tmp_path / "b", "broken.yaml", "name: [")
    for folder in ("a", "b"):
        with pytest.raises(SourceSpecError, match=r"broken\.(toml|yaml): not valid (TOML|YAML)"):
            load_sources(
                env={}, sources_dir=tmp_path / folder, presets_dir=None, entry_points=False
            )


def test_duplicate_names_name_both_files(tmp_path: Path) -> None:
    write(tmp_path / "sources", "one.toml", 'name = "places"\n' + TOML_SOURCE)
    write(tmp_path / "sources", "two.toml", 'name = "places"\n' + TOML_SOURCE)
    with pytest.raises(SourceSpecError) as caught:
        load_sources(env={}, sources_dir=tmp_path / "sources", presets_dir=None, entry_points=False)
    message = str(caught.value)
    assert "two.toml: name: source 'places' is already defined in" in message
    assert "one.toml" in message


def test_a_built_in_name_cannot_be_taken(tmp_path: Path) -> None:
    write(tmp_path / "sources", "demo.toml", TOML_SOURCE)
    with pytest.raises(SourceSpecError, match=r"demo\.toml: name: 'demo' is a built-in source"):
        load_sources(
            env={},
            sources_dir=tmp_path / "sources",
            presets_dir=None,
            entry_points=False,
            reserved={"demo"},
        )


def test_the_example_preset_loads_and_a_file_of_yours_replaces_it(tmp_path: Path) -> None:
    loaded = load_sources(env={}, entry_points=False)
    assert loaded["demo-declarative"].preset
    assert loaded["demo-declarative"].origin == "presets/demo-declarative.toml"
    write(tmp_path / "sources", "demo-declarative.toml", TOML_SOURCE)
    mine = load_sources(env={}, sources_dir=tmp_path / "sources", entry_points=False)
    assert not mine["demo-declarative"].preset
    assert mine["demo-declarative"].source.description == "Places search"
    assert PRESETS_DIR.is_dir()


def test_a_python_source_by_dotted_path(tmp_path: Path) -> None:
    write(
        tmp_path / "sources",
        "echo.toml",
        """
        python = "tests.sources.plugin_source:EchoSource"
        credentials = { token = "ECHO_TOKEN" }
        options = { name = "echo", prefix = "> " }
        """,
    )
    loaded = load_sources(
        env={"ECHO_TOKEN": "t0k"},
        sources_dir=tmp_path / "sources",
        presets_dir=None,
        entry_points=False,
    )
    echo = loaded["echo"]
    assert isinstance(echo.source, EchoSource) and echo.source.prefix == "> "
    assert echo.credentials == {"token": "t0k"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('python = "tests.sources.nope:X"', "python: cannot import tests.sources.nope:X"),
        ('python = "tests.sources.plugin_source:Nope"', "python: cannot import"),
        ('python = "tests.sources.plugin_source:Limits"', "python: not a source"),
        ('python = "not a path"', "python: String should match pattern"),
        (
            'python = "tests.sources.plugin_source:EchoSource"\nname = "other"',
            "name: 'other' but tests.sources.plugin_source:EchoSource is named 'echo'",
        ),
    ],
)
def test_python_source_errors(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "sources", "py.toml", text)
    with pytest.raises(SourceSpecError, match=message):
        load_sources(env={}, sources_dir=tmp_path / "sources", presets_dir=None, entry_points=False)


class FakeEntryPoint:
    name = "echo-plugin"
    value = "tests.sources.plugin_source:EchoSource"

    def load(self) -> Any:
        return EchoSource


def test_entry_point_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        loader.importlib.metadata,
        "entry_points",
        lambda group: [FakeEntryPoint()] if group == loader.ENTRY_POINT_GROUP else [],
    )
    loaded = load_sources(env={"ECHO_TOKEN": "t"}, presets_dir=None)
    assert (
        loaded["echo"].origin == "entry point echo-plugin (tests.sources.plugin_source:EchoSource)"
    )
    assert loaded["echo"].credential_env == {"token": "ECHO_TOKEN"}


async def test_the_registry_loads_file_sources_next_to_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "sources", "places.toml", TOML_SOURCE)
    monkeypatch.setenv("PLACES_KEY", "from-env")
    settings = Settings(sources_dir=tmp_path / "sources", sources_file=tmp_path / "none.toml")
    registry = SourceRegistry.from_settings(settings)
    try:
        assert {"demo", "places", "demo-declarative"} <= set(registry.names())
        assert registry.credentials("places") == {"api_key": "from-env"}
        assert registry.credential_env("places") == {"api_key": "PLACES_KEY"}
        assert registry.origin("demo") == "built-in"
    finally:
        await registry.aclose()
    without_presets = SourceRegistry.from_settings(
        Settings(sources_dir=tmp_path / "none", source_presets=False)
    )
    assert without_presets.names() == ["demo"]
    await without_presets.aclose()


def test_source_origins_must_name_a_source_and_be_an_origin(tmp_path: Path) -> None:
    write(tmp_path / "sources", "places.toml", TOML_SOURCE)
    folder = tmp_path / "sources"
    aimed = load_sources(
        env={},
        sources_dir=folder,
        presets_dir=None,
        entry_points=False,
        origins={"places": "http://127.0.0.1:8099"},
    )
    assert isinstance(aimed["places"].source, DeclarativeSource)
    with pytest.raises(SourceSpecError, match="PAGERUNNER_SOURCE_ORIGINS: nope: no source"):
        load_sources(
            env={},
            sources_dir=folder,
            presets_dir=None,
            entry_points=False,
            origins={"nope": "http://127.0.0.1:1"},
        )
    with pytest.raises(SourceSpecError, match="places: origin must be scheme://host"):
        load_sources(
            env={},
            sources_dir=folder,
            presets_dir=None,
            entry_points=False,
            origins={"places": "http://127.0.0.1:1/path"},
        )
