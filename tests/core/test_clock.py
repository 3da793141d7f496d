"""The clock: virtual time moves only when told; epoch seconds round-trip in UTC."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.clock import SystemClock, VirtualClock, as_utc, epoch, from_epoch, parse_instant

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
START = dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_a_virtual_clock_stands_still_until_told():
    clock = VirtualClock(START)
    first = clock.now()
    time.sleep(0.01)
    assert clock.now() == first == START


def test_advance_moves_by_exactly_the_delta_and_returns_the_new_time():
    clock = VirtualClock(START)
    assert clock.advance(dt.timedelta(hours=1, seconds=30)) == START + dt.timedelta(hours=1, seconds=30)
    clock.advance(dt.timedelta(days=2))
    assert clock.now() == START + dt.timedelta(days=2, hours=1, seconds=30)


def test_set_moves_anywhere_even_backwards():
    clock = VirtualClock(START)
    clock.set(START - dt.timedelta(days=400))
    assert clock.now() == START - dt.timedelta(days=400)


def test_a_virtual_clock_speaks_utc():
    berlin = dt.timezone(dt.timedelta(hours=1))
    clock = VirtualClock(dt.datetime(2026, 3, 1, 9, 0, tzinfo=berlin))
    assert clock.now() == START
    assert clock.now().utcoffset() == dt.timedelta(0)
    clock.set(dt.datetime(2026, 3, 1, 12, 0))  # naive: taken as UTC
    assert clock.now() == dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == dt.timedelta(0)


def test_the_system_clock_is_aware_utc_and_current():
    before = dt.datetime.now(UTC)
    now = SystemClock().now()
    assert now.utcoffset() == dt.timedelta(0)
    assert before <= now <= dt.datetime.now(UTC)


def test_epoch_counts_seconds_since_1970_utc():
    assert epoch(EPOCH) == 0
    assert epoch(START) == (START - EPOCH).total_seconds() == 1_772_352_000
    assert epoch(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == 1_772_352_000
    assert epoch(dt.datetime(2026, 3, 1, 8, 0)) == 1_772_352_000  # naive is UTC
    assert from_epoch(0) == EPOCH
    assert from_epoch(1_772_352_000.5) == START + dt.timedelta(milliseconds=500)


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_epoch_and_from_epoch_round_trip(when):
    back = from_epoch(epoch(when))
    assert back == when
    assert back.tzinfo is UTC


@given(st.integers(0, 7_258_118_400_000))  # milliseconds up to 2200
def test_from_epoch_and_epoch_round_trip_on_milliseconds(ms):
    seconds = ms / 1000
    assert epoch(from_epoch(seconds)) == seconds
    assert from_epoch(seconds) == EPOCH + dt.timedelta(milliseconds=ms)


def test_as_utc_converts_aware_and_labels_naive():
    new_york = dt.timezone(dt.timedelta(hours=-5))
    assert as_utc(dt.datetime(2026, 3, 1, 3, 0, tzinfo=new_york)) == START
    assert as_utc(dt.datetime(2026, 3, 1, 8, 0)).tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-03-01T08:00:00Z", "2026-03-01T09:00:00+01:00", " 2026-03-01T03:00-05:00 "])
def test_parse_instant(text):
    assert parse_instant(text) == START


def test_parse_instant_needs_a_timezone():
    with pytest.raises(ValueError, match="timezone"):
        parse_instant("2026-03-01T08:00:00")
