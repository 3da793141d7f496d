"""Split steps (A/B experiments) in the language: parsing, labels, formatting and the checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl import ast as a
from dsl.checker import check_files
from dsl.errors import DslSyntaxError
from dsl.formatter import format_source
from dsl.parser import parse_source
from dsl.source import SourceFile
from dsl.symbols import step_labels

TEMPLATES = Path(__file__).parent / "cases" / "templates"

CAMPAIGN = """\
settings {
  experiment seed "spring-2026"
}

events {
  demo.requested
  page.viewed { url: text }
}

journey welcome {
  enter when demo.requested
  subject: split "welcome_subject" {
    50% plain: send "welcome"
    50% story {
      send "reminder"
      wait 1 day
      follow: if page.viewed since subject {
        send "welcome"
      }
    }
    goal page.viewed where url contains "/pricing" within 14 days
    pick winner at 99.9% confidence
  }
  later: if page.viewed since send_reminder {
    wait 2 days
  }
}
"""


def parse(text: str) -> a.File:
    return parse_source(SourceFile("t.nurture", text))


def _split(file: a.File) -> a.Split:
    journey = next(i for i in file.items if isinstance(i, a.Journey))
    action = journey.steps[0].action
    assert isinstance(action, a.Split)
    return action


def test_a_split_parses_into_arms_goal_and_rule():
    file = parse(CAMPAIGN)
    split = _split(file)
    assert split.name == "welcome_subject"
    assert [(arm.weight, arm.name, len(arm.steps)) for arm in split.arms] == [(50, "plain", 1), (50, "story", 3)]
    [goal] = split.goals
    assert goal.event is not None and goal.event.event == "page.viewed" and goal.within.seconds == 14 * 86400
    assert split.picks == (a.PickWinner(confidence=99.9),)
    settings = next(i for i in file.items if isinstance(i, a.Settings))
    assert settings.items == (a.Setting("experiment seed", "spring-2026"),)


def test_both_arm_forms_are_the_same_tree():
    block = CAMPAIGN.replace('50% plain: send "welcome"', '50% plain {\n send "welcome"\n }')
    assert _split(parse(block)) == _split(parse(CAMPAIGN))


@pytest.mark.parametrize("rule, expected", [
    ("pick winner at 95% confidence", a.PickWinner(confidence=95.0)),
    ("pick winner at 97.5 % confidence", a.PickWinner(confidence=97.5)),
    ("pick winner on 2027-01-15", a.PickWinner(on=a.Value("date", __import__("datetime").date(2027, 1, 15)))),
])
def test_winner_rules(rule, expected):
    text = CAMPAIGN.replace("pick winner at 99.9% confidence", rule)
    assert _split(parse(text)).picks == (expected,)


def test_goal_click_has_no_event():
    text = CAMPAIGN.replace('goal page.viewed where url contains "/pricing" within 14 days', "goal click within 7 days")
    [goal] = _split(parse(text)).goals
    assert goal.event is None and goal.within.seconds == 7 * 86400


def test_steps_in_arms_get_labels_counted_through_the_journey():
    journey = next(i for i in parse(CAMPAIGN).items if isinstance(i, a.Journey))
    labels = set(step_labels(journey.steps).values())
    assert labels == {"subject", "send_welcome", "send_reminder", "wait_1_day", "follow", "send_welcome_2",
                      "later", "wait_2_days"}
    unlabelled = CAMPAIGN.replace("subject: split", "split").replace("since subject", "since send_welcome")
    journey = next(i for i in parse(unlabelled).items if isinstance(i, a.Journey))
    assert "split_welcome_subject" in step_labels(journey.steps).values()


def test_formatting_is_canonical_and_stable():
    messy = CAMPAIGN.replace("    50% story {\n      send \"reminder\"\n      wait 1 day\n",
                             "    50%   story {   send \"reminder\"   wait 1 day\n")
    assert format_source(messy) == CAMPAIGN
    assert format_source(CAMPAIGN) == CAMPAIGN
    one_line = CAMPAIGN.replace('50% plain: send "welcome"', '50% plain {\n send "welcome"\n }')
    assert format_source(one_line) == CAMPAIGN  # a one-step arm prints on one line
    rules = CAMPAIGN.replace("pick winner at 99.9% confidence", "pick winner at 95.0 % confidence")
    assert "pick winner at 95% confidence" in format_source(rules)


def test_a_valid_split_checks_clean_including_since_across_arms():
    assert [d.code for d in check_files([parse(CAMPAIGN)], TEMPLATES)] == []


def test_since_a_step_in_an_arm_is_allowed_after_the_split_but_not_before():
    text = CAMPAIGN.replace("if page.viewed since subject", "if page.viewed since later")
    assert [d.code for d in check_files([parse(text)], TEMPLATES)] == ["E403"]


@pytest.mark.parametrize("broken", [
    'split "x" { 50 a: send "welcome" }',  # a weight is a percent
    'split "x" { 50% send "welcome" }',  # an arm has a name
    'split x { 50% a: send "welcome" }',  # the split's name is quoted
    'split "x" { goal within 7 days }',
])
def test_malformed_splits_are_syntax_errors(broken):
    with pytest.raises(DslSyntaxError):
        parse(f"journey j {{\n  {broken}\n}}\n")


def test_editors_complete_the_split_step_and_its_goal():
    from dsl.completion import expected_at

    assert "split" in expected_at("journey j {\n  ", 2, 3).keywords
    inside = expected_at('journey j {\n  split "x" {\n    ', 3, 5).keywords
    assert inside == ("goal click within", "goal", "pick winner at", "pick winner on")
    assert "send" in expected_at('journey j {\n  split "x" {\n    50% a {\n      ', 4, 7).keywords
    assert "experiment seed" in expected_at("settings {\n  ", 2, 3).keywords
