"""Cron expressions read as Inngest (robfig/cron) reads them, and the times they fire."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pagerunner.cron import CronError, CronSchedule, rfc3339

PARIS = ZoneInfo("Europe/Paris")


def times(text: str, start: datetime, count: int, zone: str | None = None) -> list[str]:
    schedule = CronSchedule.parse(text, zone=zone)
    at, found = start.timestamp(), []
    for _ in range(count):
        following = schedule.next_after(at)
        assert following is not None
        found.append(datetime.fromtimestamp(following, schedule.zone).strftime("%a %m-%d %H:%M %Z"))
        at = following
    return found


def test_fields_ranges_steps_lists_and_names() -> None:
    start = datetime(2026, 1, 2, 16, 50, tzinfo=UTC)  # a Friday
    assert times("*/15 9-17 * * MON-fri", start, 3) == [
        "Fri 01-02 17:00 UTC",
        "Fri 01-02 17:15 UTC",
        "Fri 01-02 17:30 UTC",
    ]
    assert times("0 9 * * 1", start, 1) == ["Mon 01-05 09:00 UTC"]
    # `N/step` is `N-max/step`, as in robfig/cron.
    assert times("50/5 * * * *", start, 3) == [
        "Fri 01-02 16:55 UTC",
        "Fri 01-02 17:50 UTC",
        "Fri 01-02 17:55 UTC",
    ]
    assert times("0 0 1,15 feb ?", start, 2) == ["Sun 02-01 00:00 UTC", "Sun 02-15 00:00 UTC"]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
    # Both restricted: either matches (the 13th, or any Friday).
    assert times("0 0 13 * 5", start, 3) == [
        "Fri 03-06 00:00 UTC",
        "Fri 03-13 00:00 UTC",
        "Fri 03-20 00:00 UTC",
    ]
    # One is `*`: both must match (Friday the 13th only).
    assert times("0 0 13 * *", start, 1) == ["Fri 03-13 00:00 UTC"]
    assert times("0 0 * * 5", start, 1) == ["Fri 03-06 00:00 UTC"]


def test_time_zones_and_daylight_saving_time_as_robfig() -> None:
    spring = datetime(2026, 3, 28, 12, tzinfo=UTC)  # Paris skips 02:00-03:00 on the 29th
    assert times("TZ=Europe/Paris 30 2 * * *", spring, 2) == [
        "Mon 03-30 02:30 CEST",  # the 29th has no 02:30: no tick that day
        "Tue 03-31 02:30 CEST",
    ]
    autumn = datetime(2026, 10, 24, 12, tzinfo=UTC)  # 02:00-03:00 happens twice on the 25th
    assert times("30 2 * * *", autumn, 3, zone="Europe/Paris") == [
        "Sun 10-25 02:30 CEST",
        "Sun 10-25 02:30 CET",
        "Mon 10-26 02:30 CET",
    ]
    assert times("CRON_TZ=America/New_York 0 9 * * *", spring, 1) == ["Sat 03-28 09:00 EDT"]
    assert CronSchedule.parse("0 9 * * *").zone == UTC


def test_next_is_strictly_after_and_latest_is_at_or_before() -> None:
    schedule = CronSchedule.parse("0 * * * *")
    ten = datetime(2026, 5, 1, 10, tzinfo=UTC).timestamp()
    assert schedule.next_after(ten) == ten + 3600
    assert schedule.latest_until(ten) == ten
    assert schedule.latest_until(ten + 3599.9) == ten
    assert rfc3339(ten) == "2026-05-01T10:00:00Z"


def test_a_schedule_with_no_time_in_five_years_never_fires() -> None:
    assert CronSchedule.parse("0 0 30 2 *").next_after(0) is None
    assert CronSchedule.parse("0 0 30 2 *").latest_until(2e9) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@daily", "Inngest does not accept descriptors like @daily"),
        ("@every 5m", "does not accept descriptors"),
        ("* * * * * *", "expected exactly 5 fields"),
        ("* * * *", "expected exactly 5 fields"),
        ("60 * * * *", "minute: 60 is out of range (0-59)"),
        ("* 24 * * *", "hour: 24 is out of range (0-23)"),
        ("* * 0 * *", "day of month: 0 is out of range (1-31)"),
        ("* * * 13 *", "month: 13 is out of range (1-12)"),
        ("* * * * 7", "day of week: 7 is out of range (0-6)"),
        ("0 0 L * *", "day of month: 'L' is not a number"),
        ("0 0 * * 1#2", "day of week: '1#2' is not a value, a range or a step"),
        ("0 0 15W * *", "'15W' is not a number"),
        ("H * * * *", "minute: 'H' is not a number"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1)"),
        ("*/0 * * * *", "step of '*/0' must be a positive number"),
        ("* * * foo *", "month: 'foo' is not a number or a name"),
        ("TZ=Mars/Olympus * * * * *", "unknown time zone 'Mars/Olympus'"),
        ("x" * 256, "cron is too long. maximum length is 255 characters"),
    ],
)
def test_what_inngest_refuses_is_refused_with_the_field_at_fault(text: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        CronSchedule.parse(text)
    assert message in str(caught.value)


def test_a_time_zone_is_given_once() -> None:
    assert CronSchedule.parse("0 9 * * *", zone="Europe/Paris").zone == PARIS
    with pytest.raises(CronError, match="names a time zone, and a time zone was given too"):
        CronSchedule.parse("TZ=UTC 0 9 * * *", zone="Europe/Paris")
    with pytest.raises(CronError, match="unknown time zone 'Nowhere'"):
        CronSchedule.parse("0 9 * * *", zone="Nowhere")
