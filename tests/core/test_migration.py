"""Moving in-flight leads to an edited journey: what `plan` says is where `apply` puts them, and they go on
from there in the new version."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from dsl.campaign import parse_sources
from engine.core.journey_plan import JourneyPlan, WaitEventStep, WaitStep
from engine.core.journeys import (
    Enqueue,
    Enrollment,
    EnrollmentStatus,
    JourneyDecisions,
    LeadView,
    Park,
)
from engine.core.migration import Migration, Move, move
from engine.core.rules import Rules, compile_rules

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
KINDS = {"send": 'send "welcome"', "wait": "wait 2 days", "wait_event": "wait up to 3 days for page.viewed"}


def rules_of(steps: list[tuple[str, str]]) -> Rules:
    body = "\n".join(f"  {label}: {KINDS[kind]}" for label, kind in steps)
    text = ('events {\n  page.viewed { url: text }\n}\nstage mql {\n  when fit >= 0\n}\n'
            f"journey j {{\n  enter when stage becomes mql\n{body}\n}}\n")
    return compile_rules(parse_sources({"campaign.nurture": text}))


def plan_of(steps: list[tuple[str, str]]) -> JourneyPlan:
    return rules_of(steps).journeys["j"]


def at(label: str, plan: JourneyPlan) -> Enrollment:
    """A lead at ``label``: in it when it is a wait, about to run it otherwise."""
    waits = isinstance(plan.program[label], WaitStep | WaitEventStep)
    status = EnrollmentStatus.WAITING if waits else EnrollmentStatus.ACTIVE
    return Enrollment(1, 7, "j", 1, 1, label, status, T0, None, {}, T0)


def lead() -> LeadView:
    return LeadView(7, "ann@acme.example", {}, {}, "mql", None, False)


kinds = st.sampled_from(sorted(KINDS))
journeys = st.lists(kinds, min_size=1, max_size=8).map(lambda ks: [(f"s{i}", k) for i, k in enumerate(ks)])


@st.composite
def edits(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str]:
    old = draw(journeys)
    kept = [step for step in old if draw(st.booleans())]
    new: list[tuple[str, str]] = []
    for index, step in enumerate([*kept, None]):
        new += [(f"n{index}_{j}", kind) for j, kind in enumerate(draw(st.lists(kinds, max_size=2)))]
        if step is not None:
            new.append(step)
    if not new:
        new = [("n_only", "send")]
    position = draw(st.sampled_from([label for label, _ in old]))
    return old, new, position


@settings(max_examples=150, deadline=None)
@given(edits())
def test_plan_predicts_where_apply_puts_a_lead_and_it_goes_on_from_there(edit) -> None:
    old_steps, new_steps, label = edit
    old, new = plan_of(old_steps), plan_of(new_steps)
    enrollment = at(label, old)
    result = Migration()
    values = move(enrollment, old, new, 2, T0, result)
    [(predicted, count)] = result.moves.items()
    assert count == 1 and predicted.step == label

    # the README's rule: stay at the same label, else the first later step of the old order still there
    survivors = [s for s, _ in old_steps[[s for s, _ in old_steps].index(label) + 1:] if s in new.program]
    expected = label if label in new.program else (survivors[0] if survivors else None)
    assert predicted.to == expected == values["step"]
    assert predicted.how == ("stay" if label in new.program else "next" if expected else "finish")

    # and the lead goes on from there in the new version: what runs next is what the new version has there
    status = values.get("status", enrollment.status)
    moved = Enrollment(1, 7, "j", 1, 2, values["step"], status, values.get("due_at", T0), None, {}, T0)
    if moved.step is None:
        return
    effects = JourneyDecisions(rules_of(new_steps), 2, T0 + dt.timedelta(days=3), lambda *a: []).advance(moved, lead())
    waiting_still = status == EnrollmentStatus.WAITING
    first_run = new.program[moved.step].next if waiting_still else moved.step
    if first_run is None:
        return
    first = effects[0]
    assert isinstance(first, Enqueue | Park)
    assert first.step == first_run  # e.g. a step inserted right after the wait a lead is in runs: none is skipped


def test_a_removed_wait_lets_its_leads_go_on_now_not_at_the_old_timeout() -> None:
    old = plan_of([("s0", "send"), ("s1", "wait_event"), ("s2", "send")])
    new = plan_of([("s0", "send"), ("s2", "send")])
    waiting = Enrollment(1, 7, "j", 1, 1, "s1", EnrollmentStatus.WAITING, T0 + dt.timedelta(days=7), None, {}, T0)
    result = Migration()
    values = move(waiting, old, new, 2, T0, result)
    assert values["step"] == "s2" and values["status"] == EnrollmentStatus.ACTIVE and values["due_at"] == T0
    assert result.lines() == ["j: 1 lead at `s1` (removed) moves to `s2`"]


def test_a_lead_waiting_for_its_email_time_stays_in_that_send_and_is_not_sent_it_again() -> None:
    old, new = timed(["s0", "s1"]), timed(["n0", "s0", "s1"])
    due = T0 + dt.timedelta(days=1)
    waiting = Enrollment(1, 7, "j", 1, 1, "s0", EnrollmentStatus.WAITING, due, None, {}, T0)
    values = move(waiting, old.journeys["j"], new.journeys["j"], 2, T0, Migration())
    assert values["step"] == "s0" and "status" not in values  # still in `s0`, its email queued under version 1
    moved = Enrollment(1, 7, "j", 1, 2, "s0", EnrollmentStatus.WAITING, due, None, {}, T0)
    effects = JourneyDecisions(new, 2, due, lambda *a: []).advance(moved, lead())
    assert [e.step for e in effects if isinstance(e, Enqueue)] == ["s1"]  # `s0` is not queued again


def timed(labels: list[str]) -> Rules:
    """A journey of sends that each wait for the next weekday 09:00."""
    steps = "\n".join(f'  {label}: send "welcome" at 09:00 on weekdays' for label in labels)
    text = ('stage mql {\n  when fit >= 0\n}\n'
            f"journey j {{\n  enter when stage becomes mql\n{steps}\n}}\n")
    return compile_rules(parse_sources({"campaign.nurture": text}))


def test_moves_are_counted_per_step_for_plan() -> None:
    old = plan_of([("s0", "send"), ("s1", "wait"), ("s2", "send")])
    new = plan_of([("s1", "wait"), ("s2", "send")])
    result = Migration()
    for label in ("s0", "s0", "s1"):
        move(at(label, old), old, new, 2, T0, result)
    move(at("s2", old), old, None, 2, T0, result)
    assert result.moves == {Move("j", "s0", "s1", "next"): 2, Move("j", "s1", "s1", "stay"): 1,
                            Move("j", "s2", None, "exit"): 1}
    assert (result.kept, result.moved, result.exited) == (1, 2, 1)
    # what changes first, then who stays
    assert result.lines() == ["j: 2 leads at `s0` (removed) move to `s1`", "j: 1 lead at `s2` exits (journey removed)",
                              "j: 1 lead stays at `s1`"]
