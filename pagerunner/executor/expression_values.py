"""The values of expressions and what the operators and functions do with them.

Values are the JSON ones (``None``, ``bool``, ``int``, ``float``, ``str``, lists, maps) plus
timestamps (aware UTC ``datetime``) and durations (``timedelta``), which only ``timestamp()``,
``duration()`` and arithmetic on them produce. Every operation here is total: an operand it
does not take gives ``None`` (``false`` for the string tests), never an exception. The parser
and the syntax tree live in ``expressions``; nothing here knows about syntax.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import re2

from .errors import ExpressionError, InvalidDurationError
from .timeparse import parse_duration, parse_iso

__all__ = ["OPERATIONS", "Pattern", "compile_pattern", "key_value", "to_duration", "to_timestamp"]

Pattern: TypeAlias = Any  # re2's compiled pattern (google-re2 ships no type hints)
_Binary: TypeAlias = Callable[[Any, Any], Any]
_Temporal: Final = (datetime.datetime, datetime.timedelta)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


# --- comparing ----------------------------------------------------------------------------


def _equals(a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and bool(a == b)  # null and booleans only equal themselves
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_equals(a[k], b[k]) for k in a)
    if _is_list(a) and _is_list(b):
        return len(a) == len(b) and all(map(_equals, a, b))
    if isinstance(a, str):
        return isinstance(b, str) and a == b
    return isinstance(a, _Temporal) and type(a) is type(b) and bool(a == b)


def _ordering(compare: _Binary) -> _Binary:
    ordered = (str, bool, datetime.datetime, datetime.timedelta)

    def apply(a: Any, b: Any) -> bool:
        numbers = _is_number(a) and _is_number(b)
        same = type(a) in ordered and type(a) is type(b)
        return (numbers or same) and bool(compare(a, b))

    return apply


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, Mapping) or _is_list(container):
        return any(_equals(item, element) for element in container)
    return False


# --- arithmetic ---------------------------------------------------------------------------


def _numeric(compute: _Binary) -> _Binary:
    def apply(a: Any, b: Any) -> Any:
        if not (_is_number(a) and _is_number(b)):
            return None
        try:
            return compute(a, b)
        except (ArithmeticError, ValueError):  # division by zero, overflow, fmod(inf, x)
            return None

    return apply


def _truncating_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _divide(a: Any, b: Any) -> Any:  # CEL: int / int truncates towards zero
    return _truncating_div(a, b) if isinstance(a, int) and isinstance(b, int) else a / b


def _remainder(a: Any, b: Any) -> Any:  # CEL: the result takes the dividend's sign
    both_ints = isinstance(a, int) and isinstance(b, int)
    return a - b * _truncating_div(a, b) if both_ints else math.fmod(a, b)


def _temporal(compute: _Binary, a: Any, b: Any) -> Any:
    """``timestamp ± duration``, ``duration ± duration``, ``timestamp - timestamp``."""
    try:
        result = compute(a, b)
    except (OverflowError, TypeError):  # out of range; an operand pair Python refuses
        return None
    return result if isinstance(result, _Temporal) else None


def _add(a: Any, b: Any) -> Any:
    if _is_number(a) and _is_number(b):
        return _numeric(operator.add)(a, b)
    if isinstance(a, str) or isinstance(b, str):
        scalars = isinstance(a, str | int | float) and isinstance(b, str | int | float)
        return key_value(a) + key_value(b) if scalars else None
    if isinstance(a, _Temporal) and isinstance(b, _Temporal):
        return _temporal(operator.add, a, b)
    return [*a, *b] if _is_list(a) and _is_list(b) else None


def _subtract(a: Any, b: Any) -> Any:
    if isinstance(a, _Temporal) and isinstance(b, _Temporal):
        return _temporal(operator.sub, a, b)
    return _numeric(operator.sub)(a, b)


def _negate(value: Any) -> Any:
    return -value if _is_number(value) or isinstance(value, datetime.timedelta) else None


# --- timestamps and durations -------------------------------------------------------------


def to_timestamp(value: Any) -> datetime.datetime | None:
    """``timestamp(text)``: an RFC 3339 time as aware UTC; ``None`` if it is not one."""
    if isinstance(value, datetime.datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except InvalidDurationError:
        return None


def to_duration(value: Any) -> datetime.timedelta | None:
    """``duration(text)``: a Go-style duration (``90s``, ``-1h30m``); ``None`` if not one."""
    if isinstance(value, datetime.timedelta):
        return value
    if not isinstance(value, str):
        return None
    negative = value.startswith("-")
    try:
        parsed = parse_duration(value[1:] if negative else value)
    except InvalidDurationError:
        return None
    return -parsed if negative else parsed


def _timestamp_text(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat() + "Z"


def _duration_text(value: datetime.timedelta) -> str:  # as CEL's string(duration): "90.5s"
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    seconds, fraction = divmod(abs(micros), 1_000_000)
    decimals = f".{fraction:06d}".rstrip("0") if fraction else ""
    return f"{'-' if micros < 0 else ''}{seconds}{decimals}s"


# --- strings ------------------------------------------------------------------------------


_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.log_errors = False  # an invalid pattern is reported as an ExpressionError instead


def compile_pattern(pattern: str) -> Pattern:
    """An RE2 pattern, as CEL's ``matches`` takes; ExpressionError if it is not valid.

    RE2 runs in time linear in the text, so no pattern and no event can stall the executor.
    """
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ExpressionError(f"invalid regular expression {pattern!r}: {reason}") from None


@functools.lru_cache(maxsize=256)
def _pattern_or_none(pattern: str) -> Pattern | None:
    try:
        return compile_pattern(pattern)
    except ExpressionError:
        return None


def _matches(text: Any, pattern: Any) -> bool:
    """CEL ``matches``: the pattern is found anywhere in the text (anchor it with ``^...$``)."""
    if not isinstance(text, str):
        return False
    compiled = _pattern_or_none(pattern) if isinstance(pattern, str) else pattern
    return compiled is not None and compiled.search(text) is not None


def _string_test(test: Callable[[str, str], bool]) -> _Binary:
    def apply(text: Any, part: Any) -> bool:
        return isinstance(text, str) and isinstance(part, str) and test(text, part)

    return apply


# --- keys ---------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, Mapping):
        return {key_value(k): _canonical(v) for k, v in value.items()}
    if _is_list(value):
        return [_canonical(v) for v in value]
    return key_value(value) if isinstance(value, _Temporal) else str(value)


def key_value(value: Any) -> str:
    """Canonical text of an evaluated key, so that equal values give equal keys.

    Strings are returned as they are, ``None`` is ``""``, booleans are ``"true"``/``"false"``,
    integral floats print as ints (``1.0`` -> ``"1"``, as does ``1``), other floats as JSON
    (``"1.5"``, ``"NaN"``), timestamps as RFC 3339 UTC (``"2025-01-02T03:04:05Z"``), durations
    in seconds (``"5400s"``), and lists and maps as compact JSON with sorted keys and their
    values normalised the same way.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return _timestamp_text(value)
    if isinstance(value, datetime.timedelta):
        return _duration_text(value)
    canonical = _canonical(value)
    if isinstance(canonical, int):
        return str(canonical)
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- the table the syntax tree applies ----------------------------------------------------

OPERATIONS: Final[dict[str, Callable[..., Any]]] = {
    "==": _equals,
    "!=": lambda a, b: not _equals(a, b),
    "<": _ordering(operator.lt),
    "<=": _ordering(operator.le),
    ">": _ordering(operator.gt),
    ">=": _ordering(operator.ge),
    "in": _contains,
    "+": _add,
    "-": _subtract,
    "*": _numeric(operator.mul),
    "/": _numeric(_divide),
    "%": _numeric(_remainder),
    "!": lambda v: not bool(v),
    "negate": _negate,
    "list": lambda *items: list(items),
    "lowercase": lambda v: v.lower() if isinstance(v, str) else None,
    "uppercase": lambda v: v.upper() if isinstance(v, str) else None,
    "size": lambda v: len(v) if isinstance(v, str | list | tuple | Mapping) else None,
    "timestamp": to_timestamp,
    "duration": to_duration,
    "matches": _matches,
    "startsWith": _string_test(str.startswith),
    "endsWith": _string_test(str.endswith),
    "contains": _string_test(operator.contains),
}
