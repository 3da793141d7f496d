"""Journey decisions on plain values: no store, no clock but the one passed in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest

from dsl.campaign import parse_sources
from engine.core.journeys import (
    FINISHED,
    End,
    Enqueue,
    Enrollment,
    EnrollmentStatus,
    JourneyDecisions,
    LeadView,
    MessageKind,
    Park,
    SetAttribute,
    Wake,
    finished_then,
    ran_every_step,
)
from engine.core.rules import Rules, compile_rules

CAMPAIGN = """
settings {
  sender address "hello@acme.example"
  sales address "sales@acme.example"
  default timezone "Europe/Berlin"
}
events {
  page.viewed { url: text }
  demo.requested
}
attributes {
  segment: text = "smb"
}
score engagement {
  +10 per page.viewed
}
stage mql {
  when engagement >= 10
}
journey welcome {
  enter when stage becomes mql
  exit when segment = "churned"
  goal demo.requested
  intro: send "welcome"
  wait 2 days
  check: if page.viewed since intro {
    send "case_study" at 10:00 on weekdays
  } else {
    send "reminder"
  }
  waiting: wait up to 3 days for page.viewed where url contains "/pricing"
  set segment = "nurtured"
  notify sales with "sales_alert"
}
"""
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)  # a Monday


def rules_of(text: str) -> Rules:
    return compile_rules(parse_sources({"campaign.nurture": text}))


RULES = rules_of(CAMPAIGN)
PLAN = RULES.journeys["welcome"]


class History:
    """The events a lead had, answering the one question decisions ask of history."""

    def __init__(self, events: Iterable[tuple[str, dt.datetime, dict[str, Any]]] = ()) -> None:
        self.events = list(events)

    def __call__(self, lead_id: int, event_type: str, since: dt.datetime | None,
                 after: dt.datetime | None) -> list[dict[str, Any]]:
        return [props for etype, at, props in self.events
                if etype == event_type and (since is None or at >= since) and (after is None or at > after)]


def lead(**attributes: Any) -> LeadView:
    return LeadView(7, "ann@acme.example", {"segment": "smb", **attributes}, {"engagement": 10}, "mql", None, False)


def waiting(step: str, due: dt.datetime | None = T0, marks: dict[str, float] | None = None) -> Enrollment:
    return enrollment(step, due, marks, EnrollmentStatus.WAITING)  # type: ignore[arg-type]


def enrollment(step: str | None, due: dt.datetime | None = T0, marks: dict[str, float] | None = None,
               status: EnrollmentStatus = EnrollmentStatus.ACTIVE, waiting_for: int | None = None) -> Enrollment:
    return Enrollment(3, 7, "welcome", 1, 1, step, status, due, waiting_for, marks or {}, T0)


def decide(now: dt.datetime, history: History | None = None) -> JourneyDecisions:
    return JourneyDecisions(RULES, 2, now, history or History())


def test_the_first_step_queues_the_email_and_the_lead_is_then_in_the_wait() -> None:
    effects = decide(T0).advance(enrollment(PLAN.start), lead())
    send, park = effects
    assert send == Enqueue("3:intro:1", 7, MessageKind.MARKETING, "ann@acme.example", "welcome", T0, "welcome",
                           "intro", 3)
    assert isinstance(park, Park)
    assert park.due_at == T0 + dt.timedelta(days=2)
    assert park.step == "wait_2_days" and park.version_id == 2
    assert set(park.marks) == {"intro", "wait_2_days"}


def test_a_branch_reads_history_since_a_step_and_a_window_waits_for_weekday_ten_local() -> None:
    intro_at = T0.timestamp()
    later = T0 + dt.timedelta(days=2)  # Wednesday 09:00 Berlin
    viewed = History([("page.viewed", T0 + dt.timedelta(hours=1), {"url": "/blog"})])
    effects = decide(later, viewed).advance(enrollment("check", later, {"intro": intro_at}), lead())
    send = effects[0]
    assert isinstance(send, Enqueue) and send.template == "case_study"
    assert send.due == dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC)  # 10:00 in Berlin (UTC+1)
    # the enrolment waits with its email, so an exit or the goal before 10:00 stops it; what follows runs then
    park = effects[-1]
    assert isinstance(park, Park) and (park.step, park.due_at) == (send.step, send.due)
    [wait] = decide(send.due, viewed).advance(waiting(park.step, park.due_at, park.marks), lead())
    assert isinstance(wait, Park) and wait.step == "waiting"
    # the timeout counts from when the email goes, not from when the step was decided
    assert wait.due_at == send.due + dt.timedelta(days=3)
    assert decide(send.due).check_running(PLAN, waiting(park.step, park.due_at, park.marks), lead(segment="churned"),
                                          []) == [End(3, EnrollmentStatus.EXITED, 'exit when segment = "churned"')]

    nothing = decide(later).advance(enrollment("check", later, {"intro": intro_at}), lead())
    assert isinstance(nothing[0], Enqueue) and nothing[0].template == "reminder"
    assert nothing[0].due == later


def test_the_last_steps_set_an_attribute_notify_sales_and_finish() -> None:
    view = lead()
    effects = decide(T0).advance(enrollment(PLAN.program["waiting"].next), view)
    assert effects[0] == SetAttribute(view, "segment", "nurtured")
    assert view.attributes["segment"] == "nurtured"
    notify = effects[1]
    assert isinstance(notify, Enqueue) and notify.kind == MessageKind.SALES and notify.to == "sales@acme.example"
    end = effects[2]
    assert isinstance(end, End) and end.status == EnrollmentStatus.DONE and end.reason == "finished"
    assert end.marks is not None and PLAN.program["waiting"].next in end.marks


def test_an_exit_condition_is_checked_before_any_step() -> None:
    effects = decide(T0).advance(enrollment(PLAN.start), lead(segment="churned"))
    assert effects == [End(3, EnrollmentStatus.EXITED, 'exit when segment = "churned"')]


def test_a_journey_removed_from_the_campaign_ends_its_enrolments() -> None:
    decisions = JourneyDecisions(rules_of(CAMPAIGN.replace("journey welcome", "journey other")), 2, T0, History())
    assert decisions.advance(enrollment("intro"), lead()) == [
        End(3, EnrollmentStatus.EXITED, "journey removed from the campaign")]


def test_goal_exit_and_wake_up_on_a_change() -> None:
    decisions = decide(T0)
    goal = lead()
    goal.arrived = [("demo.requested", {}, T0.timestamp())]
    assert decisions.check_running(PLAN, enrollment("check"), goal, []) == [
        End(3, EnrollmentStatus.DONE, "goal reached: demo.requested", goal=True)]

    in_wait = waiting("waiting")
    pricing = lead()
    pricing.arrived = [("page.viewed", {"url": "/pricing"}, T0.timestamp())]
    assert decisions.check_running(PLAN, in_wait, pricing, []) == [Wake(3, PLAN.program["waiting"].next)]
    blog = lead()
    blog.arrived = [("page.viewed", {"url": "/blog"}, T0.timestamp())]
    assert decisions.check_running(PLAN, in_wait, blog, []) == []


def test_a_wait_that_ends_goes_on_after_it() -> None:
    later = T0 + dt.timedelta(days=2)
    effects = decide(later).advance(waiting("wait_2_days", later, {"intro": T0.timestamp()}), lead())
    assert isinstance(effects[0], Enqueue) and effects[0].step in ("send_case_study", "send_reminder")
    timed_out = decide(later).advance(waiting("waiting", later), lead())
    assert timed_out[0] == SetAttribute(timed_out[0].lead, "segment", "nurtured")  # type: ignore[union-attr]


def test_an_earlier_store_form_of_a_wait_reads_the_same() -> None:
    """Stores written before kept the step after an event wait in ``step`` and the wait's index aside."""
    after = PLAN.program["waiting"].next
    legacy = enrollment(after, status=EnrollmentStatus.WAITING, waiting_for=PLAN.order.index("waiting"))
    pricing = lead()
    pricing.arrived = [("page.viewed", {"url": "/pricing"}, T0.timestamp())]
    assert decide(T0).check_running(PLAN, legacy, pricing, []) == [Wake(3, after)]


@pytest.mark.parametrize(("policy", "last", "expected"), [
    ("never", None, True),
    ("never", T0 - dt.timedelta(days=400), False),
    ("always", T0, True),
    ("after 30 days", T0 - dt.timedelta(days=29), False),
    ("after 30 days", T0 - dt.timedelta(days=30), True),
])
def test_reentry_policies(policy: str, last: dt.datetime | None, expected: bool) -> None:
    rules = rules_of(CAMPAIGN.replace("  enter when stage becomes mql\n",
                                      f"  enter when stage becomes mql\n  reentry {policy}\n"))
    decisions = JourneyDecisions(rules, 1, T0, History())
    assert decisions.enters(rules.journeys["welcome"], lead(), ["mql"])
    assert decisions.may_enter(rules.journeys["welcome"], last) is expected


def test_an_enrolment_that_ran_every_step_stays_finished_whatever_came_after() -> None:
    assert ran_every_step("done", FINISHED)
    assert ran_every_step("done", finished_then("exit when demo.requested"))
    assert ran_every_step("done", finished_then("goal reached: demo.requested"))
    assert not ran_every_step("done", "goal reached: demo.requested")
    assert not ran_every_step("exited", "exit when demo.requested")
    assert not ran_every_step("done", "no steps")
    assert not ran_every_step("done", None)
