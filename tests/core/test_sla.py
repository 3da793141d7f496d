"""Follow-up deadlines and statuses, decided on plain values with the time passed in."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from engine.core.sla import SlaPlan, SlaRule, WorkingHours, deadline, status

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_FIVE = WorkingHours(dt.time(9), dt.time(17))


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(UTC)


def test_clock_time_deadline_ignores_nights_and_weekends() -> None:
    friday = berlin(2026, 3, 6, 16, 0)
    assert deadline(friday, 4 * 3600, None, BERLIN) == friday + dt.timedelta(hours=4)


def test_business_deadline_within_one_working_day() -> None:
    assert deadline(berlin(2026, 3, 4, 10, 0), 4 * 3600, NINE_TO_FIVE, BERLIN) == berlin(2026, 3, 4, 14, 0)


def test_business_deadline_spans_a_weekend() -> None:
    # Friday 15:00: two working hours that day, the other two on Monday morning
    assert deadline(berlin(2026, 3, 6, 15, 0), 4 * 3600, NINE_TO_FIVE, BERLIN) == berlin(2026, 3, 9, 11, 0)


def test_entry_at_night_or_on_a_weekend_starts_at_the_next_opening() -> None:
    assert deadline(berlin(2026, 3, 4, 22, 30), 3600, NINE_TO_FIVE, BERLIN) == berlin(2026, 3, 5, 10, 0)
    assert deadline(berlin(2026, 3, 7, 12, 0), 3600, NINE_TO_FIVE, BERLIN) == berlin(2026, 3, 9, 10, 0)
    # before opening on a working day
    assert deadline(berlin(2026, 3, 4, 6, 0), 30 * 60, NINE_TO_FIVE, BERLIN) == berlin(2026, 3, 4, 9, 30)


def test_deadline_that_ends_exactly_at_closing_stays_that_day() -> None:
    assert deadline(berlin(2026, 3, 4, 13, 0), 4 * 3600, NINE_TO_FIVE, BERLIN) == berlin(2026, 3, 4, 17, 0)


def test_business_time_is_counted_in_the_owners_timezone() -> None:
    entered = dt.datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 16:00 in Berlin, 10:00 in New York
    assert deadline(entered, 4 * 3600, NINE_TO_FIVE, BERLIN) == berlin(2026, 3, 5, 12, 0)
    assert deadline(entered, 4 * 3600, NINE_TO_FIVE, NEW_YORK) == dt.datetime(2026, 3, 4, 19, 0, tzinfo=UTC)


def test_spring_forward_weekend_keeps_wall_clock_opening_hours() -> None:
    # Europe moves its clocks forward on Sunday 2026-03-29: Friday 16:00 is UTC+1, Monday 11:00 is UTC+2
    due = deadline(berlin(2026, 3, 27, 16, 0), 3 * 3600, NINE_TO_FIVE, BERLIN)
    assert due == berlin(2026, 3, 30, 11, 0)
    assert due == dt.datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    # on the clock, the same three hours are three real hours whatever the offset does
    night = berlin(2026, 3, 29, 1, 30)
    assert deadline(night, 3 * 3600, None, BERLIN) == night + dt.timedelta(hours=3)
    assert (deadline(night, 3 * 3600, None, BERLIN)).astimezone(BERLIN).hour == 5  # 01:30 + 3h, one hour skipped


def test_fall_back_inside_working_hours_gives_that_day_one_hour_more() -> None:
    # New York falls back on Sunday 2026-11-01 at 02:00; working hours 00:00-08:00 that day hold nine real hours
    night_shift = WorkingHours(dt.time(0), dt.time(8), frozenset(range(7)))
    entered = dt.datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)
    due = deadline(entered, 9 * 3600, night_shift, NEW_YORK)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == dt.datetime(2026, 11, 1, 8, 0)
    assert due - entered.astimezone(UTC) == dt.timedelta(hours=9)


def test_working_days_are_the_ones_declared() -> None:
    four_days = WorkingHours(dt.time(9), dt.time(17), frozenset({0, 1, 2, 3}))
    # Thursday 16:00: one hour that day, Friday is not a working day, the rest on Monday
    assert deadline(berlin(2026, 3, 5, 16, 0), 2 * 3600, four_days, BERLIN) == berlin(2026, 3, 9, 10, 0)


def test_status_open_met_breached() -> None:
    entered = berlin(2026, 3, 4, 10, 0)
    due = berlin(2026, 3, 4, 14, 0)
    assert status(entered, due, None, berlin(2026, 3, 4, 13, 59)) == "open"
    assert status(entered, due, None, due) == "breached"
    assert status(entered, due, berlin(2026, 3, 4, 11, 0), berlin(2026, 3, 4, 12, 0)) == "met"
    assert status(entered, due, berlin(2026, 3, 4, 11, 0), berlin(2026, 3, 10)) == "met"
    # a follow-up at the deadline or after it is too late, one before entry does not count
    assert status(entered, due, due, berlin(2026, 3, 5)) == "breached"
    assert status(entered, due, berlin(2026, 3, 4, 9, 0), berlin(2026, 3, 5)) == "breached"
    # a follow-up later than `now` has not happened yet at `now`
    assert status(entered, due, berlin(2026, 3, 4, 11, 0), berlin(2026, 3, 4, 10, 30)) == "open"


def test_plan_picks_the_owners_timezone_else_the_default() -> None:
    plan = SlaPlan({"sql": SlaRule("sql", 3600, True, "sales.contacted")}, NINE_TO_FIVE,
                   {"ana@acme.example": "Europe/Berlin"}, "America/New_York")
    entered = dt.datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # 16:30 Berlin, 10:30 New York
    assert plan.deadline("sql", entered, "Ana@Acme.example") == berlin(2026, 3, 5, 9, 30)
    assert plan.deadline("sql", entered, "bo@acme.example") == dt.datetime(2026, 3, 4, 16, 30, tzinfo=UTC)
    assert plan.deadline("mql", entered, None) is None


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Kolkata", "Australia/Sydney"])
def test_a_business_deadline_always_falls_inside_working_hours(zone: str) -> None:
    tz = ZoneInfo(zone)
    start = dt.datetime(2026, 3, 20, tzinfo=UTC)
    for hour in range(0, 24 * 14, 5):
        due = deadline(start + dt.timedelta(hours=hour), 5 * 3600, NINE_TO_FIVE, tz).astimezone(tz)
        assert due.weekday() < 5 and dt.time(9) < due.time() <= dt.time(17)


CAMPAIGN = '''settings {
  business hours 09:00 to 17:00 on mon, tue, wed, thu
  owner "Ana@acme.example" timezone "Europe/Berlin"
  default timezone "America/New_York"
}
events {
  demo.requested
  sales.contacted
}
stage sql {
  when demo.requested
  FOLLOW_UP
}
'''


def _campaign(tmp_path, follow_up: str):
    from dsl.campaign import load_campaign

    (tmp_path / "c.nurture").write_text(CAMPAIGN.replace("FOLLOW_UP", follow_up))
    campaign = load_campaign([tmp_path], tmp_path)
    assert not campaign.has_errors, campaign.diagnostics
    return campaign


def test_compiled_plan_counts_business_days_as_whole_working_days(tmp_path) -> None:
    from engine.core.rules import compile_rules

    plan = compile_rules(_campaign(tmp_path, "follow up within 1 business week by sales.contacted {\n"
                                              "    reassign round robin [\"bo@acme.example\"]\n  }")).slas
    rule = plan.rules["sql"]
    assert (rule.business, rule.event, rule.text) == (True, "sales.contacted", "1 business week")
    assert rule.seconds == 4 * 8 * 3600  # four working days of eight hours
    assert plan.owner_zones == {"ana@acme.example": "Europe/Berlin"} and plan.default_zone == "America/New_York"
    assert [a.kind for a in rule.actions] == ["reassign"] and rule.actions[0].owners == ("bo@acme.example",)
    # Thursday 10:00 Berlin: Thursday's 7 hours, no Friday, then Monday to Wednesday (24) and 1 on Thursday
    assert plan.deadline("sql", berlin(2026, 3, 5, 10, 0), "ana@acme.example") == berlin(2026, 3, 12, 10, 0)


def test_a_follow_up_does_not_change_the_rules_hash(tmp_path) -> None:
    # scores and stage moves do not depend on follow-ups: adding one must not rescore every lead
    from engine.core.rules import rules_hash

    with_sla = rules_hash(_campaign(tmp_path, "follow up within 2 hours by sales.contacted {\n  }"))
    without = rules_hash(_campaign(tmp_path, ""))
    other_stage = rules_hash(_campaign(tmp_path, "when sales.contacted"))
    assert with_sla == without != other_stage
