from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from inngest._internal import transforms

from pagerunner.executor.errors import InvalidDurationError
from pagerunner.executor.timeparse import (
    now_utc,
    parse_duration,
    parse_iso,
    parse_retry_after,
    parse_sleep_until,
    to_iso,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
td = dt.timedelta

# --- parse_duration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", td(seconds=30)),
        ("5m", td(minutes=5)),
        ("1h", td(hours=1)),
        ("2d", td(days=2)),
        ("1w", td(weeks=1)),
        ("1h30m", td(hours=1, minutes=30)),
        ("1w2d3h4m5s6ms", td(weeks=1, days=2, hours=3, minutes=4, seconds=5, milliseconds=6)),
        ("500ms", td(milliseconds=500)),
        ("250us", td(microseconds=250)),
        ("250µs", td(microseconds=250)),
        ("1500ns", td(microseconds=1)),  # truncated to microseconds
        ("1.5h", td(minutes=90)),
        ("0.1s", td(milliseconds=100)),
        ("0s", td(0)),
        ("90m", td(minutes=90)),
        ("1m1m", td(minutes=2)),
        ("8760h", td(days=365)),
    ],
)
def test_parse_duration(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("30", "missing unit after '30'"),
        ("0", "missing unit after '0'"),
        ("-5m", "must not be negative"),
        ("+5m", "must not be signed"),
        ("5x", "unknown unit 'x'"),
        ("5M", "unknown unit 'M'"),
        ("5H", "unknown unit 'H'"),
        ("5sec", "unknown unit 'sec'"),
        ("1h 30m", "expected a number at position 2"),
        (" 1h", "expected a number at position 0"),
        ("1h-5m", "expected a number at position 2"),
        ("h", "expected a number at position 0"),
        (".5s", "expected a number at position 0"),
        ("1.s", "missing unit after '1'"),
        ("1e3s", "unknown unit 'e'"),
        ("inf", "expected a number at position 0"),
        ("99999999999w", "too large"),
    ],
)
def test_parse_duration_errors(text: str, reason: str) -> None:
    with pytest.raises(InvalidDurationError) as info:
        parse_duration(text)
    assert str(info.value) == f"invalid duration '{text}': {reason}"


def test_parse_duration_reads_what_the_sdk_writes() -> None:
    for ms in (1_000, 90_000, 3_600_000, 86_400_000, 7 * 86_400_000, 3 * 86_400_000 + 1_000):
        text = transforms.to_duration_str(ms)
        assert isinstance(text, str)
        assert parse_duration(text) == td(milliseconds=ms), text


# --- parse_iso / to_iso / now_utc ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-01T00:00:00.000Z", dt.datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00Z", dt.datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00z", dt.datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00.123Z", dt.datetime(2030, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)),
        ("2030-01-01T00:00:00.123456789Z", dt.datetime(2030, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC)),
        ("2030-01-01T02:00:00+02:00", dt.datetime(2030, 1, 1, tzinfo=UTC)),
        ("2029-12-31T19:00:00-05:00", dt.datetime(2030, 1, 1, tzinfo=UTC)),
        ("2030-01-01T00:00:00", dt.datetime(2030, 1, 1, tzinfo=UTC)),  # naive -> UTC
        ("2030-01-01", dt.datetime(2030, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_iso(text: str, expected: dt.datetime) -> None:
    parsed = parse_iso(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "tomorrow", "30m", "2030-13-01T00:00:00Z", "2030-01-01T"])
def test_parse_iso_errors(text: str) -> None:
    with pytest.raises(InvalidDurationError, match=f"^invalid time '{re.escape(text)}': "):
        parse_iso(text)


def test_to_iso() -> None:
    assert to_iso(dt.datetime(2030, 1, 1, tzinfo=UTC)) == "2030-01-01T00:00:00.000Z"
    assert to_iso(dt.datetime(2030, 1, 1, 0, 0, 0, 123_999, tzinfo=UTC)) == (
        "2030-01-01T00:00:00.123Z"
    )
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert to_iso(dt.datetime(2030, 1, 1, 2, 0, tzinfo=plus2)) == "2030-01-01T00:00:00.000Z"
    assert to_iso(dt.datetime(2030, 1, 1)) == "2030-01-01T00:00:00.000Z"  # naive -> UTC
    assert to_iso(dt.datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000Z"


def test_to_iso_matches_sdk_and_roundtrips() -> None:
    moment = dt.datetime(2031, 7, 4, 12, 34, 56, 789_000, tzinfo=UTC)
    assert to_iso(moment) == transforms.to_iso_utc(moment) == "2031-07-04T12:34:56.789Z"
    assert parse_iso(to_iso(moment)) == moment


def test_now_utc() -> None:
    before = dt.datetime.now(UTC)
    now = now_utc()
    after = dt.datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after


# --- parse_retry_after --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", td(seconds=30)),
        (" 30 ", td(seconds=30)),
        ("1", td(seconds=1)),
        ("0", td(seconds=1)),  # clamped up
        ("86400", td(hours=24)),
        ("86401", td(hours=24)),  # clamped down
        ("9999999", td(hours=24)),  # 7 digits: still seconds
        ("2026-01-01T00:00:30.000Z", td(seconds=30)),  # what the Python SDK sends
        ("2026-01-01T00:00:00.500Z", td(seconds=1)),
        ("2025-12-31T00:00:00.000Z", td(seconds=1)),  # in the past
        ("2026-01-03T00:00:00.000Z", td(hours=24)),
        ("2026-01-01T01:00:00+01:00", td(seconds=1)),  # == NOW
        ("Thu, 01 Jan 2026 00:05:00 GMT", td(minutes=5)),  # HTTP-date
        ("Wed, 21 Oct 2015 07:28:00 GMT", td(seconds=1)),
    ],
)
def test_parse_retry_after(value: str, expected: dt.timedelta) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "  ", "soon", "-5", "1.5", "12345678", "20260102", "30s", "Thu, 99 Jan 2026"],
)
def test_parse_retry_after_unparseable(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_parse_retry_after_naive_now_is_utc() -> None:
    naive_now = NOW.replace(tzinfo=None)
    assert parse_retry_after("2026-01-01T00:00:30.000Z", naive_now) == td(seconds=30)


def test_parse_retry_after_from_sdk_header() -> None:
    value = transforms.to_iso_utc(NOW + td(minutes=10))
    assert parse_retry_after(value, NOW) == td(minutes=10)


# --- parse_sleep_until --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "opts", "expected"),
    [
        # Python SDK: name = ISO wake-up time, opts = None.
        ("2026-01-01T00:10:00.000Z", None, NOW + td(minutes=10)),
        ("2026-01-02", None, NOW + td(days=1)),  # 10 characters: absolute
        ("2025-12-31T23:59:00.000Z", None, NOW - td(minutes=1)),  # past: wake immediately
        # JS SDK: name = duration.
        ("30m", None, NOW + td(minutes=30)),
        ("1h30m", {}, NOW + td(hours=1, minutes=30)),
        ("1w2d3h4m5s", None, NOW + td(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        # opts.duration wins over name.
        ("2030-01-01T00:00:00.000Z", {"duration": "5s"}, NOW + td(seconds=5)),
        (None, {"duration": "2d"}, NOW + td(days=2)),
        ("10m", {"duration": None}, NOW + td(minutes=10)),  # null duration: use name
        # Capped at 366 days.
        ("2030-01-01T00:00:00.000Z", None, NOW + td(days=366)),
        ("400d", None, NOW + td(days=366)),
        (None, {"duration": "99999999w"}, NOW + td(days=366)),
        ("52w1d", None, NOW + td(days=365)),  # just under the cap
        ("52w3d", None, NOW + td(days=366)),
    ],
)
def test_parse_sleep_until(
    name: str | None, opts: dict[str, Any] | None, expected: dt.datetime
) -> None:
    until = parse_sleep_until(name, opts, NOW)
    assert until == expected
    assert until.tzinfo is UTC


def test_parse_sleep_until_naive_now_is_utc() -> None:
    assert parse_sleep_until("30m", None, NOW.replace(tzinfo=None)) == NOW + td(minutes=30)


def test_parse_sleep_until_sdk_sleep_op() -> None:
    # inngest 0.5.19 step.sleep_until emits name = transforms.to_iso_utc(until), opts = None.
    until = NOW + td(hours=3, milliseconds=250)
    assert parse_sleep_until(transforms.to_iso_utc(until), None, NOW) == until


@pytest.mark.parametrize(
    ("name", "opts", "message"),
    [
        (None, None, "invalid duration 'None': sleep has no duration or time"),
        (None, {}, "invalid duration 'None': sleep has no duration or time"),
        ("soon", None, "invalid duration 'soon': expected a number at position 0"),
        ("not a date at all", None, "invalid duration 'not a date at all': expected a number"),
        ("2030-13-45T00:00:00Z", None, "invalid duration '2030-13-45T00:00:00Z': "),
        ("30m", {"duration": "later"}, "invalid duration 'later': expected a number"),
        ("30m", {"duration": 30}, "invalid duration '30': sleep duration must be a string"),
        ("", None, "invalid duration '': empty"),
    ],
)
def test_parse_sleep_until_errors(
    name: str | None, opts: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(InvalidDurationError) as info:
        parse_sleep_until(name, opts, NOW)
    assert str(info.value).startswith(message)
