"""Split steps (A/B experiments): the arms share out every lead, each has its own name, the split has one
goal and at most one rule for picking a winner, and every name it uses is known.

The steps inside the arms are checked as any journey steps by `check_journeys`, which calls in here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from . import ast as a
from .check_conditions import Place, check_event_ref
from .check_context import Context
from .check_names import declare, name_list
from .diagnostics import Label, did_you_mean
from .source import Span

#: what the steps of an arm are checked with: (steps, labels that may have run) -> labels that may have run after
CheckSteps = Callable[[tuple[a.Step, ...], frozenset[str]], frozenset[str]]

#: split names are used bare in scenarios (`arm welcome_subject is plain`) and on the command line
SPLIT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: the confidence a `pick winner at N% confidence` may ask for, in percent
MIN_CONFIDENCE, MAX_CONFIDENCE = 50.0, 99.9


def check_split(ctx: Context, split: a.Split, place: Place, check_steps: CheckSteps) -> frozenset[str]:
    """Check one split step; returns the labels that may have run once it is done (any arm's)."""
    _name(ctx, split)
    _arms(ctx, split)
    _goal(ctx, split, place)
    _picks(ctx, split)
    inside = (place.ran or frozenset()) | {place.current or ""}
    ran = frozenset(inside)
    for arm in split.arms:
        ran |= check_steps(arm.steps, inside)
    return ran


def _name(ctx: Context, split: a.Split) -> None:
    name = split.name
    if not SPLIT_NAME.fullmatch(name):
        ctx.report("E304", name.span, what="split name", reason=f"{a.Name(name)!r} is not a name",
                   label="letters, digits and underscores only",
                   help='name it like a label, as scenarios and reports refer to it: `split "welcome_subject"`')
        return
    declare(ctx, "split", name, name.span, ("split",))


def _weight_span(arm: a.Arm) -> Span:
    start = arm.span
    return Span(start.path, start.line, start.column, start.line, start.column + len(str(arm.weight)) + 1)


def _arms(ctx: Context, split: a.Split) -> None:
    arms = split.arms
    if len(arms) < 2:
        ctx.report("E431", split.name.span, name=split.name, count=len(arms), s="" if len(arms) == 1 else "s",
                   label="nothing to compare", help='give it two arms or more, like `50% plain: send "welcome_a"`')
    seen: dict[str, a.Arm] = {}
    for arm in arms:
        if arm.name in seen:
            ctx.report("E201", arm.name.span, what="arm", name=arm.name, label="defined again here",
                       notes=[Label(seen[arm.name].name.span, "first defined here")],
                       help="give each arm of the split its own name")
        else:
            seen[arm.name] = arm
        if arm.weight == 0:
            ctx.report("E304", _weight_span(arm), what="arm weight", reason="0% sends no lead down this arm",
                       label="no leads", help="give the arm at least 1%, or remove it")
    total = sum(arm.weight for arm in arms)
    if arms and total != 100:
        listed = " + ".join(f"{arm.weight}%" for arm in arms)
        ctx.report("E430", split.name.span, name=split.name, total=total,
                   label=f"{listed} = {total}%",
                   notes=[Label(_weight_span(arm), f"arm `{arm.name}`") for arm in arms],
                   help=f"change the weights so that they add up to 100% ({100 - total:+d}%)")


def _goal(ctx: Context, split: a.Split, place: Place) -> None:
    goals = split.goals
    if not goals:
        ctx.report("E432", split.name.span, name=split.name, label="no goal to measure the arms by",
                   help="add one, like `goal click within 7 days` or `goal demo.requested within 14 days`")
        return
    for extra in goals[1:]:
        ctx.report("E433", extra.span, name=split.name, what="goal", label="a second goal",
                   notes=[Label(goals[0].span, "first goal")], help="keep one goal per split")
    for goal in goals:
        if goal.event is not None:
            check_event_ref(ctx, goal.event, place)
        elif not any(True for _ in sends(split)):
            ctx.report("E434", goal.span, name=split.name, label="no arm sends an email to click",
                       help='send an email in the arms, or measure an event: `goal demo.requested within 14 days`')


def _picks(ctx: Context, split: a.Split) -> None:
    picks = split.picks
    for extra in picks[1:]:
        ctx.report("E433", extra.span, name=split.name, what="`pick winner` rule", label="a second rule",
                   notes=[Label(picks[0].span, "first rule")], help="keep one way of picking the winner")
    for pick in picks:
        if pick.confidence is not None and not MIN_CONFIDENCE <= pick.confidence <= MAX_CONFIDENCE:
            ctx.report("E304", pick.span, what="confidence",
                       reason=f"{pick.confidence:g}% is outside {MIN_CONFIDENCE:g}% to {MAX_CONFIDENCE:g}%",
                       label="out of range", help="ask for a confidence like `95%`")


def sends(split: a.Split) -> Iterator[a.Name]:
    """The templates the arms of a split email to the lead, nested steps included."""
    todo = [step for arm in split.arms for step in arm.steps]
    while todo:
        step = todo.pop(0)
        if isinstance(step.action, a.Send):
            yield step.action.template
        todo[:0] = a.inner_steps(step.action)


def all_splits(journeys: Iterable[a.Journey]) -> dict[str, a.Split]:
    """Every split step of the campaign by name (the first of a name)."""
    found: dict[str, a.Split] = {}
    todo = [step for journey in journeys for step in journey.steps]
    while todo:
        step = todo.pop(0)
        if isinstance(step.action, a.Split):
            found.setdefault(str(step.action.name), step.action)
        todo[:0] = a.inner_steps(step.action)
    return found


def check_arm_expectation(ctx: Context, check: a.ExpectArm) -> None:
    """`arm SPLIT is ARM` in a scenario names a split of the campaign and one of its arms."""
    splits = all_splits(ctx.sym.journeys.values())
    split = splits.get(check.split)
    if split is None:
        ctx.report("E435", check.split.span, name=check.split, label="no split step has this name",
                   help=did_you_mean(check.split, list(splits))
                   or (f"the splits are {name_list(splits)}" if splits else "the campaign has no split steps"))
        return
    arms = [str(arm.name) for arm in split.arms]
    if check.arm not in arms:
        ctx.report("E436", check.arm.span, split=check.split, name=check.arm, label="not an arm of this split",
                   help=did_you_mean(check.arm, arms) or f"its arms are {name_list(arms)}")
