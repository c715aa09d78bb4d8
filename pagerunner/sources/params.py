"""Check a query's params against a source file's `[params]`: names, types, choices.

Values often arrive as text (the CLI's `-p key=value`, web forms), so numbers
and booleans are parsed from text. Errors are `BadRequestError("params.<name>:
…")`, the field first, as the API reports them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .base import BadRequestError
from .spec import ParamSpec, SourceSpec

__all__ = ["MAX_TEXT_LENGTH", "validate_params"]

MAX_TEXT_LENGTH = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def validate_params(spec: SourceSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised params (defaults filled in), or BadRequestError naming the field."""
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        known = ", ".join(sorted(spec.params)) or "none"
        raise BadRequestError(
            f"params.{unknown[0]}: unknown parameter for source '{spec.name}' (known: {known})"
        )
    result: dict[str, Any] = {}
    for name, param in spec.params.items():
        value = params.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if param.required:
                raise BadRequestError(f"params.{name}: required ({param.help or 'no help'})")
            if param.default is not None:
                result[name] = param.default
            continue
        result[name] = _checked(name, param, value)
    return result


def _checked(name: str, param: ParamSpec, value: Any) -> Any:
    try:
        converted = _convert(param.type, value)
    except ValueError as exc:
        raise BadRequestError(f"params.{name}: {exc}") from None
    if param.choices is not None and converted not in param.choices:
        choices = ", ".join(str(c) for c in param.choices)
        raise BadRequestError(f"params.{name}: must be one of {choices}")
    return converted


def _convert(kind: str, value: Any) -> Any:
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be text")
        text = str(value).strip()
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"at most {MAX_TEXT_LENGTH} characters")
        if _CONTROL.search(text):
            raise ValueError("control characters (line breaks, NUL …) are not allowed")
        return text
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError("must be true or false")
    return _number(kind, value)


def _number(kind: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"must be {'an integer' if kind == 'integer' else 'a number'}")
    try:
        number = float(value) if kind == "number" else _integer(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"must be {'an integer' if kind == 'integer' else 'a number'}, got {value!r}"
        ) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    text = str(value).strip()
    if not re.fullmatch(r"-?\d{1,18}", text):
        raise ValueError(value)
    return int(text)
