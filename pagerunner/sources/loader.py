"""Find and load source definitions: presets, `pagerunner.toml`, a `sources/` folder, plugins.

Where sources come from, in order:

1. the presets shipped in `pagerunner/sources/presets/` (a file of yours with
   the same name replaces a preset);
2. `[sources.NAME]` tables of the project file (`pagerunner.toml`);
3. every `*.toml`, `*.yaml` and `*.yml` file of the sources folder, one source
   per file (its name defaults to the file name);
4. the `pagerunner.sources` entry point group of installed packages.

A definition is declarative (a `SourceSpec`) or names Python code with
`python = "module:Class"`. Secrets are read from the `env` mapping given here
(the caller builds it from the process environment once); this module never
reads `os.environ`. Two definitions of one name are an error naming both.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from .base import Source
from .declarative import DeclarativeSource
from .sourcefile import SourceSpecError, parse_python_spec, parse_spec

__all__ = [
    "ENTRY_POINT_GROUP",
    "PRESETS_DIR",
    "LoadedSource",
    "load_sources",
    "read_source_file",
]

PRESETS_DIR = Path(__file__).parent / "presets"
ENTRY_POINT_GROUP = "pagerunner.sources"
SOURCE_SUFFIXES = (".toml", ".yaml", ".yml")
_SOURCE_ATTRIBUTES = ("name", "validate_params", "fetch_page")


@dataclass(frozen=True)
class LoadedSource:
    """A loaded source, where it was defined, and its credentials."""

    source: Source
    origin: str
    #: Credential name -> the env variable it comes from (safe to show).
    credential_env: Mapping[str, str] = field(default_factory=dict)
    #: Credential name -> secret, for `fetch_page` (empty when the variable is unset).
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    preset: bool = False


def load_sources(
    *,
    env: Mapping[str, str],
    config_file: Path | None = None,
    sources_dir: Path | None = None,
    presets_dir: Path | None = PRESETS_DIR,
    entry_points: bool = True,
    client: httpx.AsyncClient | None = None,
    timeout_s: float = 10.0,
    page_delay_s: float | None = None,
    reserved: Collection[str] = (),
    origins: Mapping[str, str] | None = None,
) -> dict[str, LoadedSource]:
    """Every source definition found, by name; raise SourceSpecError on the first bad one.

    `reserved` names belong to built-in sources and cannot be redefined.
    `page_delay_s`, when set, overrides every declarative source's own delay.
    `origins` aims declarative sources, by name, at another scheme://host:port.
    """
    build = _Builder(env, client, timeout_s, page_delay_s, origins or {})
    loaded: dict[str, LoadedSource] = {}

    def add(entry: LoadedSource) -> None:
        name = entry.source.name
        if name in reserved:
            raise SourceSpecError(entry.origin, [("name", f"'{name}' is a built-in source")])
        before = loaded.get(name)
        if before is not None and not before.preset:
            raise SourceSpecError(
                entry.origin, [("name", f"source '{name}' is already defined in {before.origin}")]
            )
        loaded[name] = entry

    if presets_dir is not None:
        for origin, data in _folder(presets_dir, label="presets"):
            add(build.entry(data, origin, preset=True))
    if config_file is not None and config_file.is_file():
        for origin, data in _project_file(config_file):
            add(build.entry(data, origin))
    if sources_dir is not None:
        for origin, data in _folder(sources_dir, label=str(sources_dir)):
            add(build.entry(data, origin))
    if entry_points:
        for origin, target in _entry_points():
            add(build.python_entry(target, origin, {}, {}))
    _check_origins(origins or {}, loaded)
    return loaded


def _check_origins(origins: Mapping[str, str], loaded: Mapping[str, LoadedSource]) -> None:
    unknown = sorted(set(origins) - set(loaded))
    if unknown:
        raise SourceSpecError(
            "PAGERUNNER_SOURCE_ORIGINS", [(unknown[0], "no source of that name is defined")]
        )


def _entry_points() -> Iterator[tuple[str, Any]]:
    """The objects of the `pagerunner.sources` entry point group, loaded."""
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {ep.name} ({ep.value})"
        try:
            yield origin, ep.load()
        except Exception as exc:
            raise SourceSpecError(origin, [("", f"cannot load: {exc}")]) from exc


def read_source_file(path: Path, origin: str | None = None) -> dict[str, Any]:
    """The data of one TOML or YAML file (a mapping), or SourceSpecError."""
    origin = origin or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceSpecError(origin, [("", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise SourceSpecError(origin, [("", f"not valid {kind}: {exc}")]) from None
    if not isinstance(data, dict):
        raise SourceSpecError(origin, [("", "a source file must be a table of fields")])
    return data


def _folder(folder: Path, *, label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.suffix in SOURCE_SUFFIXES and path.is_file():
            origin = f"{label}/{path.name}"
            data = read_source_file(path, origin)
            if "python" not in data:  # a Python source has its own name
                data = {"name": path.stem, **data}
            yield origin, data


def _project_file(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    data = read_source_file(path)
    tables = data.get("sources", {})
    if not isinstance(tables, dict):
        raise SourceSpecError(str(path), [("sources", "must be a table of [sources.NAME]")])
    for name, table in tables.items():
        origin = f"{path} [sources.{name}]"
        if not isinstance(table, dict):
            raise SourceSpecError(origin, [("", "must be a table")])
        if "name" in table and table["name"] != name:
            raise SourceSpecError(origin, [("name", f"differs from the table name '{name}'")])
        yield origin, {"name": name, **table}


class _Builder:
    """Turns one definition's data into a `LoadedSource`."""

    def __init__(
        self,
        env: Mapping[str, str],
        client: httpx.AsyncClient | None,
        timeout_s: float,
        page_delay_s: float | None,
        origins: Mapping[str, str],
    ) -> None:
        self.env = env
        self.client = client
        self.timeout_s = timeout_s
        self.page_delay_s = page_delay_s
        self.origins = origins

    def entry(self, data: dict[str, Any], origin: str, *, preset: bool = False) -> LoadedSource:
        if "python" in data:
            python = parse_python_spec(data, origin)
            target = _import(python.python, origin)
            entry = self.python_entry(target, origin, python.options, python.credentials, preset)
            if python.name is not None and entry.source.name != python.name:
                raise SourceSpecError(
                    origin,
                    [
                        (
                            "name",
                            f"'{python.name}' but {python.python} is named '{entry.source.name}'",
                        )
                    ],
                )
            return entry
        spec = parse_spec(data, origin)
        try:
            source = DeclarativeSource(
                spec,
                client=self.client,
                timeout_s=self.timeout_s,
                page_delay_s=self.page_delay_s,
                origin=self.origins.get(spec.name),
            )
        except ValueError as exc:
            raise SourceSpecError("PAGERUNNER_SOURCE_ORIGINS", [(spec.name, str(exc))]) from None
        return self._loaded(source, origin, source.credential_env, preset=preset)

    def python_entry(
        self,
        target: Any,
        origin: str,
        options: Mapping[str, Any],
        credential_env: Mapping[str, str],
        preset: bool = False,
    ) -> LoadedSource:
        try:
            source = target(**options) if inspect.isclass(target) or _is_factory(target) else target
        except Exception as exc:
            raise SourceSpecError(origin, [("python", f"cannot create the source: {exc}")]) from exc
        missing = [a for a in _SOURCE_ATTRIBUTES if not hasattr(source, a)]
        if missing:
            raise SourceSpecError(
                origin, [("python", f"not a source: it has no {', '.join(missing)}")]
            )
        env_names = dict(credential_env or getattr(source, "credentials_env", None) or {})
        return self._loaded(source, origin, env_names, preset=preset)

    def _loaded(
        self, source: Any, origin: str, credential_env: Mapping[str, str], *, preset: bool = False
    ) -> LoadedSource:
        credentials = {name: self.env.get(var, "") for name, var in credential_env.items()}
        return LoadedSource(source, origin, dict(credential_env), credentials, preset)


def _is_factory(target: Any) -> bool:
    return callable(target) and not hasattr(target, "fetch_page")


def _import(dotted: str, origin: str) -> Any:
    module_name, _, attribute = dotted.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise SourceSpecError(origin, [("python", f"cannot import {dotted}: {exc}")]) from None
    return value
