"""Durations and timestamps as they appear in the Inngest protocol.

* Durations are Go-style strings (``30s``, ``5m``, ``1h30m``, ``500ms``) extended with days
  (``d``) and weeks (``w``), as used for step timeouts and sleeps.
* ``Retry-After`` is integer seconds or a date, clamped to [1 s, 24 h] (reference §3.4).
* A ``Sleep`` op's wake-up time comes from ``opts.duration`` or its ``name`` (reference §3.5).
* Times on the wire are ISO-8601 UTC with milliseconds and a trailing ``Z``.

All datetimes returned here are timezone-aware UTC. Naive inputs are taken to be UTC.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pagerunner.executor.errors import InvalidDurationError

__all__ = [
    "RETRY_AFTER_MAX",
    "RETRY_AFTER_MIN",
    "SLEEP_MAX",
    "now_utc",
    "parse_duration",
    "parse_iso",
    "parse_retry_after",
    "parse_sleep_until",
    "to_iso",
]

_UTC = datetime.UTC

_US_PER_UNIT: dict[str, int] = {
    "ns": 0,  # handled as a fraction of a microsecond below
    "us": 1,
    "µs": 1,  # U+00B5 MICRO SIGN
    "μs": 1,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_COMPONENT_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-Za-zµμ]*)")
_RETRY_AFTER_SECONDS_RE = re.compile(r"[0-9]{1,7}")

RETRY_AFTER_MIN = datetime.timedelta(seconds=1)
RETRY_AFTER_MAX = datetime.timedelta(hours=24)
SLEEP_MAX = datetime.timedelta(days=366)
_MIN_ABSOLUTE_LEN = 10


def _invalid(text: str, reason: str) -> InvalidDurationError:
    return InvalidDurationError(f"invalid duration '{text}': {reason}")


def _as_utc(dt: datetime.datetime) -> datetime.datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=_UTC)
    return dt.astimezone(_UTC)


def parse_duration(text: str) -> datetime.timedelta:
    """Parse a Go-style duration such as ``30s``, ``1h30m``, ``1.5h``, ``2d`` or ``500ms``.

    Units: ``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``. Every number needs a
    unit. Resolution is one microsecond (finer parts are truncated).

    Raises ``InvalidDurationError`` for empty, negative, unit-less or malformed input.
    """
    if not text:
        raise _invalid(text, "empty")
    if text[0] in "+-":
        raise _invalid(text, "must not be signed" if text[0] == "+" else "must not be negative")
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        match = _COMPONENT_RE.match(text, pos)
        if match is None:
            raise _invalid(text, f"expected a number at position {pos}")
        number, unit = match.groups()
        if not unit:
            raise _invalid(text, f"missing unit after '{number}'")
        if unit not in _US_PER_UNIT:
            raise _invalid(text, f"unknown unit '{unit}'")
        value = Decimal(number)
        total += value / 1000 if unit == "ns" else value * _US_PER_UNIT[unit]
        pos = match.end()
    try:
        return datetime.timedelta(microseconds=int(total))
    except OverflowError:
        raise _invalid(text, "too large") from None


def parse_iso(text: str) -> datetime.datetime:
    """Parse an ISO-8601 / RFC 3339 time (a trailing ``Z`` or ``z`` is allowed) as aware UTC.

    A time without an offset is taken to be UTC. Raises ``InvalidDurationError`` if the text is
    not such a time.
    """
    stripped = text.strip()
    if stripped.endswith("z"):  # RFC 3339 allows a lower-case "z"; fromisoformat does not
        stripped = stripped[:-1] + "Z"
    try:
        return _as_utc(datetime.datetime.fromisoformat(stripped))
    except (ValueError, OverflowError) as err:
        raise InvalidDurationError(f"invalid time '{text}': {err}") from None


def to_iso(dt: datetime.datetime) -> str:
    """Format ``dt`` as UTC with milliseconds and a trailing ``Z``: ``2030-01-01T00:00:00.000Z``.

    A naive ``dt`` is taken to be UTC.
    """
    return _as_utc(dt).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def now_utc() -> datetime.datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.datetime.now(_UTC)


def _parse_http_date(text: str) -> datetime.datetime | None:
    try:
        return _as_utc(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def parse_retry_after(value: str | None, now: datetime.datetime) -> datetime.timedelta | None:
    """Return the delay a ``Retry-After`` header asks for, clamped to [1 s, 24 h].

    ``value`` is integer seconds (at most 7 digits), an ISO-8601 time such as
    ``2026-01-01T00:00:30.000Z`` or an HTTP-date such as ``Wed, 21 Oct 2015 07:28:00 GMT``.
    A date in the past gives the minimum delay. Returns ``None`` if ``value`` is absent or
    cannot be parsed.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        if not _RETRY_AFTER_SECONDS_RE.fullmatch(text):
            return None
        delay = datetime.timedelta(seconds=int(text))
    else:
        try:
            when: datetime.datetime | None = parse_iso(text)
        except InvalidDurationError:
            when = _parse_http_date(text)
        if when is None:
            return None
        delay = when - _as_utc(now)
    return min(max(delay, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def parse_sleep_until(
    name: str | None, opts: Mapping[str, Any] | None, now: datetime.datetime
) -> datetime.datetime:
    """Return the wake-up time of a ``Sleep`` op, at most ``now`` + 366 days.

    ``opts["duration"]`` (a duration relative to ``now``) wins when present and not null.
    Otherwise ``name`` is used: a string of at least 10 characters that parses as an ISO time is
    absolute (Python SDK), anything else is parsed as a duration (JS SDK puts ``"30m"`` there).

    Raises ``InvalidDurationError`` if neither gives a time.
    """
    now = _as_utc(now)
    duration = opts.get("duration") if opts is not None else None
    if duration is not None:
        if not isinstance(duration, str):
            raise _invalid(repr(duration), "sleep duration must be a string")
        until = now + min(parse_duration(duration), SLEEP_MAX)
    elif name is None:
        raise InvalidDurationError("invalid duration 'None': sleep has no duration or time")
    else:
        until = _parse_sleep_name(name, now)
    return min(until, now + SLEEP_MAX)


def _parse_sleep_name(name: str, now: datetime.datetime) -> datetime.datetime:
    if len(name) >= _MIN_ABSOLUTE_LEN:
        try:
            return parse_iso(name)
        except InvalidDurationError:
            pass
    return now + min(parse_duration(name), SLEEP_MAX)
