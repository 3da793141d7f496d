"""Invariants: what every scenario of a campaign must keep to, judged as each email goes out."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.lab.expectations import crowded

from .test_scenarios import failure_blocks, nurture, small_campaign

DAY0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)

DRIP = """\
scenario "A reader who looks around" {
  lead "ann@acme.example" { timezone = "America/New_York" }
  at 0d: signed.up
  at 1d: page.viewed { url = "/blog" }
  expect at 2d 09:00: sent "tips"
}

scenario "A quiet one" {
  lead "bob@acme.example" { timezone = "America/New_York" }
  at 0d: signed.up
  expect at 2d 09:00: sent "nudge"
}
"""


@pytest.mark.parametrize(("offsets", "count", "days", "found"), [
    ([0, 2], 1, 3, [0, 2]),
    ([0, 3], 1, 3, None),  # a window of 3 days holds what is less than 3 days apart
    ([0, 1, 5, 6, 6.5], 2, 2, [5, 6, 6.5]),
    ([4, 0, 1], 2, 7, [0, 1, 4]),  # in any order
    ([], 0, 1, None),
    ([1], 0, 1, [1]),
])
def test_crowded_finds_the_first_window_with_too_many(offsets, count, days, found):
    times = [DAY0 + dt.timedelta(days=d) for d in offsets]
    expected = None if found is None else [DAY0 + dt.timedelta(days=d) for d in found]
    assert crowded(times, count, dt.timedelta(days=days)) == expected


def test_invariants_hold_in_every_scenario_or_fail_it_with_the_lead_and_days(tmp_path, monkeypatch):
    small_campaign(tmp_path, monkeypatch, drip=DRIP, rules="""\
invariant at most 1 email per 3 days
""")
    result = nurture("test", "journeys/tests/drip.nurture")
    assert result.exit_code == 1
    blocks = failure_blocks(result.stdout)
    assert set(blocks) == {"A reader who looks around", "A quiet one"}
    block = blocks["A quiet one"]
    assert block.startswith("journeys/tests/rules.nurture:1: invariant at most 1 email per 3 days\n"
                            "but at 2d Wed 09:00:\n"
                            '  bob@acme.example got 2 emails from 0d Mon 09:00 to 2d Wed 09:00: "hello" from '
                            'onboarding.hello at 0d Mon 09:00, "nudge" from onboarding.send_nudge at 2d Wed 09:00\n')


def test_no_email_when_a_condition_holds(tmp_path, monkeypatch):
    small_campaign(tmp_path, monkeypatch, drip=DRIP, rules="""\
invariant at most 2 emails per 3 days
invariant no email when engagement >= 10
""")
    result = nurture("test", "journeys/tests/drip.nurture")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == ['FAIL journeys/tests/drip.nurture::"A reader who looks around"',
                         'PASS journeys/tests/drip.nurture::"A quiet one"']
    block = failure_blocks(result.stdout)["A reader who looks around"]
    assert block.startswith("journeys/tests/rules.nurture:2: invariant no email when engagement >= 10\n"
                            "but at 2d Wed 09:00:\n"
                            '  "tips" from onboarding.send_tips went to ann@acme.example at 2d Wed 09:00, when '
                            "engagement >= 10 (engagement = 10)\n")


def test_a_campaign_that_keeps_its_invariants_passes(tmp_path, monkeypatch):
    small_campaign(tmp_path, monkeypatch, drip=DRIP, rules="""\
invariant at most 2 emails per 3 days
invariant no email when stage is sql
""")
    result = nurture("test", "journeys/tests/drip.nurture")
    assert result.exit_code == 0, result.stdout
