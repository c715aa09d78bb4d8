"""Cron expressions as Inngest reads them, and the times they fire.

Inngest parses cron triggers with robfig/cron (standard parser: minute, hour,
day of month, month, day of week) and an optional `TZ=Area/City ` or
`CRON_TZ=Area/City ` prefix; without one the time zone is UTC. Its sync refuses
anything else: six fields, `@daily`-style descriptors, `L`, `W`, `#`, `H`,
a day of week 7. `CronSchedule.parse` checks that grammar itself, so a
function or a schedule refused by Inngest is refused here with the field at
fault, and hands the sets it read to croniter, which walks the calendar.

Daylight saving time follows robfig/cron: a wall-clock time that a change skips
does not fire that day, a time that occurs twice fires twice, and the day rule
is robfig's (day of month *or* day of week when both are restricted, *and* when
either is `*` or `?`). A schedule with no time in the next five years (say,
February 30th) never fires: `next_after` returns None, as robfig's zero time.

Nothing here knows about the executor or queries; both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter  # type: ignore[import-untyped]

__all__ = ["MAX_CRON_CHARS", "CronError", "CronSchedule", "parse_zone", "rfc3339"]

#: Inngest refuses a cron trigger longer than this.
MAX_CRON_CHARS = 255
#: robfig/cron gives up (and Inngest never fires) when no time matches within five years.
MAX_YEARS = 5

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (name, lowest, highest, names) of the five fields, in order.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i for i, name in enumerate(_MONTHS, start=1)}),
    ("day of week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
)
_PREFIX = re.compile(r"(?:CRON_)?TZ=(\S*)\s+(.*)", re.DOTALL)
_PART = re.compile(r"(?P<base>\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?")


class CronError(ValueError):
    """The cron expression or time zone is not valid."""


def parse_zone(name: str) -> tzinfo:
    """The IANA time zone `name` (`UTC` included); `CronError` when there is none."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone '{name}' (use an IANA name like Europe/Paris)") from exc


def rfc3339(ts: float) -> str:
    """`ts` in UTC as Go's `time.RFC3339` writes it (`2026-01-02T09:00:00Z`), as Inngest does."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression: `next_after(ts)` is when it fires next, in epoch seconds."""

    text: str
    zone: tzinfo
    minutes: frozenset[int]
    hours: frozenset[int]
    _expanded: str  # the five fields as croniter reads them, from the sets parsed here

    @classmethod
    def parse(cls, text: str, *, zone: str | None = None) -> CronSchedule:
        """Read `text` (five fields, an optional `TZ=` prefix); `zone` applies without one.

        Raises `CronError` saying what is wrong, starting with Inngest's own
        message for an expression its sync refuses.
        """
        if len(text) > MAX_CRON_CHARS:
            raise CronError(f"cron is too long. maximum length is {MAX_CRON_CHARS} characters")
        body = text.strip()
        prefixed = _PREFIX.fullmatch(body)
        if prefixed:
            if zone is not None:
                raise CronError(f"'{text}' names a time zone, and a time zone was given too")
            zone, body = prefixed.group(1), prefixed.group(2).strip()
        tz = parse_zone(zone) if zone is not None else UTC
        if body.startswith("@"):
            raise CronError(
                f"'{text}' isn't a valid cron schedule: Inngest does not accept descriptors "
                "like @daily; write the five fields (@daily is '0 0 * * *')"
            )
        fields = body.split()
        if len(fields) != len(_FIELDS):
            raise CronError(
                f"'{text}' isn't a valid cron schedule: expected exactly 5 fields "
                f"(minute hour day-of-month month day-of-week), found {len(fields)}"
            )
        sets: list[frozenset[int]] = []
        expanded: list[str] = []
        for value, spec in zip(fields, _FIELDS, strict=True):
            try:
                values, star = _parse_field(value, *spec[1:])
            except CronError as exc:
                raise CronError(f"'{text}' isn't a valid cron schedule: {spec[0]}: {exc}") from exc
            sets.append(values)
            # croniter's day rule looks for a literal '*' (robfig's star bit), like robfig's.
            expanded.append("*" if star else ",".join(str(v) for v in sorted(values)))
        return cls(text, tz, sets[0], sets[1], " ".join(expanded))

    def next_after(self, ts: float) -> float | None:
        """The first time after `ts` (strictly) that the schedule fires; None for never."""
        return self._walk(ts, forward=True)

    def latest_until(self, ts: float) -> float | None:
        """The last time at or before `ts` that the schedule fired (None: none in five years)."""
        return self._walk(int(ts) + 1, forward=False)

    def _walk(self, ts: float, *, forward: bool) -> float | None:
        """The first fire time after (or before) `ts`, strictly, in five years at most.

        croniter moves a wall-clock time skipped by a DST change to the first one after
        it; robfig/cron (so Inngest) does not fire then: the minute and hour must match.
        """
        start = datetime.fromtimestamp(ts, self.zone)
        try:
            it = croniter(self._expanded, start, max_years_between_matches=MAX_YEARS)
            while True:
                at: datetime = it.get_next(datetime) if forward else it.get_prev(datetime)
                if at.minute in self.minutes and at.hour in self.hours:
                    return float(at.timestamp())
        except CroniterError:
            return None


def _parse_field(
    text: str, low: int, high: int, names: dict[str, int]
) -> tuple[frozenset[int], bool]:
    """The values of one field, and whether robfig sets its star bit (`*` or `?`, step 1)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        match = _PART.fullmatch(part)
        if match is None:
            raise CronError(f"'{part}' is not a value, a range or a step")
        base, step_text = match.group("base"), match.group("step")
        step = int(step_text) if step_text is not None else 1
        if step < 1:
            raise CronError(f"step of '{part}' must be a positive number")
        if base in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        elif "-" in base:
            first, last = base.split("-")
            start, end = _value(first, low, high, names), _value(last, low, high, names)
        else:
            start = _value(base, low, high, names)
            end = high if step_text is not None else start  # robfig: `N/step` is `N-max/step`
        if start > end:
            raise CronError(f"beginning of range ({start}) beyond end of range ({end})")
        values.update(range(start, end + 1, step))
    return frozenset(values), star


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"'{text}' is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{value} is out of range ({low}-{high})")
    return value
