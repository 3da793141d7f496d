"""`nurture test` with topics, as a user runs it: a lead who leaves a topic, and the timeline a failure shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_scenarios import failure_blocks, nurture, small_campaign
from .test_topics_delivery import TOPICS_CAMPAIGN

SCENARIOS = """\
scenario "Leaving events stops the invitation, not the news" {
  lead "ann@acme.example"
  at 0d: unsubscribed from events
  at 0d: signed.up
  expect at 1d: sent "product_news"
  expect at 1d: sent "account_notice"
  expect at 1d: not sent "event_invite"
}

scenario "Expecting the invitation after leaving events fails" {
  lead "bob@acme.example"
  at 0d: unsubscribed from events
  at 1d: signed.up
  expect at 2d: sent "event_invite"
}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return small_campaign(tmp_path, monkeypatch, TOPICS_CAMPAIGN, topics=SCENARIOS)


def test_a_topic_left_in_a_scenario_holds_back_its_emails_and_shows_in_the_timeline(project: Path) -> None:
    result = nurture("test", "journeys/tests/topics.nurture", "-j", "1")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == ['PASS journeys/tests/topics.nurture::"Leaving events stops the invitation, not the news"',
                         'FAIL journeys/tests/topics.nurture::"Expecting the invitation after leaving events fails"']
    block = failure_blocks(result.stdout)["Expecting the invitation after leaving events fails"]
    assert "unsubscribed from `events`" in block
    assert '"event_invite" from onboarding.invite suppressed: the lead left topic `events` at send time' in block
