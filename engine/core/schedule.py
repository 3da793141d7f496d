"""Time arithmetic in the lead's own timezone: send windows, quiet hours, frequency caps.

All inputs and outputs are aware UTC datetimes; wall-clock rules are applied in the lead's zone
with zoneinfo, so "09:00" stays 09:00 local across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsl.ast import QuietHours

UTC = dt.UTC
ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The lead's zone, else the campaign default, else UTC (an unknown name never fails a send)."""
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _local(day: dt.date, hour: int, minute: int, tz: ZoneInfo) -> dt.datetime:
    """Wall-clock ``hour:minute`` on ``day`` as UTC; a time skipped by DST moves forward an hour."""
    naive = dt.datetime(day.year, day.month, day.day, hour, minute)
    candidate = naive.replace(tzinfo=tz)
    roundtrip = candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if roundtrip != naive:  # does not exist (spring forward): the same instant, read after the jump
        candidate = (naive + dt.timedelta(hours=1)).replace(tzinfo=tz)
    return candidate.astimezone(UTC)


def next_slot(after: dt.datetime, tz: ZoneInfo, hour: int, minute: int,
              days: Iterable[int] | None = None) -> dt.datetime:
    """The first instant at or after ``after`` that is ``hour:minute`` local on one of ``days``."""
    allowed = set(days or ALL_DAYS)
    day = after.astimezone(tz).date()
    for offset in range(8):
        candidate_day = day + dt.timedelta(days=offset)
        if candidate_day.weekday() not in allowed:
            continue
        at = _local(candidate_day, hour, minute, tz)
        if at >= after:
            return at
    raise ValueError("no allowed weekday")  # unreachable: days is never empty after checking


def quiet_until(at: dt.datetime, tz: ZoneInfo, start: tuple[int, int], end: tuple[int, int]) -> dt.datetime:
    """``at`` itself, or the end of the quiet hours it falls in (windows may cross midnight)."""
    local = at.astimezone(tz)
    now = (local.hour, local.minute)
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return at
    return next_slot(at, tz, *end)


def capped_until(at: dt.datetime, sent: list[dt.datetime], caps: dict[str, int]) -> dt.datetime:
    """The first moment at or after ``at`` when one more email keeps every rolling cap."""
    windows = [(dt.timedelta(days=1 if period == "day" else 7), limit) for period, limit in caps.items()]
    sent = sorted(sent)
    moved = True
    while moved:
        moved = False
        for window, limit in windows:
            inside = [s for s in sent if at - window < s <= at]
            if len(inside) >= limit:
                # wait until enough of the earliest sends leave the window
                at = inside[len(inside) - limit] + window  # that send no longer counts then
                moved = True
    return at


def next_allowed(settings: Mapping[str, Any], caps: dict[str, int], quiet: QuietHours | None, now: dt.datetime,
                 tz_name: str | None, sent: list[dt.datetime]) -> dt.datetime:
    """When a marketing email may go: after quiet hours, and within the lead's frequency caps given the
    emails ``sent`` to it (recently, and earlier in this batch)."""
    return deferral(settings, caps, quiet, now, tz_name, sent)[0]


def deferral(settings: Mapping[str, Any], caps: dict[str, int], quiet: QuietHours | None, now: dt.datetime,
             tz_name: str | None, sent: list[dt.datetime]) -> tuple[dt.datetime, str]:
    """`next_allowed`, and why the email waits until then ("" when it need not wait), for the outbox to show."""
    at, why = now, []
    if caps:
        at = capped_until(at, sent, caps)
        if at > now:
            why += [f"the frequency cap of {limit} per {period}" for period, limit in sorted(caps.items())
                    if capped_until(now, sent, {period: limit}) > now]
    if quiet is not None:
        tz = zone(tz_name, str(settings.get("default timezone") or "UTC"))
        capped, at = at, quiet_until(at, tz, (quiet.start.hour, quiet.start.minute), (quiet.end.hour, quiet.end.minute))
        if at > capped:
            why.append(f"quiet hours {quiet.start}-{quiet.end} ({tz.key})")
    return at, " and ".join(why)
