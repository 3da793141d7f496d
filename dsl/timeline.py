"""When a scenario's statements happen: its start and each `at` as UTC instants, in the lead's own timezone."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping

from . import ast as a

UTC = dt.UTC
#: day 0 of a scenario without `start`: a Monday, 09:00 in the lead's timezone, far from any DST change
DEFAULT_START = (dt.date(2026, 1, 5), a.TimeOfDay(9, 0))
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: how long a scenario may run: a year of hourly ticks plays in seconds, longer is a typo
LONGEST = dt.timedelta(days=366)


def lead_zone(scenario: a.Scenario, defaults: Mapping[str, object],
              settings: Mapping[str, object]) -> zoneinfo.ZoneInfo:
    """The zone the engine would use for this lead: its own `timezone`, the attribute's declared default,
    the campaign's `default timezone`, else UTC (a name that is not a zone is passed over, as the engine does)."""
    own = {str(x.name): x.value.value for x in scenario.lead.attributes} if scenario.lead else {}
    for name in (own.get("timezone"), defaults.get("timezone"), settings.get("default timezone"), "UTC"):
        if isinstance(name, str) and name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def _valid(time: a.TimeOfDay | None) -> bool:
    return time is None or (time.hour <= 23 and time.minute <= 59)


def local_instant(day: dt.date, hour: int, minute: int, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """Wall-clock ``hour:minute`` on ``day`` as UTC; a time skipped by DST moves forward an hour."""
    naive = dt.datetime(day.year, day.month, day.day, hour, minute)
    candidate = naive.replace(tzinfo=tz)
    if candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        candidate = (naive + dt.timedelta(hours=1)).replace(tzinfo=tz)
    return candidate.astimezone(UTC)


def start_instant(scenario: a.Scenario, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """Day 0 as UTC, or None when the `start` written is not a real date and time (or is at the calendar's edge)."""
    day, time = DEFAULT_START
    start = scenario.start
    if start is not None:
        if not isinstance(start.date.value, dt.date) or not _valid(start.time):  # only a date literal holds a date
            return None
        day = start.date.value
        time = start.time or a.TimeOfDay(0, 0)
    if not dt.MINYEAR < day.year < dt.MAXYEAR:  # no room for a timeline in the calendar's first or last year
        return None
    return local_instant(day, time.hour, time.minute, tz)


def instant(moment: a.Moment, start: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """When ``moment`` is, or None when its time of day does not exist or it is more than `LONGEST` away.

    Days and weeks are calendar days in the lead's timezone (`1d` is the same wall-clock time the next day,
    across DST too); hours and minutes are elapsed time. A time of day then sets the clock on that day.
    """
    if not _valid(moment.time) or moment.amount * a.UNIT_SECONDS[moment.unit] > LONGEST.total_seconds():
        return None
    if moment.unit in ("day", "week"):
        days = moment.amount * (7 if moment.unit == "week" else 1)
        local = start.astimezone(tz)
        at = local_instant(local.date() + dt.timedelta(days=days), local.hour, local.minute, tz)
    else:
        at = start + dt.timedelta(hours=moment.amount) if moment.unit == "hour" \
            else start + dt.timedelta(minutes=moment.amount)
    if moment.time is not None:
        at = local_instant(at.astimezone(tz).date(), moment.time.hour, moment.time.minute, tz)
    return at


def describe(at: dt.datetime, start: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """An instant as a scenario reads: the day counted from the start, the weekday and the lead's wall clock."""
    local, first = at.astimezone(tz), start.astimezone(tz)
    day = (local.date() - first.date()).days
    return f"{day}d {WEEKDAYS[local.weekday()]} {local:%H:%M}"
