"""Scenarios in the checker: when their lines happen, what their expectations need, and what they must not change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dsl import ast as a
from dsl.checker import check_files
from dsl.parser import parse_source
from dsl.scenario_facts import Facts, needed_events
from dsl.source import SourceFile
from dsl.symbols import collect
from dsl.timeline import describe, instant, lead_zone, start_instant

TEMPLATES = Path(__file__).parent / "cases" / "templates"

CAMPAIGN = """
settings { default timezone "America/New_York" }
attributes { job_title: text  timezone: timezone }
events { page.viewed { url: text }  demo.requested  webinar.attended }
score fit { +30 if job_title = "VP" }
score engagement { +20 per page.viewed  +60 per demo.requested  decay 50% every 30 days }
stage mql { when fit >= 25 and engagement >= 40 }
stage sql {
  when fit >= 25 and (demo.requested within 30 days or webinar.attended and demo.requested)
  back to mql when sales.rejected within 30 days
  notify sales "sales@example.com" with "sql_alert"
}
journey recycled {
  enter when sales.rejected
  send "reminder"
}
journey welcome {
  enter when stage becomes mql
  goal demo.requested
  intro: send "welcome"
}
"""


def files(*texts: str) -> list[a.File]:
    return [parse_source(SourceFile(f"f{i}.nurture", t)) for i, t in enumerate(texts)]


def codes(*texts: str) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in check_files(files(CAMPAIGN, *texts), TEMPLATES)]


def scenario(text: str) -> a.Scenario:
    (item,) = files(text)[0].items
    assert isinstance(item, a.Scenario)
    return item


# ----- when things happen -------------------------------------------------------------------------


def test_day_zero_is_a_monday_at_nine_in_the_leads_timezone_unless_told():
    s = scenario('scenario "s" { lead "a@b.example" { timezone = "Europe/Berlin" } }')
    tz = lead_zone(s, {}, {"default timezone": "America/New_York"})
    assert tz.key == "Europe/Berlin"
    assert start_instant(s, tz) == dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    plain = scenario('scenario "s" { lead "a@b.example" }')
    assert lead_zone(plain, {}, {"default timezone": "America/New_York"}).key == "America/New_York"
    assert lead_zone(plain, {"timezone": "Asia/Tokyo"}, {}).key == "Asia/Tokyo"  # a declared default wins


def test_days_keep_the_wall_clock_across_dst_and_hours_do_not():
    s = scenario('scenario "s" { lead "a@b.example" start 2026-03-07 09:00 }')  # New York springs forward on the 8th
    tz = lead_zone(s, {}, {"default timezone": "America/New_York"})
    start = start_instant(s, tz)
    assert start is not None

    def at(text: str) -> str:
        moment = a.Moment(*_moment(text))
        when = instant(moment, start, tz)
        assert when is not None
        return describe(when, start, tz)

    assert at("1d") == "1d Sun 09:00"
    assert at("24h") == "1d Sun 10:00"
    assert at("1w 07:30") == "7d Sat 07:30"
    assert at("0d 02:30") == "0d Sat 02:30"
    assert at("1d 02:30") == "1d Sun 03:30"  # 02:30 does not exist that night: the same instant read after the jump


def _moment(text: str) -> tuple:
    offset, _, time = text.partition(" ")
    digits = offset.rstrip("wdhmin")
    unit = {"w": "week", "d": "day", "h": "hour", "min": "minute"}[offset[len(digits):]]
    hour, minute = (int(x) for x in time.split(":")) if time else (None, None)
    return int(digits), unit, a.TimeOfDay(hour, minute) if time else None  # type: ignore[arg-type]


# ----- what expectations need ---------------------------------------------------------------------


def test_events_a_condition_needs():
    cond = files('stage s { when fit >= 1 and (a.b or a.b and c.d) and not e.f }')[0].items[0].items[0].condition
    assert needed_events(cond) == {"a.b"}


def test_the_events_a_stage_journey_or_template_needs():
    facts = Facts.of(collect(files(CAMPAIGN)))
    assert facts.stage_needs("sql") == {"demo.requested"}
    assert facts.stage_needs("mql") == frozenset()  # its own `when` needs no event; `back to mql` is one more way
    assert facts.entry_needs("recycled") == {"sales.rejected"}
    assert facts.entry_needs("welcome") == frozenset()
    assert facts.goal_needs("welcome") == {"demo.requested"}
    assert facts.send_needs("reminder", None) == {"sales.rejected"}
    assert facts.notify_needs("sql_alert") == {"demo.requested"}


def test_an_expectation_after_its_event_is_fine_and_one_before_it_is_not():
    ok = codes('scenario "s" { lead "a@b.example" at 1d: sales.rejected expect at 1d: sent "reminder" }')
    assert ok == []
    early = codes('scenario "s" { lead "a@b.example" expect at 1d: sent "reminder" at 2d: sales.rejected }')
    assert early == [("E410", 1)]


# ----- scenarios and the rest of the checker ------------------------------------------------------


def test_a_score_read_only_by_a_scenario_is_still_unused():
    text = 'score unused { +1 per page.viewed }\nscenario "s" { lead "a@b.example" expect at 0d: unused >= 0 }'
    assert ("W103", 1) in codes(text)


def test_scenario_names_are_unique_within_a_file_only():
    same = 'scenario "s" { lead "a@b.example" expect at 0d: stage is lead }'
    assert codes(same, same) == []
    assert codes(same + "\n" + same) == [("E201", 2)]


@pytest.mark.parametrize(("line", "expected"), [
    ('expect at 1d: sent "welcome" in welcome.intro', []),
    ('expect at 1d: sent "welcome" in welcome.intr', [("E106", 1)]),
    ('expect at 1d: sent "reminder" in welcome', [("E412", 1)]),
    ('expect at 1d: sales notified with "welcome"', [("E411", 1)]),
    ("expect at 1d: in journey welcom", [("E108", 1)]),
    ("expect at 1d: fit between 1 and 0", [("E304", 1)]),
    ('expect at 1d: job_title = "VP"', []),
    ("expect at 1d: job_title >= 3", [("E301", 1)]),
])
def test_expectations_name_what_exists(line: str, expected: list[tuple[str, int]]):
    assert codes(f'scenario "s" {{ lead "a@b.example" {line} }}') == expected
