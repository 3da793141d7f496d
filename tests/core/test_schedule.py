"""Send windows, quiet hours and frequency caps in the lead's zone, across daylight-saving changes.

Expected instants are written in UTC from the offsets in force: Europe/Berlin is UTC+1 (CET) and
UTC+2 (CEST, from the last Sunday of March to the last Sunday of October); America/New_York is
UTC-5 (EST) and UTC-4 (EDT, from the second Sunday of March to the first Sunday of November).
In 2026: Berlin changes on March 29 and October 25, New York on March 8 and November 1.
"""

from __future__ import annotations

import datetime as dt

import pytest

from dsl.ast import QuietHours, TimeOfDay
from engine.core.schedule import capped_until, deferral, next_allowed, next_slot, quiet_until, zone

UTC = dt.UTC
WEEKDAYS = (0, 1, 2, 3, 4)
BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_the_calendar_assumed_below():
    assert [dt.date(2026, 3, d).weekday() for d in (6, 8, 27, 29)] == [4, 6, 4, 6]  # Fri, Sun, Fri, Sun
    assert [dt.date(2026, m, d).weekday() for m, d in ((10, 23), (10, 25), (10, 30), (11, 1))] == [4, 6, 4, 6]


@pytest.mark.parametrize(("tz", "after", "expected"), [
    # Berlin, spring: Friday 11:00 CET is past 09:00; Monday 09:00 is CEST (07:00 UTC)
    (BERLIN, utc(2026, 3, 27, 10, 0), utc(2026, 3, 30, 7, 0)),
    # the same Friday before 09:00 CET (08:00 UTC): that morning
    (BERLIN, utc(2026, 3, 27, 7, 59), utc(2026, 3, 27, 8, 0)),
    # exactly at the slot: the slot itself
    (BERLIN, utc(2026, 3, 27, 8, 0), utc(2026, 3, 27, 8, 0)),
    # Berlin, autumn: Friday 09:00 CEST is 07:00 UTC; Monday 09:00 CET is 08:00 UTC
    (BERLIN, utc(2026, 10, 23, 7, 0, 1), utc(2026, 10, 26, 8, 0)),
    # New York, spring: Friday 09:00 EST is 14:00 UTC; Monday 09:00 EDT is 13:00 UTC
    (NEW_YORK, utc(2026, 3, 6, 14, 0, 1), utc(2026, 3, 9, 13, 0)),
    # New York, autumn: Friday 09:00 EDT is 13:00 UTC; Monday 09:00 EST is 14:00 UTC
    (NEW_YORK, utc(2026, 10, 30, 13, 30), utc(2026, 11, 2, 14, 0)),
    # the weekday is the lead's: Friday 22:00 EDT is already Saturday in UTC, and Monday is next
    (NEW_YORK, utc(2026, 10, 3, 2, 0), utc(2026, 10, 5, 13, 0)),
    # Sunday 23:30 UTC is Monday 01:30 CEST in Berlin: that same Monday
    (BERLIN, utc(2026, 4, 5, 23, 30), utc(2026, 4, 6, 7, 0)),
])
def test_next_nine_on_weekdays_in_the_leads_zone(tz, after, expected):
    slot = next_slot(after, tz, 9, 0, WEEKDAYS)
    assert slot == expected
    local = slot.astimezone(tz)
    assert (local.hour, local.minute, local.weekday() in WEEKDAYS) == (9, 0, True)


def test_every_day_at_nine_keeps_local_time_across_the_change():
    slots, at = [], utc(2026, 3, 27, 12, 0)
    for _ in range(4):
        at = next_slot(at, BERLIN, 9, 0)
        slots.append(at)
        at += dt.timedelta(seconds=1)
    assert slots == [utc(2026, 3, 28, 8, 0), utc(2026, 3, 29, 7, 0), utc(2026, 3, 30, 7, 0), utc(2026, 3, 31, 7, 0)]


def test_a_wall_time_skipped_by_the_change_moves_forward_an_hour():
    # 02:30 does not exist in Berlin on 2026-03-29 (02:00 CET jumps to 03:00 CEST): 03:30 CEST
    assert next_slot(utc(2026, 3, 28, 23, 0), BERLIN, 2, 30) == utc(2026, 3, 29, 1, 30)
    # in New York on 2026-03-08: 03:30 EDT
    assert next_slot(utc(2026, 3, 8, 5, 0), NEW_YORK, 2, 30) == utc(2026, 3, 8, 7, 30)


def test_a_repeated_wall_time_is_taken_at_its_first_occurrence():
    # 02:30 happens twice in Berlin on 2026-10-25: first at CEST (00:30 UTC)
    assert next_slot(utc(2026, 10, 24, 23, 0), BERLIN, 2, 30) == utc(2026, 10, 25, 0, 30)


def test_a_single_allowed_day_is_up_to_a_week_ahead():
    # Monday 09:00 CEST has just passed: next Monday
    assert next_slot(utc(2026, 4, 6, 7, 1), BERLIN, 9, 0, [0]) == utc(2026, 4, 13, 7, 0)


def test_an_unknown_zone_falls_back_to_the_default_then_utc():
    assert zone("Mars/Olympus", "Europe/Berlin") == BERLIN
    assert str(zone(None, "Nowhere/Else")) == "UTC"
    assert str(zone("", "")) == "UTC"


QUIET = ((21, 0), (7, 0))  # 21:00 to 07:00 local, across midnight


@pytest.mark.parametrize(("at", "expected"), [
    (utc(2026, 4, 6, 18, 59), utc(2026, 4, 6, 18, 59)),  # 20:59 CEST: not quiet yet
    (utc(2026, 4, 6, 19, 0), utc(2026, 4, 7, 5, 0)),  # 21:00 CEST: quiet until 07:00 the next morning
    (utc(2026, 4, 6, 21, 30), utc(2026, 4, 7, 5, 0)),  # 23:30 CEST
    (utc(2026, 4, 6, 22, 30), utc(2026, 4, 7, 5, 0)),  # 00:30 CEST, after midnight
    (utc(2026, 4, 7, 4, 59), utc(2026, 4, 7, 5, 0)),  # 06:59 CEST
    (utc(2026, 4, 7, 5, 0), utc(2026, 4, 7, 5, 0)),  # 07:00 CEST: the quiet hours are over
    # the night the clocks go forward: 23:00 CET on March 28 to 07:00 CEST on March 29
    (utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 5, 0)),
    # the night the clocks go back: 23:00 CEST on October 24 to 07:00 CET on October 25
    (utc(2026, 10, 24, 21, 0), utc(2026, 10, 25, 6, 0)),
])
def test_quiet_hours_across_midnight(at, expected):
    assert quiet_until(at, BERLIN, *QUIET) == expected


def test_quiet_hours_within_one_day():
    lunch = ((12, 0), (13, 0))
    assert quiet_until(utc(2026, 4, 6, 10, 30), BERLIN, *lunch) == utc(2026, 4, 6, 11, 0)  # 12:30 CEST
    assert quiet_until(utc(2026, 4, 6, 11, 0), BERLIN, *lunch) == utc(2026, 4, 6, 11, 0)  # 13:00 CEST
    assert quiet_until(utc(2026, 4, 6, 21, 30), BERLIN, *lunch) == utc(2026, 4, 6, 21, 30)  # 23:30 CEST


def test_quiet_hours_are_the_leads():
    # 02:00 UTC is 22:00 EDT in New York (quiet) but 04:00 CEST in Berlin (quiet too, until 07:00)
    at = utc(2026, 4, 7, 2, 0)
    assert quiet_until(at, NEW_YORK, *QUIET) == utc(2026, 4, 7, 11, 0)
    assert quiet_until(at, BERLIN, *QUIET) == utc(2026, 4, 7, 5, 0)
    # 18:00 UTC is 14:00 EDT: not quiet in New York
    assert quiet_until(utc(2026, 4, 7, 18, 0), NEW_YORK, *QUIET) == utc(2026, 4, 7, 18, 0)


SECOND = dt.timedelta(seconds=1)


def frees_at(result: dt.datetime, boundary: dt.datetime) -> bool:
    """``result`` is when a send leaves its window: exactly ``boundary``.

    A send exactly one window ago no longer counts, so ``boundary`` is the first moment that keeps the cap.
    """
    return result == boundary


def test_no_sends_no_cap():
    at = utc(2026, 4, 6, 9, 0)
    assert capped_until(at, [], {"day": 1, "week": 1}) == at


def test_a_cap_per_day_is_a_rolling_24_hours():
    sent = [utc(2026, 4, 6, 10, 0), utc(2026, 4, 6, 14, 0)]
    # two a day: a third at 16:00 waits until the 10:00 send is a day old
    assert frees_at(capped_until(utc(2026, 4, 6, 16, 0), sent, {"day": 2}), utc(2026, 4, 7, 10, 0))
    # after that moment it is free
    assert capped_until(utc(2026, 4, 7, 10, 0, 1), sent, {"day": 2}) == utc(2026, 4, 7, 10, 0, 1)
    # three a day: nothing to wait for
    assert capped_until(utc(2026, 4, 6, 16, 0), sent, {"day": 3}) == utc(2026, 4, 6, 16, 0)


def test_a_send_exactly_one_window_ago_no_longer_counts():
    at = utc(2026, 4, 7, 10, 0)
    assert capped_until(at, [at - dt.timedelta(days=1)], {"day": 1}) == at
    assert capped_until(at, [at - dt.timedelta(days=7)], {"week": 1}) == at


def test_sends_after_the_instant_do_not_count():
    at = utc(2026, 4, 6, 9, 0)
    assert capped_until(at, [at + dt.timedelta(hours=1)], {"day": 1}) == at


def test_a_cap_per_week():
    sent = [utc(2026, 4, 6, 9, 0), utc(2026, 4, 7, 9, 0), utc(2026, 4, 8, 9, 0)]
    # three a week: Thursday waits for Monday's send to be seven days old
    assert frees_at(capped_until(utc(2026, 4, 9, 9, 0), sent, {"week": 3}), utc(2026, 4, 13, 9, 0))
    # four a week: free
    assert capped_until(utc(2026, 4, 9, 9, 0), sent, {"week": 4}) == utc(2026, 4, 9, 9, 0)


def test_day_and_week_caps_together():
    sent = [utc(2026, 4, 6, 9, 0), utc(2026, 4, 8, 9, 0), utc(2026, 4, 8, 12, 0)]
    caps = {"day": 2, "week": 3}
    # Wednesday 15:00: the day cap waits until Thursday 09:00, where the week cap still holds
    # three sends since last Thursday: it waits for Monday's send to be a week old
    assert frees_at(capped_until(utc(2026, 4, 8, 15, 0), sent, caps), utc(2026, 4, 13, 9, 0))
    # with a roomier week cap only the day cap counts
    assert frees_at(capped_until(utc(2026, 4, 8, 15, 0), sent, {"day": 2, "week": 5}), utc(2026, 4, 9, 9, 0))


CAPS = ((dt.timedelta(days=1), 2), (dt.timedelta(days=7), 4))
SENT = [utc(2026, 4, d, h, 0) for d in (6, 7, 8) for h in (8, 17)]


def _keeps_caps(at: dt.datetime) -> bool:
    return all(sum(1 for s in SENT if at - window < s <= at) < limit for window, limit in CAPS)


def test_the_cap_result_keeps_every_cap():
    at = capped_until(utc(2026, 4, 8, 18, 0), SENT, {"day": 2, "week": 4})
    assert _keeps_caps(at)
    # six sends Monday to Wednesday at 08:00 and 17:00, four a week: Tuesday 08:00 must leave
    assert frees_at(at, utc(2026, 4, 14, 8, 0))


def test_the_cap_result_is_the_first_moment_that_keeps_every_cap():
    at = capped_until(utc(2026, 4, 8, 18, 0), SENT, {"day": 2, "week": 4})
    assert _keeps_caps(at)
    assert not _keeps_caps(at - SECOND)


def test_next_allowed_applies_the_caps_then_the_quiet_hours_of_the_leads_zone() -> None:
    quiet = QuietHours(TimeOfDay(20, 0), TimeOfDay(8, 0))
    settings = {"default timezone": "Europe/Berlin"}
    # two sends today already in New York: the day cap frees a slot 24 h after the first, at 22:00 local...
    sent = [utc(2026, 4, 7, 2, 0), utc(2026, 4, 7, 14, 0)]
    at = next_allowed(settings, {"day": 2}, quiet, utc(2026, 4, 7, 16, 0), "America/New_York", sent)
    # ...which is quiet there: the email waits for 08:00 New York time (12:00 UTC in April)
    assert at == utc(2026, 4, 8, 12, 0)
    # no zone of its own: the campaign's default zone decides the quiet hours (21:00 UTC is 23:00 in Berlin)
    assert next_allowed(settings, {}, quiet, utc(2026, 4, 7, 21, 0), None, []) == utc(2026, 4, 8, 6, 0)
    assert next_allowed(settings, {}, None, utc(2026, 4, 7, 21, 0), None, []) == utc(2026, 4, 7, 21, 0)


def test_a_deferral_says_what_holds_the_email_back() -> None:
    quiet = QuietHours(TimeOfDay(20, 0), TimeOfDay(8, 0))
    settings = {"default timezone": "Europe/Berlin"}
    sent = [utc(2026, 4, 7, 2, 0), utc(2026, 4, 7, 14, 0)]
    # the day cap moves it to 22:00 New York time, which is quiet there
    assert deferral(settings, {"day": 2, "week": 9}, quiet, utc(2026, 4, 7, 16, 0), "America/New_York", sent) == (
        utc(2026, 4, 8, 12, 0), "the frequency cap of 2 per day and quiet hours 20:00-08:00 (America/New_York)")
    # quiet hours alone, in the campaign's default zone
    assert deferral(settings, {}, quiet, utc(2026, 4, 7, 21, 0), None, []) == (
        utc(2026, 4, 8, 6, 0), "quiet hours 20:00-08:00 (Europe/Berlin)")
    # the cap alone, when the moment it frees is not quiet
    assert deferral(settings, {"day": 1}, None, utc(2026, 4, 7, 16, 0), None, sent) == (
        utc(2026, 4, 8, 14, 0), "the frequency cap of 1 per day")
    # nothing holds it back
    assert deferral(settings, {"day": 3}, quiet, utc(2026, 4, 7, 12, 0), None, sent) == (utc(2026, 4, 7, 12, 0), "")
