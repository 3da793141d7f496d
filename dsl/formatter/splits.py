"""The canonical layout of split steps (A/B experiments): a block of arms, the goal and the winner rule.

An arm of one unlabelled simple step prints on one line (`50% plain: send "welcome_a"`); any other arm is a
block. Both forms parse to the same tree, so the choice never changes meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import ast as a
from .expressions import number, quote, text_of

if TYPE_CHECKING:
    from .layout import Pos, Writer

#: prints one step (layout's `emit`)
EmitStep = Callable[[a.Step, "Writer", int], None]


def emit_split(node: a.Split, out: Writer, depth: int, label: str, at: Pos, emit: EmitStep) -> None:
    out.add(depth, f"{label}split {quote(node.name)} {{", at, opens=True)
    for item in node.items:
        if isinstance(item, a.Arm):
            _arm(item, out, depth + 1, emit)
        else:
            out.add(depth + 1, text_of(item), (item.span.line, item.span.column))
    out.add(depth, "}", (node.span.end_line, node.span.end_column - 1), closes=True)


def _one_line(arm: a.Arm) -> bool:
    if len(arm.steps) != 1:
        return False
    step = arm.steps[0]
    return step.label is None and not isinstance(step.action, a.Branch | a.Split)


def _arm(arm: a.Arm, out: Writer, depth: int, emit: EmitStep) -> None:
    head = f"{arm.weight}% {arm.name}"
    at = (arm.span.line, arm.span.column)
    if _one_line(arm):
        out.add(depth, f"{head}: {text_of(arm.steps[0].action)}", at)
        return
    out.add(depth, f"{head} {{", at, opens=True)
    for step in arm.steps:
        emit(step, out, depth + 1)
    out.add(depth, "}", (arm.span.end_line, arm.span.end_column - 1), closes=True)


@text_of.register
def _split(node: a.Split) -> str:
    """A split's one-line summary (diagrams, hover); files print it as a block."""
    arms = ", ".join(f"{arm.weight}% {arm.name}" for arm in node.arms)
    return f"split {quote(node.name)} ({arms})"


@text_of.register
def _split_goal(node: a.SplitGoal) -> str:
    what = "click" if node.event is None else text_of(node.event)
    return f"goal {what} within {text_of(node.within)}"


@text_of.register
def _pick_winner(node: a.PickWinner) -> str:
    if node.on is not None:
        return f"pick winner on {text_of(node.on)}"
    confidence = node.confidence or 0.0
    shown = number(int(confidence)) if confidence == int(confidence) else number(confidence)
    return f"pick winner at {shown}% confidence"


@text_of.register
def _expect_arm(node: a.ExpectArm) -> str:
    return f"arm {node.split} is {node.arm}"
