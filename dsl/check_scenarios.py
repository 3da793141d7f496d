"""Scenarios: a lead the campaign knows how to read, events it declares, times that move forward, and
expectations about stages, scores, templates and journeys that exist, placed after the events they need."""

from __future__ import annotations

import datetime as dt

from . import ast as a
from .check_conditions import Place, check_condition
from .check_context import Context
from .check_names import (
    declare,
    known_event,
    known_stage,
    lead_field_type,
    name_list,
    property_type,
    settable_attribute,
)
from .check_splits import check_arm_expectation
from .check_types import check_address, check_field_test, check_given
from .diagnostics import Label, did_you_mean
from .scenario_facts import Facts
from .source import Span
from .timeline import instant, lead_zone, start_instant
from .values import NUMBER, show_type


def facts(ctx: Context) -> Facts:
    if ctx.scenario_facts is None:
        ctx.scenario_facts = Facts.of(ctx.sym)
    return ctx.scenario_facts


def check_scenario(ctx: Context, scenario: a.Scenario) -> None:
    # names are unique within a file: a scenario is known by `path::"name"`
    declare(ctx, "scenario", scenario.name, scenario.name.span, ("scenario", scenario.span.path))
    key = str(scenario.name.span)  # duplicate names still get their own namespace
    for item in scenario.items:
        match item:
            case a.ScenarioLead():
                # several leads (of one account, say), each address once
                declare(ctx, "lead", str(item.email).lower(), item.span, ("scenario lead", key))
                _lead(ctx, item, f"{key}:{str(item.email).lower()}")
            case a.ScenarioStart():
                declare(ctx, "setting", "start", item.span, ("scenario setting", key))
            case a.ScenarioEvent():
                _event(ctx, item)
            case a.Expect():
                _expectation(ctx, item.check)
    if scenario.lead is None:
        ctx.report("E413", scenario.name.span, name=scenario.name, label="no `lead` in this scenario",
                   help='say who the lead is: `lead "ann@example.com" { job_title = "VP Marketing" }`')
    if not any(isinstance(i, a.Expect) for i in scenario.items):
        ctx.report("W105", scenario.name.span, name=scenario.name, label="no `expect` in this scenario",
                   help="add what should happen, like `expect at 2d: stage is mql`")
    _times(ctx, scenario)


def check_invariant(ctx: Context, invariant: a.Invariant) -> None:
    """An invariant limits emails to a number a lead can get (E304), or tests the lead as it is at each email:
    its attributes, scores and stage, not its events (E415)."""
    match invariant.rule:
        case a.EmailCap(count=0):
            ctx.report("E304", invariant.span, what="invariant", reason="`at most 0 emails` forbids every email",
                       label="no email could be sent", help="allow at least 1 email, or write what must never happen "
                                                            "with `invariant no email when ...`")
        case a.NoEmailWhen(condition=cond):
            events = [node for node in cond.walk() if isinstance(node, a.Happened)]
            for event in events:
                ctx.report("E415", event.span, label="an event condition",
                           help="test what the event changes instead: the stage, a score or an attribute")
            if not events:
                check_condition(ctx, cond, Place())


# ===== the lead and its events =================================================================


def _lead(ctx: Context, lead: a.ScenarioLead, key: str) -> None:
    check_address(ctx, lead.email, lead.email.span, "lead email")
    for attr in lead.attributes:
        declare(ctx, "attribute", attr.name, attr.name.span, ("scenario attribute", key))
        if attr.name == "email":
            ctx.report("E304", attr.span, what="attribute", reason="a lead's email is written after `lead`",
                       label="the email is given above", help="remove this line")
            continue
        if attr.name in ctx.sym.scores and attr.name not in ctx.sym.attributes:
            ctx.report("E302", attr.name.span, op="=", name=attr.name, type="a score", label="scores are computed",
                       help="give the lead the attributes and events that earn the score instead")
            continue
        t = settable_attribute(ctx, attr.name)
        if t is None:
            continue
        check_given(ctx, attr.name, t, attr.value, "given")
        if attr.name == "owner" and attr.value.kind == "text":
            check_address(ctx, str(attr.value.value), attr.value.span, "owner address")


def _event(ctx: Context, event: a.ScenarioEvent) -> None:
    if not known_event(ctx, event.event):
        return
    for prop in event.props:
        declare(ctx, "property", prop.name, prop.name.span, ("scenario property", str(event.span)))
        t = property_type(ctx, prop.name, event.event)
        if t is not None:
            check_given(ctx, prop.name, t, prop.value, "given")


# ===== expectations ============================================================================


def _expectation(ctx: Context, check: a.Check) -> None:
    match check:
        case a.ExpectStage(stage=stage):
            known_stage(ctx, stage)
        case a.ExpectValue(name=name, op=op, value=value):
            test = a.Compare(name, op, value, span=check.span)
            t = NUMBER if name in ctx.sym.scores else lead_field_type(ctx, test, name, None)
            if t is not None:
                check_field_test(ctx, test, t)
        case a.ExpectBetween():
            _between(ctx, check)
        case a.ExpectEmail():
            _email(ctx, check)
        case a.ExpectJourney(journey=journey):
            known_journey(ctx, journey)
        case a.ExpectArm():  # a split step's arm: check_splits.py
            check_arm_expectation(ctx, check)


def _between(ctx: Context, check: a.ExpectBetween) -> None:
    name = check.name
    if name not in ctx.sym.scores:
        t = lead_field_type(ctx, a.Compare(name, ">=", check.low, span=check.span), name, None)
        if t is not None and (t.is_list or t.name != "number"):
            ctx.report("E302", check.span, op="between", name=name, type=show_type(t),
                       label="`between` needs numbers", help=f"compare it with `=`, like `{name} = ...`")
            return
    low, high = check.low.value, check.high.value
    # The grammar takes only numbers after `between`; the isinstance checks just say so to the type checker.
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        ctx.report("E304", Span(check.span.path, check.low.span.line, check.low.span.column, check.high.span.end_line,
                                check.high.span.end_column),
                   what="range", reason=f"{low:g} is more than {high:g}", label="nothing lies between them",
                   help=f"put the lower number first: `{name} between {high:g} and {low:g}`")


def known_journey(ctx: Context, name: a.Name) -> bool:
    """Whether a journey of this name exists; reports it when not (E108)."""
    if name in ctx.sym.journeys:
        return True
    journeys = list(ctx.sym.journeys)
    ctx.report("E108", name.span, name=name, label="no journey has this name",
               help=did_you_mean(name, journeys)
               or (f"the journeys are {name_list(journeys)}" if journeys else "the campaign has no journeys"))
    return False


def _email(ctx: Context, check: a.ExpectEmail) -> None:
    f = facts(ctx)
    template = check.template
    if check.kind == "notified":
        if template not in f.notified_by:
            help_ = (f'`{template}` is emailed to the lead: `sent "{template}"`' if template in f.sent_by
                     else did_you_mean(template, f.notified_by) or "notify sales in a stage: "
                     f'`notify sales with "{template}"`')
            ctx.report("E411", template.span, verb="notifies sales with", template=template,
                       label="no `notify` uses this template", help=help_)
        return
    if check.journey is None:
        if template not in f.sent_by:
            help_ = (f'`{template}` is a sales notification: `sales notified with "{template}"`'
                     if template in f.notified_by else did_you_mean(template, f.sent_by)
                     or f'send it from a journey: `send "{template}"`')
            ctx.report("E411", template.span, verb="sends", template=template, label="no `send` uses this template",
                       help=help_)
        return
    if not known_journey(ctx, check.journey):
        return
    journey = str(check.journey)
    steps = f.labels[journey]
    sending = [label for j, label in f.sent_by.get(template, []) if j == journey]
    if check.step is None:
        if not sending:
            _not_sent(ctx, template, journey, check.journey.span, f"no `send \"{template}\"` in `{journey}`",
                      notes=[Label(ctx.sym.journeys[journey].name.span, f"`{journey}` is here")])
        return
    label = str(check.step)
    if label not in steps:
        shown = list(steps)[:8] + (["..."] if len(steps) > 8 else [])
        ctx.report("E106", check.step.span, name=label, journey=journey, label="no step has this label",
                   help=did_you_mean(label, steps) or (f"steps in `{journey}` are labelled {name_list(shown)}"
                                                      if steps else "the journey has no steps"))
    elif label not in sending:
        step = steps[label]
        does = (f"it sends `{step.action.template}`" if isinstance(step.action, a.Send)
                else f"it is a `{type(step.action).__name__.lower()}` step")
        sent_from = f"it is sent by `{journey}.{sending[0]}`" if sending else None
        _not_sent(ctx, template, f"{journey}.{label}", check.step.span, does,
                  notes=[Label(step.span, f"`{label}` is here")], help_=sent_from)


def _not_sent(ctx: Context, template: a.Name, source: str, span: Span, label: str, notes: list[Label],
              help_: str | None = None) -> None:
    ctx.report("E412", span, source=source, template=template, label=label, notes=notes,
               help=help_ or f"send it from `{source}`, or expect it where the campaign sends it")


# ===== times ===================================================================================


def _times(ctx: Context, scenario: a.Scenario) -> None:
    """Each `at` is no earlier than the line above it or the start; expectations come after what they need."""
    tz = lead_zone(scenario, ctx.sym.defaults, ctx.sym.settings)
    start = start_instant(scenario, tz)
    if start is None:
        if scenario.start is not None and scenario.start.date.kind == "date":  # else reported where written
            ctx.report("E304", scenario.start.date.span, what="start", reason="it leaves no room for a timeline",
                       label="too close to the edge of the calendar", help="start in a year like 2026")
        return
    timed = []
    for item in scenario.timeline:
        at = instant(item.at, start, tz)
        if at is not None:
            timed.append((at, item))
        elif item.at.time is None or (item.at.time.hour <= 23 and item.at.time.minute <= 59):
            ctx.report("E304", item.at.span, what="time", reason=f"`{item.at}` is more than a year after the start",
                       label="too far", help="a scenario plays at most a year")
    events = [(at, item) for at, item in timed if isinstance(item, a.ScenarioEvent)]
    for i, (at, item) in enumerate(timed):
        if at < start:
            where = "the start" if scenario.start is not None else "the start (day 0, 09:00)"
            ctx.report("E409", item.at.span, when=item.at, previous=where, label="before the scenario begins",
                       notes=[Label(scenario.start.span, "the scenario starts here")] if scenario.start else [],
                       help="times count from the start: `0d` is the start itself")
        elif i and at < timed[i - 1][0]:
            above = timed[i - 1][1]
            ctx.report("E409", item.at.span, when=item.at, previous=f"`{above.at}` above it",
                       label="goes back in time", notes=[Label(above.span, "this happens later")],
                       help="write the timeline in the order things happen")
        if isinstance(item, a.Expect):
            _needs(ctx, item, at, events)


def _needs(ctx: Context, expect: a.Expect, at: dt.datetime, events: list[tuple[dt.datetime, a.ScenarioEvent]]) -> None:
    """An expectation placed before an event without which it cannot hold (E410)."""
    seen = {str(e.event) for when, e in events if when <= at}
    if isinstance(expect.check, a.ExpectValue | a.ExpectBetween):
        _score_needs(ctx, expect, expect.check, seen)
        return
    needs, why = _needed(ctx, expect.check)
    for event in sorted(needs - seen):
        later = next((e for _, e in events if e.event == event), None)
        ctx.report("E410", expect.at.span, when=expect.at, needs=f"`{event}`",
                   label=f"`{event}` first happens at `{later.at}`" if later else f"the timeline has no `{event}`",
                   notes=[Label(later.span, "here")] if later else [],
                   help=f"{why}; expect it at `{later.at}` or later" if later
                   else f"{why}; add it before this line, like `at {expect.at}: {event}`")
        return  # one missing event says enough


def _needed(ctx: Context, check: a.Check) -> tuple[frozenset[str], str]:
    """The events ``check`` cannot hold without, and why it needs them."""
    f = facts(ctx)
    match check:
        case a.ExpectStage(stage=stage):
            return f.stage_needs(stage), f"a lead reaches `{stage}` only after it"
        case a.ExpectEmail(negated=False, kind="sent", template=template, journey=journey):
            senders = sorted({j for j, _ in f.sent_by.get(template, []) if journey is None or j == journey})
            return (f.send_needs(template, journey),
                    f"`{template}` is sent by {name_list(senders)}, which a lead enters only after it")
        case a.ExpectEmail(negated=False, kind="notified", template=template):
            sources = " or ".join(f"{kind} `{name}`" for kind, name in
                                  (source.split(" ", 1) for source in f.notified_by.get(template, [])))
            return f.notify_needs(template), f"sales is notified with `{template}` by {sources}, which needs it"
        case a.ExpectJourney(state="goal", journey=journey):
            return f.goal_needs(journey), f"the goal of `{journey}` needs it"
        case a.ExpectJourney(state="in" | "exited" | "finished", journey=journey):
            return f.entry_needs(journey), f"a lead enters `{journey}` only after it"
    return frozenset(), ""


def _score_needs(ctx: Context, expect: a.Expect, check: a.ExpectValue | a.ExpectBetween, seen: set[str]) -> None:
    """A score earned by events alone is at its resting value until one of them happens."""
    name = check.name
    score = ctx.sym.scores.get(name)
    if score is None or any(isinstance(i, a.AttributeRule) for i in score.items):
        return
    earners = {str(i.event.event) for i in score.items if isinstance(i, a.EventRule)}
    if not earners or earners & seen:
        return
    floors = [i.value for i in score.items if isinstance(i, a.Floor)]
    rest = max(0, floors[0]) if floors else 0
    if _holds(check, rest):
        return
    example = sorted(earners)[0]
    ctx.report("E410", expect.at.span, when=expect.at, needs=f"any event that scores `{name}`",
               label=f"`{name}` is {rest:g} until then",
               help=f"add an event that scores it before this line, like `at {expect.at}: {example}`")


def _holds(check: a.Check, value: float) -> bool:
    """Whether a score expectation holds at ``value`` (one that is not about a number is left alone)."""
    if isinstance(check, a.ExpectBetween):
        low, high = check.low.value, check.high.value
        return isinstance(low, int | float) and isinstance(high, int | float) and low <= value <= high
    if not isinstance(check, a.ExpectValue) or check.value.kind != "number":
        return True
    wanted = check.value.value
    if not isinstance(wanted, int | float):  # never so: a number literal holds an int or a float
        return True
    return {">=": value >= wanted, "<=": value <= wanted, ">": value > wanted, "<": value < wanted,
            "=": value == wanted, "!=": value != wanted}[check.op]
