"""Turn a source file's data into a `SourceSpec`, or a `SourceSpecError` naming file and field.

    sources/github.toml: pagination.type: unknown strategy 'pages' (known: ...)

Three passes, each reporting every problem it finds: inline secrets (before
anything else, so the message says what to do instead), the models of `spec`,
then the `{param}` templates of the request (well-formed, declared params only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from .secrets_check import find_inline_secrets
from .spec import STRATEGIES, PythonSourceSpec, SourceSpec
from .templates import TemplateError, template_names

__all__ = ["SourceSpecError", "parse_python_spec", "parse_spec"]


class SourceSpecError(ValueError):
    """A source file is invalid; each problem names the file and the field."""

    def __init__(self, origin: str, problems: Sequence[tuple[str, str]]) -> None:
        self.origin = origin
        self.problems = list(problems)
        super().__init__(
            "\n".join(
                f"{origin}: {field}: {message}" if field else f"{origin}: {message}"
                for field, message in self.problems
            )
        )


def parse_spec(data: Mapping[str, Any], origin: str) -> SourceSpec:
    """Validate a source file's data; raise SourceSpecError naming `origin` and the fields."""
    problems = find_inline_secrets(data)
    if problems:
        raise SourceSpecError(origin, problems)
    try:
        spec = SourceSpec.model_validate(data)
    except ValidationError as exc:
        raise SourceSpecError(origin, _pydantic_problems(exc)) from None
    problems = _template_problems(spec)
    if problems:
        raise SourceSpecError(origin, problems)
    return spec


def parse_python_spec(data: Mapping[str, Any], origin: str) -> PythonSourceSpec:
    """Validate the table of a Python source (`python = "module:Class"`)."""
    try:
        return PythonSourceSpec.model_validate(data)
    except ValidationError as exc:
        raise SourceSpecError(origin, _pydantic_problems(exc)) from None


def _template_problems(spec: SourceSpec) -> list[tuple[str, str]]:
    """Every template must parse and name declared parameters only."""
    request = spec.request
    texts: list[tuple[str, str]] = [("request.url", request.url)]
    texts += [(f"request.headers.{k}", v) for k, v in request.headers.items()]
    texts += [(f"request.query.{k}", v) for k, v in request.query.items() if isinstance(v, str)]
    texts += _strings("request.json", request.body or {})
    problems = []
    for field, text in texts:
        try:
            unknown = sorted(template_names(text) - set(spec.params))
        except TemplateError as exc:
            problems.append((field, str(exc)))
            continue
        if unknown:
            declared = ", ".join(sorted(spec.params)) or "none"
            problems.append(
                (field, f"{{{unknown[0]}}} is not a declared parameter (declared: {declared})")
            )
    return problems


def _strings(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(prefix, value)]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in _strings(f"{prefix}.{k}", v)]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(f"{prefix}[{i}]", v)]
    return []


_PLAIN_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
}


def _pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        # A tagged union puts the tag in the path: pagination.page_number.max_pages.
        if len(loc) >= 2 and loc[0] == "pagination" and loc[1] in STRATEGIES:
            del loc[1]
        kind = error["type"]
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("type")
            tag = error.get("ctx", {}).get("tag")
            known = ", ".join(STRATEGIES)
            message = (
                f"unknown strategy {tag!r} (known: {known})"
                if tag is not None
                else f"required (one of: {known})"
            )
        else:
            message = _PLAIN_MESSAGES.get(kind, error["msg"].removeprefix("Value error, "))
        problems.append((".".join(loc), message))
    return problems
