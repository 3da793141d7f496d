"""Conditions, wherever they are written: the names they read, the types they test, and parts that never hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import ast as a
from .check_context import Context
from .check_names import known_event, known_stage, lead_field_type, name_list, property_type
from .check_types import check_field_test
from .diagnostics import Label, did_you_mean
from .source import Span
from .values import show_kind, show_sum


@dataclass(frozen=True, slots=True)
class Place:
    """What a condition may refer to where it is written."""

    #: inside the `where` of this event; None: the condition is about the lead
    event: str | None = None
    #: the score whose rule holds the condition: reading it is a cycle, not a use
    score: str | None = None
    journey: str | None = None
    #: every step label of the journey, with the step it names
    steps: Mapping[str, a.Step] = field(default_factory=dict)
    #: labels of steps that may have run by now; None outside the journey's steps
    ran: frozenset[str] | None = None
    #: the step being checked, whose own label is not yet "since"-able
    current: str | None = None
    entering: bool = False


def check_condition(ctx: Context, cond: a.Condition, place: Place) -> None:
    """Names, types and values in a condition, then whether any part of it can never hold."""
    _names(ctx, cond, place)
    _impossible(ctx, cond, place.event)


def check_event_ref(ctx: Context, ref: a.EventRef, place: Place) -> None:
    """An event is known, and its `where` filter reads only the event's properties."""
    if known_event(ctx, ref.event) and ref.where is not None:
        check_condition(ctx, ref.where, dataclasses.replace(place, event=ref.event))


def label_span(step: a.Step) -> Span:
    """Where a step's label is written, or the step itself when its label is derived."""
    return step.label.span if step.label is not None else step.span


# ===== names ===================================================================================


def _names(ctx: Context, cond: a.Condition, place: Place) -> None:
    match cond:
        case a.AllOf(items=items) | a.AnyOf(items=items):
            for item in items:
                _names(ctx, item, place)
        case a.Not(item=item):
            _names(ctx, item, place)
        case a.Happened() | a.StageIs() if place.event is not None:
            ctx.report("E406", cond.span, event=place.event, label="not about the event",
                       help="move it outside the parentheses of the filter, joined with `and`")
        case a.Happened() | a.StageIs() if place.score is not None:
            _not_in_score(ctx, cond, place.score)
        case a.Happened():
            check_event_ref(ctx, cond.event, place)
            if cond.since is not None:
                _since(ctx, cond.since, place)
        case a.StageIs(stage=stage):
            known_stage(ctx, stage)
        case a.SumCompare(total=total) | a.SumBetween(total=total):
            _sum(ctx, cond, total, place)
        case a.Compare() | a.Between() | a.Member() | a.TextTest() | a.Matches() | a.Presence():
            name = cond.name
            if place.event is not None:
                t = property_type(ctx, name, place.event)
            else:
                t = lead_field_type(ctx, cond, name, place.score)
            if t is not None:
                check_field_test(ctx, cond, t)


def _sum(ctx: Context, cond: a.SumCompare | a.SumBetween, total: a.Sum, place: Place) -> None:
    """Only scores add up (E311), in stage and journey conditions; the sum is compared with numbers."""
    if place.score is not None and place.event is None:
        for name in total.names:
            if name in ctx.sym.scores:
                ctx.read_score(name, None)
        ctx.report("E414", total.span, label="a sum of scores",
                   help=f"add the scores up in a stage or journey condition, like `when {show_sum(total)} >= 60`")
        return
    fine = True
    for name in total.names:
        fine = _summed_score(ctx, name, place) and fine
    values = (cond.value,) if isinstance(cond, a.SumCompare) else (cond.low, cond.high)
    for value in values:
        if fine and value.kind != "number":
            found = show_kind(value.kind)
            ctx.report("E301", value.span, name=show_sum(total), expected="a number", found=found,
                       label=f"this is {found}", help=f"compare the sum with a number, like `{show_sum(total)} >= 60`")
            return


def _summed_score(ctx: Context, name: a.Name, place: Place) -> bool:
    """Whether one name in a sum is a score; reports why not."""
    sym = ctx.sym
    if place.event is not None:
        what = f"a property of `{place.event}`" if name in sym.events[place.event] else "not a score"
        ctx.report("E311", name.span, name=name, what=what, label="only scores add up",
                   help="test the property on its own, like `minutes >= 10`")
        return False
    if name in sym.scores and name not in sym.attributes:
        ctx.read_score(name, None)
        return True
    if name in sym.attributes:
        ctx.report("E311", name.span, name=name, what="an attribute", label="only scores add up",
                   help=f"compare it on its own, like `{name} >= 10`, and join the tests with `and`")
    else:
        ctx.report("E103", name.span, name=name, label="no score has this name",
                   help=did_you_mean(name, sym.scores) or f"declare it: `score {name} {{ ... }}`")
    return False


def _not_in_score(ctx: Context, cond: a.Happened | a.StageIs, score: str) -> None:
    """`if` rules are scored from the lead's attributes alone: events and stages are not at hand (E414)."""
    if isinstance(cond, a.Happened):
        ctx.report("E414", cond.span, label="an event condition",
                   help=f"score each event with a `per` rule, like `+10 per {cond.event.event}`, "
                        f"or test it in a stage or journey condition")
    else:
        ctx.report("E414", cond.span, label="the lead's stage",
                   help=f"test the stage in a journey condition instead, or score what moves a lead to `{cond.stage}`")


def _since(ctx: Context, label: a.Name, place: Place) -> None:
    """`since` names a step of this journey that has run by the time the condition is read."""
    if place.journey is None or place.entering:
        where = "outside a journey" if place.journey is None else "before the lead enters the journey"
        ctx.report("E405", label.span, name=label, label=f"no step has run {where}",
                   help="use a time window instead, like `within 7 days`")
    elif label not in place.steps:
        ctx.report("E106", label.span, name=label, journey=place.journey, label="no step has this label",
                   help=did_you_mean(label, place.steps) or _known_labels(place))
    elif place.ran is not None and label not in place.ran:
        target = label_span(place.steps[label])
        ctx.report("E403", label.span, name=label, label=_not_run_why(label, place),
                   notes=[Label(target, f"`{label}` is here")] if target.line != label.span.line else [],
                   help="refer to a step that runs before this one")


def _not_run_why(label: str, place: Place) -> str:
    if label == place.current:
        return "this is the step being run"
    step = place.steps[label]
    here = place.steps.get(place.current or "")
    if here is not None and (step.span.line, step.span.column) > (here.span.line, here.span.column):
        return f"`{label}` runs later"
    return f"`{label}` is on another branch"


def _known_labels(place: Place) -> str:
    labels = list(place.steps)
    if not labels:
        return "the journey has no steps yet"
    shown = labels[:8] + (["..."] if len(labels) > 8 else [])
    return f"steps in `{place.journey}` are labelled " + name_list(shown)


# ===== parts that can never hold ===============================================================


def _impossible(ctx: Context, cond: a.Condition, scope: str | None) -> None:
    """Report the most specific parts of a condition that can never hold (E402)."""
    if isinstance(cond, a.Happened):
        return  # its filter was checked where it was written
    # Either side of an `or` may hold alone, and an `and` with an impossible part is that part's fault:
    # report the parts, not the whole.
    blame_parts = isinstance(cond, a.AnyOf) or (
        isinstance(cond, a.AllOf) and any(ctx.logic.never(item, scope) for item in cond.items))
    if not blame_parts and (reason := ctx.logic.why_never(cond, scope)) is not None:
        ctx.report("E402", cond.span, label=reason.text, help=reason.help)
        return
    match cond:
        case a.AllOf(items=items) | a.AnyOf(items=items):
            for item in items:
                _impossible(ctx, item, scope)
        case a.Not(item=item):
            _impossible(ctx, item, scope)
