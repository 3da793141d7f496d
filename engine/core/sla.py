"""Follow-up SLAs, decided on plain values with the time passed in: when a follow-up is due, and whether a
lead's follow-up is open, met or breached at a given instant.

Business time is counted in the owner's own timezone: only the working hours of working days count, so a
deadline of 4 business hours set on Friday at 15:00 in Berlin falls on Monday at 11:00 Berlin time, whatever
the offset from UTC did in between. Elapsed time inside working hours is real time, so on a day a clock change
falls inside the working hours that day has one hour more or less of it.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from engine.core.clock import as_utc
from engine.core.schedule import zone

Status = Literal["open", "met", "breached"]

#: how far ahead a business deadline is searched for; the checker keeps deadlines far below it
_MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class WorkingHours:
    """``business hours 09:00 to 17:00 on weekdays``: the same hours each working day, wall-clock time."""

    start: dt.time
    end: dt.time
    #: Monday is 0
    days: frozenset[int] = frozenset(range(5))

    @property
    def day_seconds(self) -> int:
        """The working time of one ordinary working day, in seconds."""
        return (self.end.hour * 60 + self.end.minute - self.start.hour * 60 - self.start.minute) * 60


@dataclass(frozen=True)
class SlaAction:
    """What a missed follow-up does: ``notify`` (recipient, address, template), ``reassign`` (owners) or
    ``back_to`` (a stage)."""

    kind: Literal["notify", "reassign", "back_to"]
    recipient: str | None = None
    address: str | None = None
    template: str | None = None
    owners: tuple[str, ...] = ()
    stage: str | None = None


@dataclass(frozen=True)
class SlaRule:
    """One stage's follow-up: how long sales has, counted how, which event meets it, and what a miss does."""

    stage: str
    #: the deadline's length: clock seconds, or working seconds when ``business``
    seconds: int
    business: bool
    event: str
    actions: tuple[SlaAction, ...] = ()
    #: the deadline as written (amount, unit), for messages: `4 business hours`
    written: tuple[int, str] = (0, "hour")

    @property
    def text(self) -> str:
        amount, unit = self.written
        return f"{amount}{' business' if self.business else ''} {unit}{'' if amount == 1 else 's'}"


@dataclass(frozen=True)
class SlaPlan:
    """Every follow-up of a campaign, with the settings that decide its deadlines."""

    rules: dict[str, SlaRule] = field(default_factory=dict)
    hours: WorkingHours | None = None
    #: owner address (lower case) -> IANA timezone name
    owner_zones: dict[str, str] = field(default_factory=dict)
    default_zone: str = "UTC"

    @functools.cached_property
    def events(self) -> frozenset[str]:
        """The event types that follow a lead up, in any stage."""
        return frozenset(rule.event for rule in self.rules.values())

    def zone_of(self, owner: str | None) -> ZoneInfo:
        """Where an owner works: their own timezone, else the campaign's default, else UTC."""
        return zone(self.owner_zones.get((owner or "").lower()), self.default_zone)

    def deadline(self, stage: str, entered_at: dt.datetime, owner: str | None) -> dt.datetime | None:
        """When the follow-up of a lead entering ``stage`` at ``entered_at`` is due (None: the stage has none)."""
        rule = self.rules.get(stage)
        if rule is None:
            return None
        hours = self.hours if rule.business else None
        return deadline(entered_at, rule.seconds, hours, self.zone_of(owner))


def deadline(entered_at: dt.datetime, seconds: int, hours: WorkingHours | None, tz: ZoneInfo) -> dt.datetime:
    """When a follow-up started at ``entered_at`` is due, as UTC: ``seconds`` of clock time, or of working time
    when ``hours`` are given, counted in ``tz``."""
    start = as_utc(entered_at)
    if hours is None:
        return start + dt.timedelta(seconds=seconds)
    if seconds <= 0:
        return start
    left = dt.timedelta(seconds=seconds)
    day = start.astimezone(tz).date()
    for _ in range(_MAX_DAYS):
        if day.weekday() in hours.days:
            opens, closes = _wall(day, hours.start, tz), _wall(day, hours.end, tz)
            begin = max(opens, start)
            if begin < closes:
                if begin + left <= closes:
                    return begin + left
                left -= closes - begin
        day += dt.timedelta(days=1)
    raise ValueError(f"no working time within {_MAX_DAYS} days of {start.isoformat()}")


def _wall(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    """Wall-clock ``at`` on ``day`` in ``tz`` as UTC. A time a clock change skips (02:30 on a spring-forward
    night) reads with the offset before the change (fold 0), which is the instant just after the jump; a time
    that happens twice reads as its first occurrence."""
    return dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)


def status(entered_at: dt.datetime, due: dt.datetime, followed_up_at: dt.datetime | None,
           now: dt.datetime) -> Status:
    """A follow-up's state at ``now``: met when the follow-up happened after entry and before the deadline
    (by ``now``), breached once the deadline has come without it, open until then."""
    if followed_up_at is not None and entered_at <= followed_up_at < due and followed_up_at <= now:
        return "met"
    return "breached" if now >= due else "open"
