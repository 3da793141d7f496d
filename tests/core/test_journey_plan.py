"""A journey compiled into a flat program: labels, the jumps of an if/else, source order."""

from __future__ import annotations

import pytest

from engine.core.journey_plan import (
    BranchStep,
    NotifyStep,
    SendStep,
    SetStep,
    StepKind,
    WaitEventStep,
    WaitStep,
    WaitTimeStep,
    Window,
)

from .helpers import DAY, HOUR, rules_of

CAMPAIGN = """
attributes { plan: text }
events {
  demo.requested
  trial.started
}
score engagement {
  +50 per demo.requested
}
stage mql { when engagement >= 40 }

journey onboarding "Onboarding" {
  enter when stage becomes mql
  exit when demo.requested
  goal trial.started
  reentry after 30 days
  send "welcome" at 09:00 on weekdays
  wait 2 days
  if engagement >= 40 {
    send "demo_invite"
  } else {
    nudge: send "case_study"
    wait 2 days
  }
  wait 2 days
  send "welcome"
  wait up to 3 days for trial.started
  wait until 10:30 on mon, thu
  set plan = "pro"
  done: notify sales with "sql_alert"
}

journey single {
  enter when demo.requested
  if plan = "pro" {
    send "welcome"
  }
  send "breakup"
}

journey nothing {
  enter when trial.started
}
"""


@pytest.fixture(scope="module")
def journeys():
    return rules_of(CAMPAIGN).journeys


@pytest.fixture(scope="module")
def plan(journeys):
    return journeys["onboarding"]


def test_labels_are_derived_from_what_a_step_does_and_numbered_on_repeats(plan):
    assert plan.order == ["send_welcome", "wait_2_days", "branch", "send_demo_invite", "nudge", "wait_2_days_2",
                          "wait_2_days_3", "send_welcome_2", "wait_for_trial_started", "wait_until_1030",
                          "set_plan", "done"]
    assert set(plan.program) == set(plan.order)
    assert all(plan.program[label].label == label for label in plan.order)


def test_the_program_runs_in_source_order(plan):
    assert plan.start == "send_welcome"
    steps, label = [], plan.start
    while label is not None:
        steps.append(label)
        instruction = plan.program[label]
        label = instruction.then if instruction.kind == "branch" else instruction.next
    # taking every `then`: the else side is skipped
    assert steps == ["send_welcome", "wait_2_days", "branch", "send_demo_invite", "wait_2_days_3",
                     "send_welcome_2", "wait_for_trial_started", "wait_until_1030", "set_plan", "done"]


def test_the_jumps_of_an_if_else(plan):
    branch = plan.program["branch"]
    assert (branch.kind, branch.then, branch.otherwise, branch.next) == \
        ("branch", "send_demo_invite", "nudge", "wait_2_days_3")
    # the last step of each side continues after the if/else
    assert plan.program["send_demo_invite"].next == "wait_2_days_3"
    assert plan.program["nudge"].next == "wait_2_days_2"
    assert plan.program["wait_2_days_2"].next == "wait_2_days_3"
    assert plan.program["done"].next is None


def test_a_branch_tests_its_condition_like_a_stage_does(plan):
    branch = plan.program["branch"]
    assert isinstance(branch, BranchStep)
    test = branch.test
    assert branch.text == "engagement >= 40"
    assert test({}, {"engagement": 40}, lambda i: False, "mql")
    assert not test({}, {"engagement": 39}, lambda i: False, "mql")


def test_an_if_without_else_falls_through(journeys):
    single = journeys["single"]
    assert single.order == ["branch", "send_welcome", "send_breakup"]
    branch = single.program["branch"]
    assert (branch.then, branch.otherwise, branch.next) == ("send_welcome", "send_breakup", "send_breakup")
    assert single.program["send_breakup"].next is None


def test_a_journey_without_steps_has_no_start(journeys):
    assert journeys["nothing"].start is None
    assert journeys["nothing"].program == {}


def test_instruction_arguments(plan):
    program = plan.program
    assert program["send_welcome"] == SendStep("send_welcome", program["send_welcome"].next, "welcome",
                                               Window(9, 0, (0, 1, 2, 3, 4)))
    assert program["send_welcome_2"] == SendStep("send_welcome_2", program["send_welcome_2"].next, "welcome")
    assert program["wait_2_days"] == WaitStep("wait_2_days", program["wait_2_days"].next, 2 * DAY)
    wait_event = program["wait_for_trial_started"]
    assert isinstance(wait_event, WaitEventStep)
    assert (wait_event.event, wait_event.filter, wait_event.timeout) == ("trial.started", None, 3 * DAY)
    assert program["wait_until_1030"] == WaitTimeStep("wait_until_1030", program["wait_until_1030"].next,
                                                      Window(10, 30, (0, 3)))
    assert program["set_plan"] == SetStep("set_plan", program["set_plan"].next, "plan", "pro")
    assert program["done"].kind == StepKind.NOTIFY
    assert program["done"] == NotifyStep("done", None, "sales", None, "sql_alert")


def test_triggers_and_reentry(plan):
    (entry,) = plan.entries
    assert (entry.stage, entry.test) == ("mql", None)
    (exit_,) = plan.exits
    assert exit_.events == frozenset({"demo.requested"})
    assert exit_.text == "demo.requested"
    (goal,) = plan.goals
    assert goal.events == frozenset({"trial.started"})
    assert (plan.reentry, plan.reentry_after) == ("after", 30 * 24 * HOUR)
    # triggers and waits alike: every event the journey reacts to
    assert plan.event_types == frozenset({"demo.requested", "trial.started"})


def test_an_event_trigger_answers_through_its_journeys_own_atoms(plan):
    exit_ = plan.exits[0]
    index = next(i for i, atom in enumerate(plan.atoms) if atom.event == "demo.requested")
    assert exit_.test({}, {}, lambda i: i == index, "lead")
    assert not exit_.test({}, {}, lambda i: False, "lead")


def _with_first_step(step: str):
    return rules_of(CAMPAIGN.replace('  send "welcome" at 09:00 on weekdays\n',
                                     f'  {step}\n  send "welcome" at 09:00 on weekdays\n')).journeys["onboarding"]


def test_labels_do_not_shift_when_a_different_step_is_inserted_before(plan):
    after = _with_first_step('notify sales with "case_study"')
    assert after.order == ["notify_case_study", *plan.order]
    assert (after.start, after.program["notify_case_study"].next) == ("notify_case_study", "send_welcome")


def test_a_repeat_of_the_same_kind_inserted_before_takes_the_first_number(plan):
    after = _with_first_step("wait 2 days")
    assert after.order[:3] == ["wait_2_days", "send_welcome", "wait_2_days_2"]
    assert after.order[-1] == "done"
