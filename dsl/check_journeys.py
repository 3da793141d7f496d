"""Journeys: step labels, what has run before each step, steps that can never run, and ways in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from . import ast as a
from .check_conditions import Place, check_condition, check_event_ref, label_span
from .check_context import Context
from .check_names import declare, known_stage, settable_attribute
from .check_splits import check_split
from .check_types import check_given, check_recipient
from .diagnostics import Label
from .symbols import step_labels


@dataclass
class Walk:
    """One journey's labels, threaded through its steps."""

    journey: a.Journey
    #: the label of every step, by ``id`` of the step
    labels: dict[int, str]
    #: every label, with the step it names
    steps: dict[str, a.Step]

    def place(self, ran: frozenset[str] | None = None, current: str | None = None, entering: bool = False) -> Place:
        """Where a condition of this journey is written; see `Place`."""
        return Place(journey=self.journey.name, steps=self.steps, ran=ran, current=current, entering=entering)


def check_journey(ctx: Context, journey: a.Journey) -> None:
    declare(ctx, "journey", journey.name, journey.name.span, ("journey",))
    labels = step_labels(journey.steps)
    walk = Walk(journey, labels, _label_steps(ctx, journey, labels))
    for item in journey.items:
        match item:
            case a.Entry(trigger=trigger):
                _trigger(ctx, trigger, walk.place(entering=True))
            case a.ExitRule(trigger=trigger) | a.Goal(trigger=trigger):
                _trigger(ctx, trigger, walk.place())
            case a.Reentry():
                declare(ctx, "setting", "reentry", item.span, ("journey setting", journey.name))
    _steps(ctx, walk, journey.steps, frozenset())
    _warnings(ctx, journey)


def _label_steps(ctx: Context, journey: a.Journey, labels: dict[int, str]) -> dict[str, a.Step]:
    """Each label with the step it names; a label used twice is reported here (E202)."""
    steps: dict[str, a.Step] = {}
    for step in _all_steps(journey.steps):
        label = labels[id(step)]
        if label not in steps:
            steps[label] = step
            continue
        first = steps[label]
        explicit = first.label is not None and step.label is not None
        ctx.report("E202", label_span(step), name=label, journey=journey.name,
                   label="used again here" if step.label is not None else "this step's derived label",
                   notes=[Label(label_span(first), "first used here" if first.label is not None
                                else f"labelled `{label}` from what it does")],
                   help="give each step its own label" if explicit else
                   "unlabelled steps get labels from what they do; pick a label that differs")
    return steps


def _all_steps(steps: Iterable[a.Step]) -> Iterator[a.Step]:
    """Steps in document order, nested ones included."""
    for step in steps:
        yield step
        yield from _all_steps(a.inner_steps(step.action))  # a branch's sides, a split's arms


def _trigger(ctx: Context, trigger: a.Trigger, place: Place) -> None:
    if isinstance(trigger, a.StageBecomes):
        known_stage(ctx, trigger.stage)
    else:
        check_condition(ctx, trigger, place)


# ===== steps, in the order they run ============================================================


def _steps(ctx: Context, walk: Walk, steps: Sequence[a.Step], ran: frozenset[str]) -> frozenset[str]:
    """Check steps in order; returns the labels that may have run after them."""
    for step in steps:
        label = walk.labels[id(step)]
        ran = _action(ctx, walk, step.action, walk.place(ran=ran, current=label)) | {label}
    return ran


def _action(ctx: Context, walk: Walk, action: a.Action, place: Place) -> frozenset[str]:
    match action:
        case a.Send(template=template):
            ctx.sends.append(template)
            ctx.marketing.setdefault(template, template)
        case a.NotifyAction(recipient=recipient, template=template):
            ctx.sends.append(template)
            check_recipient(ctx, recipient)
        case a.WaitEvent(event=event, timeout=timeout):
            check_event_ref(ctx, event, place)
            if timeout is None:
                ctx.report("W101", event.event.span, event=event.event, label="no timeout",
                           help=f"wait a limited time: `wait up to 7 days for {event.event}`")
        case a.SetAttribute(name=name, value=value):
            if (t := settable_attribute(ctx, name)) is not None:
                check_given(ctx, name, t, value, "set")
        case a.Branch():
            return _branch(ctx, walk, action, place)
        case a.Split():  # an A/B experiment: check_splits.py
            return check_split(ctx, action, place, lambda steps, ran: _steps(ctx, walk, steps, ran))
    return place.ran or frozenset()


def _branch(ctx: Context, walk: Walk, branch: a.Branch, place: Place) -> frozenset[str]:
    cond = branch.condition
    check_condition(ctx, cond, place)
    _unreachable(ctx, branch.then, cond, "can never hold", ctx.logic.never(cond, None))
    _unreachable(ctx, branch.otherwise, cond, "always holds", ctx.logic.always(cond, None))
    inside = (place.ran or frozenset()) | {place.current or ""}
    return _steps(ctx, walk, branch.then, inside) | _steps(ctx, walk, branch.otherwise, inside)


def _unreachable(ctx: Context, steps: tuple[a.Step, ...], cond: a.Condition, why: str, dead: bool) -> None:
    if dead and steps:
        same_line = cond.span.line == steps[0].span.line
        ctx.report("E401", steps[0].span, label=f"the condition {why}" if same_line else "never runs",
                   notes=[] if same_line else [Label(cond.span, f"this condition {why}")],
                   help="fix the condition, or remove the steps that cannot run")


# ===== ways in =================================================================================


def _warnings(ctx: Context, journey: a.Journey) -> None:
    """A journey with nothing to do, or that no lead can enter (warnings: it still runs)."""
    if not journey.steps:
        ctx.report("W104", journey.name.span, name=journey.name, label="nothing to do",
                   help='add steps, like `send "welcome"`')
    entries = [i for i in journey.items if isinstance(i, a.Entry)]
    if not entries:
        ctx.report("W102", journey.name.span, name=journey.name, label="it has no `enter when`",
                   help="add an entry rule, like `enter when stage becomes mql`")
    elif all(_dead_entry(ctx, e.trigger) for e in entries):
        ctx.report("W102", journey.name.span, name=journey.name, label="no lead can meet its `enter when`",
                   notes=[Label(e.span, "never happens") for e in entries],
                   help="enter on a stage leads can reach, or a condition that can hold")


def _dead_entry(ctx: Context, trigger: a.Trigger) -> bool:
    if isinstance(trigger, a.StageBecomes):
        return trigger.stage in ctx.sym.stages and trigger.stage not in ctx.reachable
    return ctx.logic.never(trigger, None)
