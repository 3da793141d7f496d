"""Subscription topics in the language: how they parse, what the checker says, how they print, and which
topic each email ends up in."""

from __future__ import annotations

import pytest

from dsl import ast as a
from dsl.checker import check_files
from dsl.errors import DslSyntaxError
from dsl.formatter import format_source
from dsl.parser import parse_source
from dsl.source import SourceFile
from dsl.symbols import collect
from dsl.topics import email_topic, journey_topic

from .test_checker import TEMPLATES

CAMPAIGN = """\
topics {
  product "Product news"
  events "Events and webinars"
  digest
}
settings { unsubscribe leaves topic }
journey webinar "Webinar" {
  topic events
  enter when stage becomes lead
  send "welcome"
  send "reminder" at 09:00 on weekdays topic product
  if email.clicked { send "case_study" topic digest } else send "greeting"
}
scenario "leaves" {
  lead "ana@example.com"
  at 1d 10:00: unsubscribed from events
  expect at 2d: sent "welcome"
}
"""


def parse(text: str) -> a.File:
    return parse_source(SourceFile("t.nurture", text))


def codes(text: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in check_files([parse(text)], TEMPLATES)]


def test_the_parts_parse_into_their_nodes() -> None:
    topics, settings, journey, scenario = parse(CAMPAIGN).items
    assert isinstance(topics, a.Topics)
    assert [(str(t.name), t.title) for t in topics.decls] == [("product", "Product news"),
                                                            ("events", "Events and webinars"), ("digest", None)]
    assert isinstance(settings, a.Settings) and settings.items == (a.UnsubscribeLeaves("topic"),)
    assert isinstance(journey, a.Journey) and journey.items[0] == a.JourneyTopic(a.Name("events"))
    sends = [s.action for s in journey.steps if isinstance(s.action, a.Send)]
    assert [(str(s.template), s.topic) for s in sends] == [("welcome", None), ("reminder", "product")]
    assert sends[1].window is not None  # a send window and a topic together
    assert isinstance(scenario, a.Scenario)
    leave = scenario.items[1]
    assert isinstance(leave, a.LeaveTopic) and leave.topic == "events" and str(leave.at) == "1d 10:00"
    assert leave in scenario.timeline  # ordered in time with the events and expectations


def test_symbols_gather_topics_in_order_and_what_unsubscribe_leaves() -> None:
    sym = collect([parse(CAMPAIGN)])
    assert list(sym.topics) == ["product", "events", "digest"]
    assert sym.unsubscribe_leaves == "topic"
    assert collect([parse("topics { product }")]).unsubscribe_leaves == "everything"  # the default


def test_each_email_takes_its_sends_topic_else_its_journeys() -> None:
    journey = parse(CAMPAIGN).items[2]
    assert isinstance(journey, a.Journey)
    steps = journey.steps
    branch = steps[2].action
    assert isinstance(branch, a.Branch)
    assert journey_topic(journey) == "events"
    sends = [steps[0].action, steps[1].action, branch.then[0].action, branch.otherwise[0].action]
    assert [email_topic(journey, s) for s in sends if isinstance(s, a.Send)] == ["events", "product", "digest",
                                                                                 "events"]
    bare = parse('journey j { enter when stage becomes lead\n send "welcome" }').items[0]
    assert isinstance(bare, a.Journey) and journey_topic(bare) is None


def test_a_correct_campaign_has_no_topic_diagnostics() -> None:
    assert [c for c in codes(CAMPAIGN) if c[0] in ("E120", "E201", "E220")] == []


def test_unknown_topics_are_reported_where_they_are_named() -> None:
    text = CAMPAIGN.replace("topic events\n", "topic event\n").replace("topic digest", "topic digets") \
        .replace("unsubscribed from events", "unsubscribed from evnts")
    assert [c for c in codes(text) if c[0] == "E120"] == [("E120", 8, 9), ("E120", 12, 46), ("E120", 16, 34)]


def test_a_second_topic_line_and_a_topic_declared_twice_are_reported() -> None:
    text = CAMPAIGN.replace("topic events\n", "topic events\n  topic product\n").replace("  digest\n", "  product\n")
    found = codes(text)
    assert ("E220", 9, 3) in found
    assert ("E201", 4, 3) in found


def test_a_topic_line_below_the_steps_is_a_syntax_error_that_says_where_it_goes() -> None:
    with pytest.raises(DslSyntaxError) as err:
        parse('journey j {\n  enter when stage becomes lead\n  topic events\n}')
    assert "comes first in the journey" in str(err.value.diagnostics[0].help)


@pytest.mark.parametrize("text", [CAMPAIGN, "settings {\n  unsubscribe leaves everything\n}\n"])
def test_the_formatter_round_trips_and_is_idempotent(text: str) -> None:
    once = format_source(text)
    assert format_source(once) == once
    assert parse(once).items == parse(text).items
    assert "send \"reminder\" at 09:00 on weekdays topic product" in once or "unsubscribe leaves everything" in once
