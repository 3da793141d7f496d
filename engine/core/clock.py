"""The one clock: every component asks it for the time, so tests and simulations can move it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Real time, for the daemon."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class VirtualClock:
    """Time that only moves when told to: tests, simulations and the demo."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, when: dt.datetime) -> None:
        self._now = as_utc(when)

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self._now += delta
        return self._now


def as_utc(when: dt.datetime) -> dt.datetime:
    """Aware UTC; a naive value is taken to be UTC already (as stored by SQLite)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_instant(text: str) -> dt.datetime:
    """An ISO-8601 timestamp with a timezone (``Z`` allowed), as UTC; ValueError otherwise."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        raise ValueError("timestamp has no timezone; add `Z` for UTC")
    return value.astimezone(UTC)


def epoch(when: dt.datetime) -> float:
    return as_utc(when).timestamp()


def from_epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)
